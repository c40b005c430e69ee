"""Encryption at rest of survivors' data and keyed hashes for looking it up.

DATA_KEY holds one or more Fernet keys, newest first. The newest encrypts; every key decrypts,
so a new key can be put in front and `flask keys rotate` re-encrypts stored records at leisure.
Lookup hashes are HMAC-SHA256 under a key derived from each Fernet key (never the Fernet key
itself), so rotation also re-keys lookups and an old hash key stops being useful.

Two token formats, both read by decrypt() and rotated by rotate():
- Fernet (encrypt, encrypt_json): ASCII text, for values that also live outside Redis (the
  spool file, job data) or in fields read by older versions;
- sealed (seal_json): AES-256-GCM as raw bytes, under a key derived from each Fernet key, for
  the state of a USSD hop, written on every hop and kept for every live session: a third
  smaller than Fernet's base64 and a quarter of its CPU.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import os
import sys
from base64 import urlsafe_b64decode
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

_HASH_INFO = b"hamdam lookup hash v1"
_SEAL_INFO = b"hamdam sealed state v1"
# A sealed token: this byte (never the first byte of a Fernet token, which is base64 text), a
# random 96-bit nonce, then the ciphertext and its 128-bit tag.
_SEALED = b"\xa1"
_NONCE = 12


class PrivacyError(ValueError):
    """A token could not be decrypted with any configured key."""


class Vault:
    """Encrypts, decrypts and hashes personal data with the configured keys."""

    def __init__(self, keys: tuple[str, ...] | list[str]):
        if not keys:
            raise ValueError("at least one key is needed")
        self._newest = Fernet(keys[0])
        self._fernet = MultiFernet([self._newest, *(Fernet(k) for k in keys[1:])])
        self._hash_keys = [_derive(k, _HASH_INFO) for k in keys]
        self._seal_keys = [AESGCM(_derive(k, _SEAL_INFO)) for k in keys]

    def encrypt(self, value: str) -> str:
        """The value encrypted and authenticated with the newest key, as ASCII text."""
        return self._fernet.encrypt(value.encode("utf-8")).decode("ascii")

    def encrypt_json(self, value: object) -> str:
        """A JSON value encrypted: compact, and non-ASCII text as UTF-8 rather than \\u escapes
        (a screen in Tajik or Russian is a third of the size)."""
        return self.encrypt(json.dumps(value, ensure_ascii=False, separators=(",", ":")))

    def seal_json(self, value: object) -> bytes:
        """A JSON value sealed with the newest key, as compact bytes (see the module's notes)."""
        return self._seal(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode())

    def decrypt_json(self, token: str | bytes) -> Any:
        """The JSON value of a token made by encrypt_json() or seal_json()."""
        return json.loads(self.decrypt(token))

    def decrypt(self, token: str | bytes) -> str:
        """The plain value of a token (either format) under any configured key."""
        if _sealed(token):
            return self._unseal(token, self._seal_keys).decode("utf-8")
        return self._open(self._fernet.decrypt, token).decode("utf-8")

    def digest(self, value: str) -> str:
        """The lookup hash of a value under the newest key (hex, 32 characters)."""
        return _hmac(self._hash_keys[0], value)

    def digests(self, value: str) -> list[str]:
        """The lookup hashes of a value under every key, newest first (reads during rotation)."""
        return [_hmac(key, value) for key in self._hash_keys]

    def rotate(self, token: str | bytes) -> str | bytes:
        """The same value re-encrypted under the newest key, in the token's own format."""
        if _sealed(token):
            return self._seal(self._unseal(token, self._seal_keys))
        return self._open(self._fernet.rotate, token).decode("ascii")

    def is_current(self, token: str | bytes) -> bool:
        """True when the token is already encrypted under the newest key."""
        try:
            if _sealed(token):
                self._unseal(token, self._seal_keys[:1])
            else:
                self._open(self._newest.decrypt, token)
        except PrivacyError:
            return False
        return True

    def _seal(self, plain: bytes) -> bytes:
        nonce = os.urandom(_NONCE)
        return _SEALED + nonce + self._seal_keys[0].encrypt(nonce, plain, None)

    @staticmethod
    def _unseal(token: bytes, keys: list[AESGCM]) -> bytes:
        nonce, sealed = token[1 : 1 + _NONCE], token[1 + _NONCE :]
        for key in keys:
            try:
                return key.decrypt(nonce, sealed, None)
            except (InvalidTag, ValueError):
                continue
        raise PrivacyError("token does not decrypt with any configured DATA_KEY")

    @staticmethod
    def _open(operation, token: str | bytes) -> bytes:
        raw = token.encode("ascii") if isinstance(token, str) else token
        try:
            return operation(raw)
        except InvalidToken:
            raise PrivacyError("token does not decrypt with any configured DATA_KEY") from None


def _sealed(token: str | bytes) -> bool:
    return isinstance(token, bytes) and token[:1] == _SEALED


def _derive(key: str, info: bytes) -> bytes:
    return hmac.new(urlsafe_b64decode(key.encode()), info, hashlib.sha256).digest()


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
