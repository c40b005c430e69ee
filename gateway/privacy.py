"""Encryption at rest of survivors' data and keyed hashes for looking it up.

DATA_KEY holds one or more Fernet keys, newest first. The newest encrypts; every key decrypts,
so a new key can be put in front and `flask keys rotate` re-encrypts stored records at leisure.
Lookup hashes are HMAC-SHA256 under a key derived from each Fernet key (never the Fernet key
itself), so rotation also re-keys lookups and an old hash key stops being useful.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import sys
from base64 import urlsafe_b64decode
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

_HASH_INFO = b"hamdam lookup hash v1"


class PrivacyError(ValueError):
    """A token could not be decrypted with any configured key."""


class Vault:
    """Encrypts, decrypts and hashes personal data with the configured keys."""

    def __init__(self, keys: tuple[str, ...] | list[str]):
        if not keys:
            raise ValueError("at least one key is needed")
        self._newest = Fernet(keys[0])
        self._fernet = MultiFernet([self._newest, *(Fernet(k) for k in keys[1:])])
        self._hash_keys = [_derive(k) for k in keys]

    def encrypt(self, value: str) -> str:
        """The value encrypted and authenticated with the newest key, as ASCII text."""
        return self._fernet.encrypt(value.encode("utf-8")).decode("ascii")

    def encrypt_json(self, value: object) -> str:
        """A JSON value encrypted: compact, and non-ASCII text as UTF-8 rather than \\u escapes
        (a screen in Tajik or Russian is a third of the size)."""
        return self.encrypt(json.dumps(value, ensure_ascii=False, separators=(",", ":")))

    def decrypt_json(self, token: str | bytes) -> Any:
        """The JSON value of a token made by encrypt_json() (or encrypt(json.dumps(...)))."""
        return json.loads(self.decrypt(token))

    def decrypt(self, token: str | bytes) -> str:
        """The plain value of a token made by encrypt() under any configured key."""
        return self._open(self._fernet.decrypt, token).decode("utf-8")

    def digest(self, value: str) -> str:
        """The lookup hash of a value under the newest key (hex, 32 characters)."""
        return _hmac(self._hash_keys[0], value)

    def digests(self, value: str) -> list[str]:
        """The lookup hashes of a value under every key, newest first (reads during rotation)."""
        return [_hmac(key, value) for key in self._hash_keys]

    def rotate(self, token: str | bytes) -> str:
        """The same value re-encrypted under the newest key."""
        return self._open(self._fernet.rotate, token).decode("ascii")

    def is_current(self, token: str | bytes) -> bool:
        """True when the token is already encrypted under the newest key."""
        try:
            self._open(self._newest.decrypt, token)
        except PrivacyError:
            return False
        return True

    @staticmethod
    def _open(operation, token: str | bytes) -> bytes:
        raw = token.encode("ascii") if isinstance(token, str) else token
        try:
            return operation(raw)
        except InvalidToken:
            raise PrivacyError("token does not decrypt with any configured DATA_KEY") from None


def _derive(key: str) -> bytes:
    return hmac.new(urlsafe_b64decode(key.encode()), _HASH_INFO, hashlib.sha256).digest()


def _hmac(key: bytes, value: str) -> str:
    # 128 bits is plenty for lookups and keeps Redis keys short.
    return hmac.new(key, value.encode("utf-8"), hashlib.sha256).hexdigest()[:32]


def new_key() -> str:
    """A fresh random key suitable for DATA_KEY."""
    return Fernet.generate_key().decode("ascii")


def main(argv: list[str] | None = None) -> int:
    """Command line: print a new key for DATA_KEY."""
    parser = argparse.ArgumentParser(
        prog="python -m gateway.privacy",
        description="Key helper. To rotate: put a new key first in DATA_KEY (comma-separated, "
        "newest first), restart, run `flask keys rotate`, then drop the old key.",
    )
    parser.add_argument("--new-key", action="store_true", help="print a new random DATA_KEY")
    args = parser.parse_args(argv)
    if not args.new_key:
        parser.print_help()
        return 2
    sys.stdout.write(new_key() + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
