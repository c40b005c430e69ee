"""USSD sessions: the per-session lock, encrypted state, her resume point."""

from __future__ import annotations

import logging
import time
from typing import NamedTuple

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
from gateway.store.pipes import Pipeline, on, run

log = logging.getLogger(__name__)

LOCK_MS = 5000  # a hop's lock outlives any hop; it only bounds a crashed process's
# Take a session's lock and read it, in one call. KEYS: lock, session, then (on her first hop)
# her profile and her resume keys. ARGV: lock ms. Returns nil when another hop holds the lock,
# else the session's fields; for a new session with the first-hop keys given, '' followed by
# her remembered language and her resume tokens (nil where none), as first() reads them.
OPEN = """
if not redis.call('SET', KEYS[1], '1', 'NX', 'PX', ARGV[1]) then return false end
local fields = redis.call('HGETALL', KEYS[2])
if #fields > 0 or #KEYS == 2 then return fields end
local found = {'', redis.call('HGET', KEYS[3], 'lang')}
for i = 4, #KEYS do found[#found + 1] = redis.call('GET', KEYS[i]) end
return found
"""
# Save a hop and release its lock, in one call. KEYS: session, lock, her resume keys (newest
# first), then her profile when a language was chosen. ARGV: the hop field, its token, the
# digest of its text, the session ttl, the resume token ('' to forget it), the resume ttl, the
# number of resume keys, then the profile's field/value pairs.
CLOSE = """
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2], 'last', ARGV[3])
redis.call('EXPIRE', KEYS[1], ARGV[4])
local n = tonumber(ARGV[7])
if ARGV[5] == '' then
  redis.call('DEL', unpack(KEYS, 3, 2 + n))
else
  redis.call('SET', KEYS[3], ARGV[5], 'EX', ARGV[6])
end
if #ARGV > 7 then redis.call('HSET', KEYS[3 + n], unpack(ARGV, 8)) end
redis.call('DEL', KEYS[2])
return 1
"""


class Opened(NamedTuple):
    """A session as its hop found it: saved state, digest of the last text, the reply given
    (all empty when new), and, when asked for on her first hop, first()'s lookups."""

    state: dict | None
    last: str
    reply: dict | None
    first: tuple[str | None, dict | None] | None = None


class Sessions:
    """USSD sessions: the per-session lock, encrypted state, her resume point."""

    def __init__(self, client: redis.Redis, vault: Vault, phones: Phones):
        self.redis = client
        self.vault = vault
        self.phones = phones
        self._open = client.register_script(OPEN)
        self._close = client.register_script(CLOSE)

    # A hop costs three round trips at most: open (lock + read, and on her first hop her
    # language and resume point), a lost session's first-hop lookups, close (write + unlock).
    # The aggregator wants an answer well under a second, on a 2-core box.
    def open(self, session: str, wait: float = 1.0, phone: str | None = None) -> Opened:
        """Take the session's lock and read it. With `phone` (her first hop), a new session
        also comes with first()'s lookups, in the same round trip.

        Raises TimeoutError when a duplicate delivery keeps the lock for `wait` seconds (short:
        the whole hop must be answered within an aggregator's few seconds).
        """
        keys = [USSD_LOCK.format(session=session), USSD_SESSION.format(session=session)]
        if phone is not None:
            keys += self._first_keys(phone)
        deadline = time.monotonic() + wait
        while True:
            flat = run(self._open, keys, [LOCK_MS])
            if flat is not None:
                break
            if time.monotonic() > deadline:
                raise TimeoutError("USSD session stayed locked")
            time.sleep(0.01)
        if not flat:
            return Opened(None, "", None)
        if flat[0] == b"":
            lang, *tokens = flat[1:]
            return Opened(None, "", None, self._found(lang, tokens))
        raw = dict(zip(flat[::2], flat[1::2], strict=True))
        try:
            if HOP_FIELD.encode() not in raw:  # written before state and reply shared one token
                state = self.vault.decrypt_json(raw[b"enc:state"])
                reply = self.vault.decrypt_json(raw[b"enc:reply"])
                return Opened(state, raw.get(b"last", b"").decode(), reply)
            hop = self.vault.decrypt_json(raw[HOP_FIELD.encode()])
            return Opened(hop["state"], raw.get(b"last", b"").decode(), hop["reply"])
        except (ValueError, KeyError, TypeError):
            # A DATA_KEY removed before its tokens were rotated, or a damaged record. The lock
            # is ours and close() overwrites the record; failing here instead kept the lock
            # and answered her next hops "busy" until it lapsed.
            log.warning("ussd: a session's state is unreadable; the hop goes on as if it was lost")
            return Opened(None, "", None)

    def unlock(self, session: str, pipeline: Pipeline | None = None) -> None:
        """Release the per-session lock (after a failure; close() releases it otherwise)."""
        on(self.redis, pipeline).delete(USSD_LOCK.format(session=session))

    def first(self, phone: str) -> tuple[str | None, dict | None]:
        """Her remembered language and the state of a session she dropped, in one round trip."""
        profile, *resumes = self._first_keys(phone)
        with self.redis.pipeline(transaction=False) as pipe:
            pipe.hget(profile, "lang")
            for key in resumes:
                pipe.get(key)
            lang, *tokens = pipe.execute()
        return self._found(lang, tokens)

    def _first_keys(self, phone: str) -> list[str]:
        """Her profile, then her resume keys (one per DATA_KEY, newest first)."""
        return [self.phones.key(phone), *self._resume_keys(phone)]

    def _resume_keys(self, phone: str) -> list[str]:
        return [RESUME.format(digest=d) for d in self.vault.digests(phone)]

    def _found(self, lang: bytes | None, tokens: list) -> tuple[str | None, dict | None]:
        token = next((t for t in tokens if t), None)
        return lang.decode() if lang else None, self._resume(token) if token else None

    def _resume(self, token: bytes) -> dict | None:
        try:
            return self.phones.resume_state(token)
        except ValueError:  # as in open(): a removed DATA_KEY, or a damaged record
            log.warning("ussd: a resume point is unreadable; she starts again")
            return None

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
        """Save the session (state and reply in one sealed token, the digest of its text), her
        resume point, a newly chosen language, and release the lock: in one atomic call, queued
        in the caller's transaction when given (the submit adds its case to it)."""
        state, last, reply = record
        resume_keys = self._resume_keys(phone)
        keys = [USSD_SESSION.format(session=session), USSD_LOCK.format(session=session)]
        keys += resume_keys
        token = self.vault.seal_json({"state": state, "reply": reply})
        kept = "" if resume is None else self.phones.resume_token(phone, resume)
        args = [HOP_FIELD, token, last, ttl, kept, RESUME_TTL, len(resume_keys)]
        if lang:
            keys.append(self.phones.key(phone))
            for field, value in self.phones.profile_fields(phone, lang=lang).items():
                args += [field, value]
        run(self._close, keys, args, pipeline)
