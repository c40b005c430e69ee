"""Phone profiles, inbound dedupe and rate limits, USSD sessions, key rotation."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import redis

from gateway.store.keys import (
    DIRECTORY_SNAPSHOT,
    ENCRYPTED_FIELD,
    PHONE,
    PREFIX,
    RATE,
    RESPONDER_COMMAND,
    RESPONDER_COMMAND_TTL,
    RESUME,
    RESUME_TTL,
    SEEN,
    SEEN_TTL,
    USSD_LOCK,
    USSD_SESSION,
)

# Count one event in a phone's window. The hash keeps her number encrypted beside the count, so
# `flask keys rotate` can move it to the new key's hash; counts still under older keys' hashes
# (KEYS[2..], before a rotation ran) are added. A plain counter of an older version is converted.
RATE_COUNT = """
if redis.call('TYPE', KEYS[1]).ok == 'string' then
  local old = redis.call('GET', KEYS[1])
  redis.call('DEL', KEYS[1])
  redis.call('HSET', KEYS[1], 'n', old)
end
local n = redis.call('HINCRBY', KEYS[1], 'n', 1)
redis.call('HSETNX', KEYS[1], 'enc:phone', ARGV[1])
redis.call('EXPIRE', KEYS[1], ARGV[2])
for i = 2, #KEYS do
  local kind = redis.call('TYPE', KEYS[i]).ok
  if kind == 'hash' then n = n + tonumber(redis.call('HGET', KEYS[i], 'n') or '0') end
  if kind == 'string' then n = n + tonumber(redis.call('GET', KEYS[i]) or '0') end
