"""USSD sessions: the per-session lock, encrypted state, her resume point."""

from __future__ import annotations

import time

import redis

from gateway.privacy import Vault
from gateway.store.keys import (
    HOP_FIELD,
    RESUME,
    RESUME_TTL,
    USSD_LOCK,
    USSD_SESSION,
)
from gateway.store.phones import Phones
from gateway.store.pipes import Pipeline, on


class Sessions:
    """USSD sessions: the per-session lock, encrypted state, her resume point."""

    def __init__(self, client: redis.Redis, vault: Vault, phones: Phones):
        self.redis = client
        self.vault = vault
        self.phones = phones

    # A hop costs three round trips at most: open (lock + read), first-hop lookups, close (write
    # + unlock). The aggregator wants an answer well under a second, on a 2-core box.
    def open(self, session: str, wait: float = 1.0) -> tuple[dict | None, str, dict | None]:
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
        if HOP_FIELD.encode() not in raw:  # written before state and reply shared one token
            state = self.vault.decrypt_json(raw[b"enc:state"])
            reply = self.vault.decrypt_json(raw[b"enc:reply"])
            return state, raw.get(b"last", b"").decode(), reply
        hop = self.vault.decrypt_json(raw[HOP_FIELD.encode()])
        return hop["state"], raw.get(b"last", b"").decode(), hop["reply"]

    def unlock(self, session: str, pipeline: Pipeline | None = None) -> None:
        """Release the per-session lock (after a failure; close() releases it otherwise)."""
        on(self.redis, pipeline).delete(USSD_LOCK.format(session=session))

    def first(self, phone: str) -> tuple[str | None, dict | None]:
        """Her remembered language and the state of a session she dropped, in one round trip."""
        with self.redis.pipeline(transaction=False) as pipe:
            pipe.hget(self.phones.key(phone), "lang")
            for digest in self.vault.digests(phone):
                pipe.get(RESUME.format(digest=digest))
            lang, *tokens = pipe.execute()
        token = next((t for t in tokens if t), None)
        return (
            lang.decode() if lang else None,
            self.phones.resume_state(token) if token else None,
        )

    def close(
        self,
        session: str,
        phone: str,
        record: tuple[dict, str, dict],
        ttl: int,
        resume: dict | None,
        lang: str | None = None,
        pipeline: Pipeline | None = None,
    ) -> None:
        """Save the session (state and reply in one encrypted token, the digest of its text),
        her resume point, a newly chosen language, and release the lock: in one transaction,
        the caller's when given (the submit adds its case to it)."""
        if pipeline is None:
            with self.redis.pipeline(transaction=True) as pipe:
                self.close(session, phone, record, ttl, resume, lang, pipeline=pipe)
                pipe.execute()
            return
        state, last, reply = record
        key = USSD_SESSION.format(session=session)
        resume_keys = [RESUME.format(digest=d) for d in self.vault.digests(phone)]
        token = self.vault.encrypt_json({"state": state, "reply": reply})
        pipeline.hset(key, mapping={HOP_FIELD: token, "last": last})
        pipeline.expire(key, ttl)
        if resume is None:
            pipeline.delete(*resume_keys)
        else:
            pipeline.set(resume_keys[0], self.phones.resume_token(phone, resume), ex=RESUME_TTL)
        if lang:
            self.phones.update_profile(phone, pipeline=pipeline, lang=lang)
        self.unlock(session, pipeline=pipeline)
