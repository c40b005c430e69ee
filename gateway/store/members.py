"""Members of mutual aid groups, by their consent: found by a keyed hash of their number (of
its own kind, so a member's record and a survivor's profile cannot be matched without the key),
their number encrypted beside it; and the broadcasts sent to a group."""

from __future__ import annotations

import json
import time
from collections import Counter

import redis

from gateway.privacy import Vault
from gateway.store.keys import (
    BROADCAST,
    BROADCAST_MESSAGES,
    BROADCAST_PENDING,
    BROADCASTS,
    ENCRYPTED_FIELD,
    GROUP_MEMBERS,
    MEET_DRAFT,
    MEET_DRAFT_TTL,
    MEMBER,
    MEMBER_HASHED,
    MESSAGE,
)

# Join a group. KEYS: the member, the group's set. ARGV: group, digest, her number encrypted,
# language, how she joined, now. Returns 1 when she is new to the group, 0 when already in.
JOIN = """
local groups = redis.call('HGET', KEYS[1], 'groups') or ''
for g in string.gmatch(groups, '[^,]+') do
  if g == ARGV[1] then
    redis.call('HSET', KEYS[1], 'lang', ARGV[4])
    return 0
  end
end
if groups == '' then groups = ARGV[1] else groups = groups .. ',' .. ARGV[1] end
redis.call('HSET', KEYS[1], 'groups', groups, 'enc:phone', ARGV[3], 'lang', ARGV[4],
  'how:' .. ARGV[1], ARGV[5], 'at:' .. ARGV[1], ARGV[6])
redis.call('SADD', KEYS[2], ARGV[2])
return 1
"""


# Drop a pump's batch from the head of the pending list (Members.done_pending). KEYS: pending
# list, broadcast. ARGV: now, the batch's message ids.
DONE = """
local head = redis.call('LRANGE', KEYS[1], 0, #ARGV - 2)
local same = #head == #ARGV - 1
for i = 2, #ARGV do if head[i - 1] ~= ARGV[i] then same = false end end
if same then redis.call('LTRIM', KEYS[1], #ARGV - 1, -1) end
redis.call('HSET', KEYS[2], 'pumped_at', ARGV[1])
return redis.call('LLEN', KEYS[1])
"""


