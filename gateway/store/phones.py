"""Phone profiles, found by keyed hash with her number encrypted beside them; key rotation."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

import redis

from gateway.privacy import Vault
from gateway.store.keys import (
    DIRECTORY_SNAPSHOT,
    ENCRYPTED_FIELD,
    GROUP_MEMBERS,
    HOP_FIELD,
    MEMBER,
    MEMBER_HASHED,
    PHONE,
    PREFIX,
    RATE,
    RESUME,
    SEEN,
    USSD_SESSION,
)
from gateway.store.pipes import Pipeline, on


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


# A member's record moved to the newest key's hash, merged with one written there meanwhile.
# KEYS: the old record, the new one. ARGV: old digest, new digest, the group set key's text
# before and after the group's id.
REKEY_MEMBER = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local old = redis.call('HGETALL', KEYS[1])
local groups = {}
for i = 1, #old, 2 do
  if old[i] == 'groups' then
    for g in string.gmatch(old[i + 1], '[^,]+') do groups[#groups + 1] = g end
  else
    redis.call('HSETNX', KEYS[2], old[i], old[i + 1])
  end
end
local have = redis.call('HGET', KEYS[2], 'groups') or ''
local seen = {}
for g in string.gmatch(have, '[^,]+') do seen[g] = true end
for _, g in ipairs(groups) do
  local set = ARGV[3] .. g .. ARGV[4]
  redis.call('SREM', set, ARGV[1])
  redis.call('SADD', set, ARGV[2])
  if not seen[g] then
    if have == '' then have = g else have = have .. ',' .. g end
    seen[g] = true
  end
end
if have ~= '' then redis.call('HSET', KEYS[2], 'groups', have) end
redis.call('DEL', KEYS[1])
return 1
"""


class Phones:
    """Phone profiles (found by keyed hash, her number encrypted beside them), her resume
    token's format, and key rotation."""

    def __init__(self, client: redis.Redis, vault: Vault):
        self.redis = client
        self.vault = vault
        self._rekey_member_script = client.register_script(REKEY_MEMBER)

    def keys(self, phone: str) -> list[str]:
        """Her profile's key under every configured key's hash, newest first."""
        return [PHONE.format(digest=d) for d in self.vault.digests(phone)]

    def key(self, phone: str) -> str:
        # During a rotation the profile may still sit under an older key's hash.
        keys = self.keys(phone)
        for key in keys[1:]:
            if self.redis.exists(key):
                return key
        return keys[0]

    def profile(self, phone: str) -> dict[str, str]:
        """The stored profile fields of a phone (no encrypted fields), empty when unknown."""
        raw = self.redis.hgetall(self.key(phone))
        return {
            k.decode(): v.decode()
            for k, v in raw.items()
            if not k.decode().startswith(ENCRYPTED_FIELD)
        }

    def update_profile(self, phone: str, pipeline: Pipeline | None = None, **fields: str) -> None:
        """Set profile fields of a phone, keeping its number encrypted beside them."""
        mapping = self.profile_fields(phone, **fields)
        on(self.redis, pipeline).hset(self.key(phone), mapping=mapping)

    def profile_fields(self, phone: str, **fields: str) -> dict[str, str]:
        """What update_profile() writes: the fields and her number, encrypted."""
        return {ENCRYPTED_FIELD + "phone": self.vault.encrypt(phone), **fields}

    def resume_token(self, phone: str, state: dict) -> bytes:
        # Her number rides along (encrypted) so that key rotation can re-key the resume point.
        return self.vault.seal_json({"phone": phone, "resume": state})

    def resume_state(self, token: bytes) -> dict:
        value = self.vault.decrypt_json(token)
        if isinstance(value, dict) and set(value) == {"phone", "resume"}:
            return value["resume"]
        return value  # written by an older version: the state alone

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
            elif name.startswith(_head(MEMBER)):
                rekeyed += self._rekey_member(name)
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

    def _rekey_member(self, key: str) -> int:
        """A group member's record and its place in each group's set, under the newest key's
        hash (else, once the old key is gone, LEAVE and STOP could not find her)."""
        token = self.redis.hget(key, ENCRYPTED_FIELD + "phone")
        if token is None:
            return 0
        old = key[len(_head(MEMBER)) :]
        new = self.vault.digest(MEMBER_HASHED.format(phone=self.vault.decrypt(token)))
        if new == old:
            return 0
        # One script: a JOIN or LEAVE meanwhile sees the record under one hash, never both.
        prefix = GROUP_MEMBERS.format(group="\0").split("\0")
        args = [old, new, *prefix]
        return int(self._rekey_member_script(keys=[key, MEMBER.format(digest=new)], args=args))

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
        hop, older = self.redis.hmget(key, HOP_FIELD, "enc:state")
        if hop is None and older is None:
            return 0
        state = self.vault.decrypt_json(hop)["state"] if hop else self.vault.decrypt_json(older)
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
            value = self.vault.decrypt_json(token)
            if not (isinstance(value, dict) and set(value) == {"phone", "resume"}):
                return 0  # an older version's resume point: no number to re-key it by
            target = RESUME.format(digest=self.vault.digest(value["phone"]))
            fresh = self.resume_token(value["phone"], value["resume"])
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
