"""Outbound messages, their states and sends, held alerts, and the console outbox."""

from __future__ import annotations

import json
import time

import redis

from gateway.message import RANK, MessageState
from gateway.privacy import Vault
from gateway.store.keys import (
    CASE,
    CASE_MESSAGES,
    ENCRYPTED_FIELD,
    HELD,
    MESSAGE,
    NOTICE,
    OUTBOX,
    OUTBOX_MAX,
    PROVIDER,
    SEND_SLOT,
    SLOW_ROUTE,
    UNSENT,
)
from gateway.text import measure

# Moves a message's state forward only: ARGV[1] new state, ARGV[2] JSON rank table, then
# field/value pairs to set with it. Status callbacks arrive out of order; this is their guard.
ADVANCE = """
local ranks = cjson.decode(ARGV[2])
local current = redis.call('HGET', KEYS[1], 'state')
if not current then return 0 end
if (ranks[ARGV[1]] or 0) <= (ranks[current] or 0) then return 0 end
redis.call('HSET', KEYS[1], 'state', ARGV[1])
for i = 3, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
return 1
"""

# A provider took the message: its id, route and state in one write that also ends "in flight".
# KEYS[1] message, KEYS[2] provider id -> message id; ARGV[1] rank table, ARGV[2] message id,
# ARGV[3] ttl of KEYS[2], then field/value pairs. The first write is the HSET, so a Redis that
# refuses writes (maxmemory) refuses the whole script and the message stays "in flight".
SENT = """
for i = 4, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
local ranks = cjson.decode(ARGV[1])
local current = redis.call('HGET', KEYS[1], 'state')
if (ranks['queued'] or 0) > (ranks[current] or 0) then
  redis.call('HSET', KEYS[1], 'state', 'queued')
end
redis.call('SET', KEYS[2], ARGV[2], 'EX', ARGV[3])
for _, name in ipairs(redis.call('HKEYS', KEYS[1])) do
  if name == 'inflight' or name == 'inflight_at' or string.sub(name, 1, 7) == 'unsure:' then
    redis.call('HDEL', KEYS[1], name)
  end
end
return 1
"""
PROVIDER_TTL = 30 * 86400

# A new message, whole or not at all: KEYS[1] the message, KEYS[2] (when given) its case's set
# of messages; ARGV[1] its id, then field/value pairs, `created` first. A worker killed between
# two separate writes left a record without a state, which no send could take: an alert lost.
CREATE = """
if redis.call('HSETNX', KEYS[1], ARGV[2], ARGV[3]) == 0 then return 0 end
for i = 4, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
if KEYS[2] then redis.call('SADD', KEYS[2], ARGV[1]) end
return 1
"""


