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
    def first_delivery(self, channel: str, external_id: str, ttl: int = SEEN_TTL) -> bool:
        """True the first time a provider id is seen; False for every repeat within 30 days
        (or `ttl` seconds, for a mark that keep_delivery() makes lasting once handled)."""
        key = SEEN.format(channel=channel, id=self.vault.digest(external_id))
        return bool(self.redis.set(key, "1", nx=True, ex=ttl))

    def keep_delivery(self, channel: str, external_id: str) -> None:
        """Make a first_delivery() mark last the full dedupe window."""
        self.redis.expire(SEEN.format(channel=channel, id=self.vault.digest(external_id)), SEEN_TTL)

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
    # A hop costs three round trips at most: open (lock + read), first-hop lookups, close (write
    # + unlock). The aggregator wants an answer well under a second, on a 2-core box.
    def ussd_open(self, session: str, wait: float = 1.0) -> tuple[dict | None, str, dict | None]:
        """Take the session's lock and read it: (saved state, digest of the last text, reply).

        Raises TimeoutError when a duplicate delivery keeps the lock for `wait` seconds (short:
        the whole hop must be answered within an aggregator's few seconds).
        """
        lock, key = USSD_LOCK.format(session=session), USSD_SESSION.format(session=session)
        deadline = time.monotonic() + wait
        while True:
            with self.redis.pipeline(transaction=False) as pipe:
                pipe.set(lock, "1", nx=True, px=5000)
                pipe.hgetall(key)
                locked, raw = pipe.execute()
            if locked:
                break
            if time.monotonic() > deadline:
                raise TimeoutError("USSD session stayed locked")
            time.sleep(0.01)
        if not raw:
            return None, "", None
        state = json.loads(self.vault.decrypt(raw[b"enc:state"]))
        reply = json.loads(self.vault.decrypt(raw[b"enc:reply"]))
        return state, raw.get(b"last", b"").decode(), reply

    def ussd_unlock(self, session: str) -> None:
        """Release the per-session lock (after a failure; ussd_close releases it otherwise)."""
        self.redis.delete(USSD_LOCK.format(session=session))

    def ussd_first(self, phone: str) -> tuple[str | None, dict | None]:
        """Her remembered language and the state of a session she dropped, in one round trip."""
        with self.redis.pipeline(transaction=False) as pipe:
            pipe.hget(self._phone_key(phone), "lang")
            pipe.get(RESUME.format(digest=self.vault.digest(phone)))
            lang, token = pipe.execute()
        return (
            lang.decode() if lang else None,
            json.loads(self.vault.decrypt(token)) if token else None,
        )

    def ussd_close(
        self,
        session: str,
        phone: str,
        record: tuple[dict, str, dict],
        ttl: int,
        resume: dict | None,
        lang: str | None = None,
    ) -> None:
        """Save the session (state, text digest, reply; encrypted), her resume point, a newly
        chosen language, and release the lock, in one transaction."""
        state, last, reply = record
        key = USSD_SESSION.format(session=session)
        resume_key = RESUME.format(digest=self.vault.digest(phone))
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
            if resume is None:
                pipe.delete(resume_key)
            else:
                pipe.set(resume_key, self.vault.encrypt(json.dumps(resume)), ex=RESUME_TTL)
            if lang:
                profile = {ENCRYPTED_FIELD + "phone": self.vault.encrypt(phone), "lang": lang}
                pipe.hset(self._phone_key(phone), mapping=profile)
            pipe.delete(USSD_LOCK.format(session=session))
            pipe.execute()

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
