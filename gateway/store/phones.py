"""Phone profiles, inbound dedupe and rate limits, USSD sessions, key rotation."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from gateway.store.keys import (
    ENCRYPTED_FIELD,
    PHONE,
    PREFIX,
    RATE,
    RESUME,
    RESUME_TTL,
    SEEN,
    SEEN_TTL,
    USSD_LOCK,
    USSD_SESSION,
)


@dataclass(frozen=True)
class RotationReport:
    """What a key rotation changed."""

    records: int
    fields: int
    rekeyed: int


class PhoneStore:
    """Phone profiles, inbound dedupe and rate limits, USSD sessions, key rotation."""

    redis: Any
    vault: Any

    # ---- phone profiles ---------------------------------------------------------------------
    def _phone_key(self, phone: str) -> str:
        # During a rotation the profile may still sit under an older key's hash.
        keys = [PHONE.format(digest=d) for d in self.vault.digests(phone)]
        for key in keys[1:]:
            if self.redis.exists(key):
                return key
        return keys[0]

    def phone_profile(self, phone: str) -> dict[str, str]:
        """The stored profile fields of a phone (no encrypted fields), empty when unknown."""
        raw = self.redis.hgetall(self._phone_key(phone))
        return {
            k.decode(): v.decode()
            for k, v in raw.items()
            if not k.decode().startswith(ENCRYPTED_FIELD)
        }

    def update_phone_profile(self, phone: str, **fields: str) -> None:
        """Set profile fields of a phone, keeping its number encrypted beside them."""
        key = self._phone_key(phone)
        mapping = {ENCRYPTED_FIELD + "phone": self.vault.encrypt(phone), **fields}
        self.redis.hset(key, mapping=mapping)

    def phone_digest(self, phone: str) -> str:
        """The keyed hash a phone is known by (never the number)."""
        return self.vault.digest(phone)

    # ---- inbound dedupe and rate limits ------------------------------------------------------
    def first_delivery(self, channel: str, external_id: str) -> bool:
        """True the first time a provider id is seen; False for every repeat within 7 days."""
        key = SEEN.format(channel=channel, id=self.vault.digest(external_id))
        return bool(self.redis.set(key, "1", nx=True, ex=SEEN_TTL))

    def forget_delivery(self, channel: str, external_id: str) -> None:
        """Undo first_delivery() when handling failed, so a provider retry is not dropped."""
        self.redis.delete(SEEN.format(channel=channel, id=self.vault.digest(external_id)))

    def within_rate(self, what: str, phone: str, limit: int, window: int = 3600) -> bool:
        """Count one event for the phone; True while at most `limit` happened in this window."""
        key = RATE.format(
            what=what, digest=self.vault.digest(phone), window=int(time.time() // window)
        )
        with self.redis.pipeline(transaction=True) as pipe:
            pipe.incr(key)
            pipe.expire(key, window)
            count, _ = pipe.execute()
        return count <= limit

    # ---- USSD sessions -----------------------------------------------------------------------
    def ussd_lock(self, session: str, wait: float = 2.0) -> bool:
        """Take the per-session lock (waiting up to `wait` s); False if it stayed busy."""
        key = USSD_LOCK.format(session=session)
        deadline = time.monotonic() + wait
        while not self.redis.set(key, "1", nx=True, px=5000):
            if time.monotonic() > deadline:
                return False
            time.sleep(0.01)
        return True

    def ussd_unlock(self, session: str) -> None:
        """Release the per-session lock."""
        self.redis.delete(USSD_LOCK.format(session=session))

    def ussd_session(self, session: str) -> tuple[dict | None, str, dict | None]:
        """The saved menu state, the digest of the last text handled, and the reply given to it."""
        raw = self.redis.hgetall(USSD_SESSION.format(session=session))
        if not raw:
            return None, "", None
        state = json.loads(self.vault.decrypt(raw[b"enc:state"]))
        reply = json.loads(self.vault.decrypt(raw[b"enc:reply"]))
        return state, raw.get(b"last", b"").decode(), reply

    def save_ussd_session(
        self, session: str, state: dict, last: str, reply: dict, ttl: int
    ) -> None:
        """Keep the menu state and the reply for this text (both encrypted) for `ttl` seconds."""
        key = USSD_SESSION.format(session=session)
        with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(
                key,
                mapping={
                    "enc:state": self.vault.encrypt(json.dumps(state)),
                    "enc:reply": self.vault.encrypt(json.dumps(reply)),
                    "last": last,
                },
            )
            pipe.expire(key, ttl)
            pipe.execute()

    def resumable(self, phone: str) -> dict | None:
        """The menu state of her dropped session, if she dials again within RESUME_TTL."""
        token = self.redis.get(RESUME.format(digest=self.vault.digest(phone)))
        return json.loads(self.vault.decrypt(token)) if token else None

    def keep_resumable(self, phone: str, state: dict | None) -> None:
        """Remember (or with None, forget) where her session stood, for a few minutes."""
        key = RESUME.format(digest=self.vault.digest(phone))
        if state is None:
            self.redis.delete(key)
        else:
            self.redis.set(key, self.vault.encrypt(json.dumps(state)), ex=RESUME_TTL)

    # ---- key rotation -----------------------------------------------------------------------
    def rotate_keys(self) -> RotationReport:
        """Re-encrypt every `enc:*` field under the newest key and re-key phone profiles."""
        records = fields = rekeyed = 0
        for key in self.redis.scan_iter(match=PREFIX + "*", count=500):
            if self.redis.type(key) != b"hash":
                continue
            changes = {}
            for name, token in self.redis.hgetall(key).items():
                if name.decode().startswith(ENCRYPTED_FIELD) and not self.vault.is_current(token):
                    changes[name] = self.vault.rotate(token)
            if changes:
                self.redis.hset(key, mapping=changes)
                records += 1
                fields += len(changes)
            rekeyed += self._rekey_phone(key.decode())
        return RotationReport(records=records, fields=fields, rekeyed=rekeyed)

    def _rekey_phone(self, key: str) -> int:
        if not key.startswith(PHONE.format(digest="")):
            return 0
        token = self.redis.hget(key, ENCRYPTED_FIELD + "phone")
        if token is None:
            return 0
        target = PHONE.format(digest=self.vault.digest(self.vault.decrypt(token)))
        if target == key:
            return 0
        # Merge rather than RENAME: a newer profile may already exist under the new hash.
        with self.redis.pipeline(transaction=True) as pipe:
            for name, value in self.redis.hgetall(key).items():
                pipe.hsetnx(target, name, value)
            pipe.delete(key)
            pipe.execute()
        return 1