class Messages:
    """Outbound messages, their states and sends, held alerts, and the console outbox."""

    def __init__(self, client: redis.Redis, vault: Vault):
        self.redis = client
        self.vault = vault
        # Registered once: a Script keeps its SHA and loads itself on NOSCRIPT.
        self._advance = client.register_script(ADVANCE)
        self._sent = client.register_script(SENT)
        self._create = client.register_script(CREATE)

    def get(self, message_id: str) -> dict[str, str] | None:
        """The message with recipient and body decrypted, or None when unknown."""
        raw = self.redis.hgetall(MESSAGE.format(id=message_id))
        if not raw:
            return None
        out = {"id": message_id}
        for k, v in raw.items():
            name = k.decode()
            if name.startswith(ENCRYPTED_FIELD):
                out[name[len(ENCRYPTED_FIELD) :]] = self.vault.decrypt(v)
            else:
                out[name] = v.decode()
        return out

    def push_outbox(self, message_id: str) -> None:
        """Put a message on the console outbox, keeping only the newest OUTBOX_MAX."""
        with self.redis.pipeline(transaction=True) as pipe:
            pipe.lpush(OUTBOX, message_id)
            pipe.ltrim(OUTBOX, 0, OUTBOX_MAX - 1)
            pipe.execute()

    def outbox(self, limit: int = 50) -> list[dict[str, str]]:
        """The newest console-channel messages, decrypted, newest first."""
        ids = [i.decode() for i in self.redis.lrange(OUTBOX, 0, limit - 1)]
        return [m for m in (self.get(i) for i in ids) if m is not None]

    def in_outbox(self, message_id: str) -> bool:
        """True when the console route already recorded this message."""
        return self.redis.lpos(OUTBOX, message_id) is not None

    def create(self, message_id: str, to: str, body: str, **fields: str) -> bool:
        """Store a message under its deterministic id unless it exists; True when created."""
        size = measure(body)
        record = {
            "created": f"{time.time():.3f}",
            ENCRYPTED_FIELD + "to": self.vault.encrypt(to),
            ENCRYPTED_FIELD + "body": self.vault.encrypt(body),
            "state": MessageState.NEW,
            "route_index": 0,
            "segments": size.segments,
            "encoding": size.encoding,
            **fields,
        }
        keys = [MESSAGE.format(id=message_id)]
        if fields.get("case"):
            keys.append(CASE_MESSAGES.format(case=fields["case"]))
        pairs = [x for kv in record.items() for x in kv]
        return bool(self._create(keys=keys, args=[message_id, *pairs]))

    def of_case(self, case_id: str) -> list[dict[str, str]]:
        """A case's messages (no recipient, no text), oldest first."""
        ids = sorted(m.decode() for m in self.redis.smembers(CASE_MESSAGES.format(case=case_id)))
        found = []
        for message_id in ids:
            raw = self.redis.hgetall(MESSAGE.format(id=message_id))
            if raw:
                fields = {k.decode(): v.decode() for k, v in raw.items()}
                plain = {k: v for k, v in fields.items() if not k.startswith(ENCRYPTED_FIELD)}
                found.append({"id": message_id, **plain})
        return sorted(found, key=lambda m: float(m.get("created") or 0))

    def label(self, message_id: str) -> str:
        """A message as the dashboard names it: id, purpose and case reference (no number, no
        text), e.g. "message 3f2a… (alert, case 4821)"."""
        purpose, case_id = self.redis.hmget(MESSAGE.format(id=message_id), "purpose", "case")
        about = [(purpose or b"").decode() or "message"]
        ref = self.redis.hget(CASE.format(id=case_id.decode()), "ref") if case_id else None
        if ref:
            about.append(f"case {ref.decode()}")
        return f"message {message_id} ({', '.join(about)})"

    def set(self, message_id: str, **fields: str | int | float) -> None:
        """Update plain fields of a message."""
        self.redis.hset(MESSAGE.format(id=message_id), mapping=fields)

    def count_attempt(self, message_id: str, route: str) -> int:
        """Record one more attempt on a route (in flight until cleared); returns the count."""
        key = MESSAGE.format(id=message_id)
        with self.redis.pipeline(transaction=True) as pipe:
            pipe.hincrby(key, f"attempts:{route}", 1)
            pipe.hset(key, mapping={"inflight": route, "inflight_at": f"{time.time():.3f}"})
            count, _ = pipe.execute()
        return count

    def record_sent(self, message_id: str, route: str, provider_id: str, at: float) -> None:
        """A provider has the message: id, route, state and the end of "in flight", atomically."""
        fields = {"provider_id": provider_id, "route": route, "sent_at": f"{at:.3f}"}
        self._sent(
            keys=[
                MESSAGE.format(id=message_id),
                PROVIDER.format(route=route, provider_id=provider_id),
            ],
            args=[
                json.dumps(RANK),
                message_id,
                PROVIDER_TTL,
                *[x for kv in fields.items() for x in kv],
            ],
        )

    def send_failed(self, message_id: str, error: str, unsure: str = "") -> None:
        """An attempt ended without the message: the error, and the end of "in flight".

        `unsure` names a route that may have the message after all (a read timeout): a later
        attempt asks that route before it sends again.
        """
        key = MESSAGE.format(id=message_id)
        with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(key, mapping={"error": error, **({f"unsure:{unsure}": 1} if unsure else {})})
            pipe.hdel(key, "inflight", "inflight_at")
            pipe.execute()

    def clear_unsure(self, message_id: str, route: str) -> None:
        """The route was asked and does not have the message."""
        self.redis.hdel(MESSAGE.format(id=message_id), f"unsure:{route}", "inflight", "inflight_at")

    def mark_slow(self, route: str, seconds: int) -> None:
        """The route timed out: sends skip it for `seconds` while a later route exists."""
        self.redis.set(SLOW_ROUTE.format(route=route), "1", ex=seconds)

    def route_slow(self, route: str) -> bool:
        """True while the route is marked slow."""
        return bool(self.redis.exists(SLOW_ROUTE.format(route=route)))

    def hold(self, message_id: str, responder: str, at: float) -> bool:
        """Hold an alert for the responder's next digest; False when it was not new."""
        if not self.advance(message_id, MessageState.HELD, held_at=f"{at:.3f}"):
            return False
        with self.redis.pipeline(transaction=True) as pipe:
            pipe.zadd(HELD.format(responder=responder), {message_id: at})
            pipe.expire(HELD.format(responder=responder), 7 * 86400)
            pipe.execute()
        self.record_unsent(message_id, at)
        return True

    def held(self, responder: str) -> list[str]:
        """Ids of the alerts held for a responder's digest, oldest first."""
        return [m.decode() for m in self.redis.zrange(HELD.format(responder=responder), 0, -1)]

    def release_held(self, responder: str, message_ids: list[str]) -> None:
        """Take alerts off a responder's held list (in a digest now, or no longer needed)."""
        if message_ids:
            self.redis.zrem(HELD.format(responder=responder), *message_ids)

    def record_unsent(self, message_id: str, at: float) -> None:
        """Remember a message dropped or held (not sent on its own) for /healthz."""
        with self.redis.pipeline(transaction=False) as pipe:
            pipe.zadd(UNSENT, {message_id: at})
            pipe.zremrangebyscore(UNSENT, "-inf", at - 86400)
            pipe.execute()

    def unsent_last_hour(self, now: float | None = None) -> int:
        """Messages dropped or held for a digest in the last hour (0 when all went on their own)."""
        now = time.time() if now is None else now
        return int(self.redis.zcount(UNSENT, now - 3600, "+inf"))

    def notice_once(self, what: str, seconds: int) -> bool:
        """True the first time `what` is noticed in `seconds` (one notice, not one per message)."""
        return bool(self.redis.set(NOTICE.format(what=what), "1", nx=True, ex=seconds))

    def advance(self, message_id: str, state: str, **fields: str) -> bool:
        """Move a message to `state` unless it is already as far or further; True when moved."""
        moved = self._advance(
            keys=[MESSAGE.format(id=message_id)],
            args=[state, json.dumps(RANK), *[x for kv in fields.items() for x in kv]],
        )
        return bool(moved)

    def by_provider(self, route: str, provider_id: str) -> str | None:
        """The message id for a provider's id, or None."""
        found = self.redis.get(PROVIDER.format(route=route, provider_id=provider_id))
        return found.decode() if found else None

    def send_slot(self, route: str, per_second: int, now: float | None = None) -> float:
        """Take a send slot on the route (shared by all workers); seconds to wait if none."""
        now = time.time() if now is None else now
        key = SEND_SLOT.format(route=route, second=int(now))
        with self.redis.pipeline(transaction=True) as pipe:
            pipe.incr(key)
            pipe.expire(key, 2)
            count, _ = pipe.execute()
        return 0.0 if count <= per_second else 1.0 - (now % 1.0)

    def state(self, message_id: str) -> str | None:
        """A message's state, read without decrypting anything; None when unknown."""
        found = self.redis.hget(MESSAGE.format(id=message_id), "state")
        return found.decode() if found else None

    def case_of(self, message_id: str) -> str:
        """The case a message belongs to ('' for none)."""
        found = self.redis.hget(MESSAGE.format(id=message_id), "case")
        return found.decode() if found else ""

    def reset(self, message_id: str) -> None:
        """Put a never-sent message back to 'new' for a replay, on the first route.

        "In flight" and "unsure" marks stay: the next attempt asks those routes first.
        """
        key = MESSAGE.format(id=message_id)
        with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(key, mapping={"state": MessageState.NEW, "route_index": 0})
            pipe.hdel(key, "error")
            pipe.execute()

    def iter(self):
        """Every message hash with plain fields only (no recipient, no body), with its id."""
        prefix = MESSAGE.format(id="")
        for key in self.redis.scan_iter(match=prefix + "*", count=500):
            raw = self.redis.hgetall(key)
            if raw:
                row = {k.decode(): v.decode() for k, v in raw.items() if not k.startswith(b"enc:")}
                row["id"] = key.decode()[len(prefix) :]
                row["has_body"] = "1" if b"enc:body" in raw else ""
                yield row

    def purge(self, message_id: str) -> None:
        """Drop a message's recipient and body; its route, state and size stay for reports."""
        self.redis.hdel(MESSAGE.format(id=message_id), "enc:to", "enc:body")