end
return n
"""


def _head(key_format: str) -> str:
    """The fixed start of a key format (what a SCAN or a prefix test matches)."""
    return key_format[: key_format.index("{")]


# Profile fields a STOP keeps: her number (encrypted, to re-key it) and the STOP itself.
KEPT_AFTER_STOP = (ENCRYPTED_FIELD + "phone", "stop", "stop_at")


@dataclass(frozen=True)
class RotationReport:
    """What a key rotation changed."""

    records: int
    fields: int
    rekeyed: int  # phone profiles moved to the new key's hash
    lookups: int = 0  # other keys named by a keyed hash: rate limits, resume points, dedupe


class PhoneStore:
    """Phone profiles, inbound dedupe and rate limits, USSD sessions, key rotation."""

    redis: Any
    vault: Any

    # ---- phone profiles ---------------------------------------------------------------------
    def _phone_keys(self, phone: str) -> list[str]:
        """Her profile's key under every configured key's hash, newest first."""
        return [PHONE.format(digest=d) for d in self.vault.digests(phone)]

    def _phone_key(self, phone: str) -> str:
        # During a rotation the profile may still sit under an older key's hash.
        keys = self._phone_keys(phone)
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

    # ---- inbound dedupe and rate limits ------------------------------------------------------
    def _seen_keys(self, channel: str, external_id: str) -> list[str]:
        return [SEEN.format(channel=channel, id=d) for d in self.vault.digests(external_id)]

    def first_delivery(self, channel: str, external_id: str, ttl: int = SEEN_TTL) -> bool:
        """True the first time a provider id is seen; False for every repeat within 30 days
        (or `ttl` seconds, for a mark that keep_delivery() makes lasting once handled)."""
        # The id is kept encrypted, so `flask keys rotate` can move the key to the new hash.
        newest, *older = self._seen_keys(channel, external_id)
        if older and self.redis.exists(*older):
            return False  # seen before the new key was put first, not yet re-keyed
        token = self.vault.encrypt(external_id)
        return bool(self.redis.set(newest, token, nx=True, ex=ttl))

    def keep_delivery(self, channel: str, external_id: str) -> None:
        """Make a first_delivery() mark last the full dedupe window."""
        self.redis.expire(self._seen_keys(channel, external_id)[0], SEEN_TTL)

    def forget_delivery(self, channel: str, external_id: str) -> None:
        """Undo first_delivery() when handling failed, so a provider retry is not dropped."""
        self.redis.delete(*self._seen_keys(channel, external_id))

    def first_command(self, responder_id: str, command: str, case_id: str) -> bool:
        """True the first time a responder sends this command for this case."""
        key = RESPONDER_COMMAND.format(responder=responder_id, command=command, case=case_id)
        return bool(self.redis.set(key, "1", nx=True, ex=RESPONDER_COMMAND_TTL))

    def rate_count(self, what: str, phone: str, window: int = 3600) -> int:
        """Count one event for the phone; how many happened in this window, this one included."""
        slot = int(time.time() // window)
        keys = [RATE.format(what=what, digest=d, window=slot) for d in self.vault.digests(phone)]
        script = self.redis.register_script(RATE_COUNT)
        return int(script(keys=keys, args=[self.vault.encrypt(phone), window]))

    def within_rate(self, what: str, phone: str, limit: int, window: int = 3600) -> bool:
        """Count one event for the phone; True while at most `limit` happened in this window."""
        return self.rate_count(what, phone, window) <= limit

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
            for digest in self.vault.digests(phone):
                pipe.get(RESUME.format(digest=digest))
            lang, *tokens = pipe.execute()
        token = next((t for t in tokens if t), None)
        return (
            lang.decode() if lang else None,
            self._resume_state(token) if token else None,
        )

    def _resume_token(self, phone: str, state: dict) -> str:
        # Her number rides along (encrypted) so that key rotation can re-key the resume point.
        return self.vault.encrypt(json.dumps({"phone": phone, "resume": state}))

    def _resume_state(self, token: bytes) -> dict:
        value = json.loads(self.vault.decrypt(token))
        if isinstance(value, dict) and set(value) == {"phone", "resume"}:
            return value["resume"]
        return value  # written by an older version: the state alone

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
        resume_keys = [RESUME.format(digest=d) for d in self.vault.digests(phone)]
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
                pipe.delete(*resume_keys)
            else:
                pipe.set(resume_keys[0], self._resume_token(phone, resume), ex=RESUME_TTL)
            if lang:
                profile = {ENCRYPTED_FIELD + "phone": self.vault.encrypt(phone), "lang": lang}
                pipe.hset(self._phone_key(phone), mapping=profile)
            pipe.delete(USSD_LOCK.format(session=session))
            pipe.execute()

    # ---- key rotation -----------------------------------------------------------------------
    def rotate_keys(self, responders: Mapping[str, str] | None = None) -> RotationReport:
        """Re-encrypt every encrypted value under the newest key and move every key named by a
        keyed hash (phone profiles, rate limits, resume points, inbound dedupe) to the newest
        key's hash, so that STOPs, limits and dedupe survive the removal of the old key.

        `responders` (id -> phone, from the directory) re-hashes the phones of the directory
        snapshot, so the next `directory reload` does not report every phone as changed."""
        records = fields = rekeyed = 0
        lookups = self._rekey_snapshot(responders or {})
        for key in self.redis.scan_iter(match=PREFIX + "*", count=500):
            kind = self.redis.type(key)
            name = key.decode()
            if kind == b"string":
                lookups += self._rekey_string(name)
                continue
            if kind != b"hash":
                continue
            changes = {}
            for field, token in self.redis.hgetall(key).items():
                if field.decode().startswith(ENCRYPTED_FIELD) and not self.vault.is_current(token):
                    changes[field] = self.vault.rotate(token)
            if changes:
                self.redis.hset(key, mapping=changes)
                records += 1
                fields += len(changes)
            if name.startswith(_head(PHONE)):
                rekeyed += self._rekey_phone(name)
            elif name.startswith(_head(RATE)):
                lookups += self._rekey_rate(name)
            elif name.startswith(_head(USSD_SESSION)):
                lookups += self._rekey_session(name)
        return RotationReport(records=records, fields=fields, rekeyed=rekeyed, lookups=lookups)

    def _rekey_snapshot(self, responders: Mapping[str, str]) -> int:
        with self.redis.pipeline(transaction=True) as pipe:
            while True:
                try:
                    pipe.watch(DIRECTORY_SNAPSHOT)
                    raw = pipe.get(DIRECTORY_SNAPSHOT)
                    if not raw:
                        return 0
                    snapshot, moved = json.loads(raw), 0
                    for rid, entry in snapshot.get("responders", {}).items():
                        phone = responders.get(rid)
                        if phone and entry.get("phone") in self.vault.digests(phone)[1:]:
                            entry["phone"] = self.vault.digest(phone)  # same phone, new hash
                            moved += 1
                    pipe.multi()
                    if moved:
                        pipe.set(DIRECTORY_SNAPSHOT, json.dumps(snapshot, sort_keys=True))
                    pipe.execute()
                    return moved
                except redis.WatchError:
                    continue

    def _rekey_phone(self, key: str) -> int:
        token = self.redis.hget(key, ENCRYPTED_FIELD + "phone")
        if token is None:
            return 0
        target = PHONE.format(digest=self.vault.digest(self.vault.decrypt(token)))
        if target == key:
            return 0
        # Merge rather than RENAME: a newer profile may already exist under the new hash. WATCH,
        # so a STOP written to the old profile meanwhile is merged, not lost.
        with self.redis.pipeline(transaction=True) as pipe:
            while True:
                try:
                    pipe.watch(key, target)
                    old = pipe.hgetall(key)
                    if not old:
                        return 0
                    both = [
                        *(pipe.hget(target, "cases") or b"").split(b","),
                        *(old.get(b"cases") or b"").split(b","),
                    ]
                    cases = b",".join(dict.fromkeys(c for c in both if c))
                    pipe.multi()
                    for name, value in old.items():
                        pipe.hsetnx(target, name, value)
                    if cases:
                        pipe.hset(target, "cases", cases)  # no case of hers may escape a STOP
                    pipe.delete(key)
                    pipe.execute()
                    return 1
                except redis.WatchError:
                    continue

    def _rekey_rate(self, key: str) -> int:
        what, _, window = key[len(_head(RATE)) :].rsplit(":", 2)
        raw = self.redis.hgetall(key)
        token = raw.get(ENCRYPTED_FIELD.encode() + b"phone")
        if token is None:
            return 0
        phone = self.vault.decrypt(token)
        target = RATE.format(what=what, digest=self.vault.digest(phone), window=window)
        if target == key:
            return 0
        ttl = max(self.redis.pttl(key), self.redis.pttl(target), 1000)
        with self.redis.pipeline(transaction=True) as pipe:
            pipe.hincrby(target, "n", int(raw.get(b"n", 0)))
            pipe.hsetnx(target, ENCRYPTED_FIELD + "phone", self.vault.encrypt(phone))
            pipe.pexpire(target, ttl)
            pipe.delete(key)
            pipe.execute()
        return 1

    def _rekey_session(self, key: str) -> int:
        # `last` is the keyed hash of the hop's text: recompute it so a duplicate hop is still
        # recognised after the rotation.
        token = self.redis.hget(key, "enc:state")
        if token is None:
            return 0
        state = json.loads(self.vault.decrypt(token))
        session = key[len(_head(USSD_SESSION)) :]
        last = self.vault.digest(session + "\0" + state.get("text", ""))
        if self.redis.hget(key, "last") == last.encode():
            return 0
        self.redis.hset(key, "last", last)
        return 1

    def _rekey_string(self, key: str) -> int:
        """Resume points and inbound dedupe keys: move to the new hash, re-encrypted."""
        if key.startswith(_head(RESUME)):
            token = self.redis.get(key)
            if token is None:
                return 0
            value = json.loads(self.vault.decrypt(token))
            if not (isinstance(value, dict) and set(value) == {"phone", "resume"}):
                return 0  # an older version's resume point: no number to re-key it by
            target = RESUME.format(digest=self.vault.digest(value["phone"]))
            fresh = self._resume_token(value["phone"], value["resume"])
        elif key.startswith(_head(SEEN)):
            token = self.redis.get(key)
            if token is None or token == b"1":
                return 0  # an older version's entry: it ages out with its window
            channel = key[len(_head(SEEN)) :].rsplit(":", 1)[0]
            external_id = self.vault.decrypt(token)
            target = SEEN.format(channel=channel, id=self.vault.digest(external_id))
            fresh = self.vault.encrypt(external_id)
        else:
            return 0
        if target == key and self.vault.is_current(token):
            return 0
        ttl = self.redis.pttl(key)
        if ttl == -2:
            return 0  # expired meanwhile
        with self.redis.pipeline(transaction=True) as pipe:
            pipe.set(target, fresh, px=ttl if ttl > 0 else None, nx=target != key)
            if target != key:
                pipe.delete(key)
            pipe.execute()
        return 1
