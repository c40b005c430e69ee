"""The simulator's phones: transcripts of synthetic numbers only, and its reset."""

from __future__ import annotations

import time

import redis

from gateway.phone import synthetic
from gateway.privacy import PrivacyError, Vault
from gateway.store.keys import (
    OUTBOX,
    RESUME,
    SIM_SESSION,
    SIM_TRANSCRIPT,
    SIM_TRANSCRIPT_MAX,
    SIM_TRANSCRIPT_TTL,
    USSD_LOCK,
    USSD_SESSION,
)


class Simulator:
    """The simulator's phones: transcripts of synthetic numbers only, and its reset."""

    def __init__(self, client: redis.Redis, vault: Vault):
        self.redis = client
        self.vault = vault

    def _transcript_key(self, phone: str) -> str:
        return SIM_TRANSCRIPT.format(digest=self.vault.digest(phone))

    def record(self, phone: str, **entry: str | int) -> bool:
        """Add what a synthetic phone typed or sent (and what it got back) to its transcript;
        a number outside the synthetic range is never recorded (False)."""
        if not synthetic(phone):
            return False
        key = self._transcript_key(phone)
        token = self.vault.encrypt_json({**entry, "at": round(time.time(), 3)})
        with self.redis.pipeline(transaction=True) as pipe:
            pipe.lpush(key, token)
            pipe.ltrim(key, 0, SIM_TRANSCRIPT_MAX - 1)
            pipe.expire(key, SIM_TRANSCRIPT_TTL)
            pipe.execute()
        return True

    def transcript(self, phone: str) -> list[dict]:
        """A synthetic phone's transcript, newest first ([] for any other number)."""
        if not synthetic(phone):
            return []
        entries = []
        for token in self.redis.lrange(self._transcript_key(phone), 0, -1):
            try:
                entries.append(self.vault.decrypt_json(token))
            except PrivacyError:  # written under a key since removed: gone with it
                continue
        return entries

    def _delete_matching(self, pattern: str) -> list[str]:
        keys = [k.decode() for k in self.redis.scan_iter(match=pattern, count=500)]
        if keys:
            self.redis.delete(*keys)
        return keys

    def reset(self) -> dict[str, int]:
        """Empty the console outbox and forget the simulator's USSD sessions, the resume points
        and transcripts of the phones it played; the counts of what went."""
        with self.redis.pipeline(transaction=True) as pipe:
            pipe.llen(OUTBOX)
            pipe.delete(OUTBOX)
            outbox, _ = pipe.execute()
        session = SIM_SESSION.format(session="*")
        sessions = self._delete_matching(USSD_SESSION.format(session=session))
        self._delete_matching(USSD_LOCK.format(session=session))
        transcripts = self._delete_matching(SIM_TRANSCRIPT.format(digest="*"))
        head = SIM_TRANSCRIPT.format(digest="")
        resumes = [RESUME.format(digest=key[len(head) :]) for key in transcripts]
        if resumes:
            self.redis.delete(*resumes)
        return {"outbox": int(outbox), "sessions": len(sessions), "phones": len(transcripts)}