class Members:
    """Group membership by consent, and broadcasts with the messages each one created."""

    def __init__(self, client: redis.Redis, vault: Vault):
        self.redis = client
        self.vault = vault
        self._join = client.register_script(JOIN)
        self._done = client.register_script(DONE)

    def digest(self, phone: str) -> str:
        """The keyed hash naming a member's record (under the newest key)."""
        return self.vault.digest(MEMBER_HASHED.format(phone=phone))

    def digest_of(self, phone: str) -> str:
        """The digest her record sits under (an older key's during a rotation), else the
        newest key's."""
        digests = self.vault.digests(MEMBER_HASHED.format(phone=phone))
        for digest in digests[1:]:
            if self.redis.exists(MEMBER.format(digest=digest)):
                return digest
        return digests[0]

    def join(self, phone: str, group: str, lang: str, how: str) -> bool:
        """Add the phone to a group (`how`: sms, ussd, or console:<operator> after she agreed
        in person); True when she was not a member yet."""
        digest = self.digest_of(phone)
        keys = [MEMBER.format(digest=digest), GROUP_MEMBERS.format(group=group)]
        token = self.vault.encrypt(phone)
        day = time.strftime("%Y-%m-%d", time.gmtime())  # the day only: nothing to match times with
        args = [group, digest, token, lang, how, day]
        return bool(self._join(keys=keys, args=args))

    def groups(self, phone: str) -> list[str]:
        """The groups the phone is a member of."""
        raw = self.redis.hget(MEMBER.format(digest=self.digest_of(phone)), "groups") or b""
        return [g for g in raw.decode().split(",") if g]

    def leave(self, phone: str, group: str = "") -> list[str]:
        """Take the phone out of one group, or of every group with ''; the groups it left."""
        digest = self.digest_of(phone)
        key = MEMBER.format(digest=digest)
        was = self.groups(phone)
        left = [g for g in was if not group or g == group]
        if not left:
            return []
        kept = [g for g in was if g not in left]
        with self.redis.pipeline(transaction=True) as pipe:
            for g in left:
                pipe.srem(GROUP_MEMBERS.format(group=g), digest)
                pipe.hdel(key, f"how:{g}", f"at:{g}")
            if kept:
                pipe.hset(key, "groups", ",".join(kept))
            else:
                pipe.delete(key)  # no group left: nothing of hers is kept
            pipe.execute()
        return left

    def is_member(self, group: str, digest: str) -> bool:
        """True while the member named by this digest is in the group."""
        return bool(self.redis.sismember(GROUP_MEMBERS.format(group=group), digest))

    def count(self, group: str) -> int:
        return int(self.redis.scard(GROUP_MEMBERS.format(group=group)))

    def of_group(self, group: str) -> list[tuple[str, str, str]]:
        """(digest, number, language) of every member of a group, in digest order."""
        digests = sorted(d.decode() for d in self.redis.smembers(GROUP_MEMBERS.format(group=group)))
        with self.redis.pipeline(transaction=False) as pipe:
            for digest in digests:
                pipe.hmget(MEMBER.format(digest=digest), ENCRYPTED_FIELD + "phone", "lang")
            found = pipe.execute()
        return [
            (digest, self.vault.decrypt(token), (lang or b"tg").decode())
            for digest, (token, lang) in zip(digests, found, strict=True)
            if token
        ]

    # ---- broadcasts ----------------------------------------------------------------------------
    def save_broadcast(self, broadcast_id: str, **fields: str) -> bool:
        """Record a broadcast once (False when this id was sent already: never twice)."""
        key = BROADCAST.format(id=broadcast_id)
        if not self.redis.hsetnx(key, "group", fields["group"]):
            return False
        with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(key, mapping=fields)
            pipe.zadd(BROADCASTS, {broadcast_id: float(fields["created"])})
            pipe.execute()
        return True

    def add_messages(self, broadcast_id: str, message_ids: list[str]) -> None:
        """A broadcast's messages, all waiting to be queued by its pump."""
        if message_ids:
            with self.redis.pipeline(transaction=True) as pipe:
                pipe.sadd(BROADCAST_MESSAGES.format(id=broadcast_id), *message_ids)
                pipe.rpush(BROADCAST_PENDING.format(id=broadcast_id), *message_ids)
                pipe.execute()

    def pending(self, broadcast_id: str, count: int) -> list[str]:
        """The next `count` messages its pump should queue (they stay until done_pending)."""
        key = BROADCAST_PENDING.format(id=broadcast_id)
        return [m.decode() for m in self.redis.lrange(key, 0, count - 1)]

    def done_pending(self, broadcast_id: str, batch: list[str], now: float) -> int:
        """These pending messages, at the head of the list, are queued: drop them (only if they
        still are its head, so two pumps of one broadcast never drop each other's); how many
        are still pending. Also records when its pump last ran (`now`)."""
        keys = [BROADCAST_PENDING.format(id=broadcast_id), BROADCAST.format(id=broadcast_id)]
        return int(self._done(keys=keys, args=[f"{now:.3f}", *batch]))

    def stalled(self, since: float, limit: int = 500) -> list[str]:
        """Broadcasts with messages still pending whose pump has not run since `since` (its
        chain of jobs was lost: retries spent during a long Redis outage)."""
        made = self.broadcasts(limit)
        with self.redis.pipeline(transaction=False) as pipe:  # one round trip, not one each
            for broadcast in made:
                pipe.llen(BROADCAST_PENDING.format(id=broadcast["id"]))
            pending = pipe.execute()
        return [
            broadcast["id"]
            for broadcast, left in zip(made, pending, strict=True)
            if left and float(broadcast.get("pumped_at") or broadcast.get("send_at") or 0) < since
        ]

    def broadcast(self, broadcast_id: str) -> dict[str, str]:
        raw = self.redis.hgetall(BROADCAST.format(id=broadcast_id))
        return {k.decode(): v.decode() for k, v in raw.items()}

    def broadcasts(self, limit: int = 50) -> list[dict[str, str]]:
        """The newest broadcasts, with their id."""
        ids = [i.decode() for i in self.redis.zrevrange(BROADCASTS, 0, limit - 1)]
        with self.redis.pipeline(transaction=False) as pipe:
            for broadcast_id in ids:
                pipe.hgetall(BROADCAST.format(id=broadcast_id))
            found = pipe.execute()
        return [
            {"id": i, **{k.decode(): v.decode() for k, v in raw.items()}}
            for i, raw in zip(ids, found, strict=True)
            if raw
        ]

    def states(self, broadcast_id: str) -> Counter:
        """A broadcast's messages by state."""
        ids = sorted(self.redis.smembers(BROADCAST_MESSAGES.format(id=broadcast_id)))
        with self.redis.pipeline(transaction=False) as pipe:
            for message_id in ids:
                pipe.hget(MESSAGE.format(id=message_id.decode()), "state")
            return Counter((s or b"gone").decode() for s in pipe.execute())

    def keep_draft(self, responder_id: str, group: str, draft: dict[str, str]) -> None:
        """A sender's MEET, until their YES (or for an hour)."""
        key = MEET_DRAFT.format(responder=responder_id, group=group)
        self.redis.set(key, json.dumps(draft), ex=MEET_DRAFT_TTL)

    def take_draft(self, responder_id: str, group: str) -> dict[str, str] | None:
        """The sender's waiting MEET, taken once (a second YES finds none)."""
        raw = self.redis.getdel(MEET_DRAFT.format(responder=responder_id, group=group))
        return json.loads(raw) if raw else None
