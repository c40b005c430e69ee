"""Outbound messages and the console outbox."""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from rq import Queue, Retry
from rq.exceptions import DuplicateJobError
from rq.job import Job

from gateway.channels.base import STATE_RANK
from gateway.store.keys import ENCRYPTED_FIELD, MESSAGE, OUTBOX, OUTBOX_MAX, PROVIDER, SEND_SLOT
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


class MessageStore:
    """Outbound messages and the console outbox."""

    redis: Any
    vault: Any

    @property
    def _advance(self):
        return self.redis.register_script(ADVANCE)

    # ---- outbound messages ------------------------------------------------------------------
    def add_message(self, to: str, body: str, route: str, segments: int, state: str) -> str:
        """Store an outbound message with its recipient and body encrypted; returns its id."""
        message_id = uuid.uuid4().hex
        self.redis.hset(
            MESSAGE.format(id=message_id),
            mapping={
                ENCRYPTED_FIELD + "to": self.vault.encrypt(to),
                ENCRYPTED_FIELD + "body": self.vault.encrypt(body),
                "route": route,
                "segments": segments,
                "state": state,
                "created": f"{time.time():.3f}",
            },
        )
        return message_id

    def message(self, message_id: str) -> dict[str, str] | None:
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
        return [m for m in (self.message(i) for i in ids) if m is not None]

    def in_outbox(self, message_id: str) -> bool:
        """True when the console route already recorded this message."""
        return self.redis.lpos(OUTBOX, message_id) is not None

    # ---- alert messages ---------------------------------------------------------------------
    def create_message(self, message_id: str, to: str, body: str, **fields: str) -> bool:
        """Store a message under its deterministic id unless it exists; True when created."""
        key = MESSAGE.format(id=message_id)
        if not self.redis.hsetnx(key, "created", f"{time.time():.3f}"):
            return False
        size = measure(body)
        self.redis.hset(
            key,
            mapping={
                ENCRYPTED_FIELD + "to": self.vault.encrypt(to),
                ENCRYPTED_FIELD + "body": self.vault.encrypt(body),
                "state": "new",
                "route_index": 0,
                "segments": size.segments,
                "encoding": size.encoding,
                **fields,
            },
        )
        return True

    def enqueue_send(self, message_id: str, delays: list[int], at_front: bool = False) -> bool:
        """Queue the send job of a message (id only); False when that job already exists."""
        queue = Queue("alerts", connection=self.redis)
        try:
            queue.enqueue_call(
                "workers.jobs.send_message",
                args=(message_id,),
                job_id=f"send-{message_id}",
                description=f"send message {message_id}",
                timeout=60,
                retry=Retry(max=len(delays), interval=delays),
                failure_ttl=30 * 86400,
                result_ttl=86400,
                unique=True,
                at_front=at_front,
            )
        except DuplicateJobError:
            return False
        return True

    def set_message(self, message_id: str, **fields: str | int | float) -> None:
        """Update plain fields of a message."""
        self.redis.hset(MESSAGE.format(id=message_id), mapping=fields)

    def clear_message_field(self, message_id: str, *names: str) -> None:
        """Remove plain fields of a message."""
        self.redis.hdel(MESSAGE.format(id=message_id), *names)

    def count_attempt(self, message_id: str, route: str) -> int:
        """Record one more attempt on a route (in flight until cleared); returns the count."""
        key = MESSAGE.format(id=message_id)
        with self.redis.pipeline(transaction=True) as pipe:
            pipe.hincrby(key, f"attempts:{route}", 1)
            pipe.hset(key, mapping={"inflight": route, "inflight_at": f"{time.time():.3f}"})
            count, _ = pipe.execute()
        return count

    def advance_message(self, message_id: str, state: str, **fields: str) -> bool:
        """Move a message to `state` unless it is already as far or further; True when moved."""
        moved = self._advance(
            keys=[MESSAGE.format(id=message_id)],
            args=[state, json.dumps(STATE_RANK), *[x for kv in fields.items() for x in kv]],
        )
        return bool(moved)

    def record_provider(self, route: str, provider_id: str, message_id: str) -> None:
        """Remember which message a provider id belongs to, for status callbacks."""
        self.redis.set(
            PROVIDER.format(route=route, provider_id=provider_id), message_id, ex=30 * 86400
        )

    def message_by_provider(self, route: str, provider_id: str) -> str | None:
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

    def schedule(self, func: str, args: tuple, at: float, job_id: str) -> bool:
        """Run a job at a unix time (needs a worker with --with-scheduler); False if it exists."""
        queue = Queue("alerts", connection=self.redis)
        when = datetime.fromtimestamp(at, UTC)
        job = queue.create_job(
            func,
            args=args,
            job_id=job_id,
            timeout=60,
            retry=Retry(max=3, interval=[10, 30, 60]),
            failure_ttl=30 * 86400,
            result_ttl=86400,
        )
        try:
            queue.schedule_job(job, when, unique=True)
        except DuplicateJobError:
            return False
        return True

    # ---- failed jobs and replay -------------------------------------------------------------
    def failed_jobs(self) -> list[str]:
        """Ids of the jobs in the alerts queue's failed registry."""
        queue = Queue("alerts", connection=self.redis)
        return queue.failed_job_registry.get_job_ids()

    def job_case(self, job_id: str) -> str:
        """The case a send job's message belongs to ('' for other jobs)."""
        if not job_id.startswith("send-"):
            return ""
        found = self.redis.hget(MESSAGE.format(id=job_id[len("send-") :]), "case")
        return found.decode() if found else ""

    def is_failed(self, job_id: str) -> bool:
        """True when the job sits in the failed registry (what a replay needs)."""
        return job_id in Queue("alerts", connection=self.redis).failed_job_registry

    def requeue_failed(self, job_id: str, delays: list[int]) -> None:
        """Requeue a failed job with its retries restored (RQ's own requeue leaves it none)."""
        queue = Queue("alerts", connection=self.redis)
        job = Job.fetch(job_id, connection=self.redis)
        job.retries_left = len(delays)
        job.retry_intervals = delays
        job.save()
        queue.failed_job_registry.requeue(job)

    def discard_failed(self, job_id: str) -> None:
        """Take a job out of the failed registry for good (its message must not be sent)."""
        queue = Queue("alerts", connection=self.redis)
        queue.failed_job_registry.remove(job_id, delete_job=True)

    def reset_message(self, message_id: str) -> None:
        """Put a never-sent message back to 'new' for a replay, on the first route."""
        key = MESSAGE.format(id=message_id)
        with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(key, mapping={"state": "new", "route_index": 0})
            pipe.hdel(key, "inflight", "inflight_at", "error")
            pipe.execute()

    def iter_messages(self):
        """Every message hash with plain fields only (no recipient, no body), with its id."""
        prefix = MESSAGE.format(id="")
        for key in self.redis.scan_iter(match=prefix + "*", count=500):
            raw = self.redis.hgetall(key)
            if raw:
                row = {k.decode(): v.decode() for k, v in raw.items() if not k.startswith(b"enc:")}
                row["id"] = key.decode()[len(prefix) :]
                row["has_body"] = "1" if b"enc:body" in raw else ""
                yield row

    def purge_message(self, message_id: str) -> None:
        """Drop a message's recipient and body; its route, state and size stay for reports."""
        self.redis.hdel(MESSAGE.format(id=message_id), "enc:to", "enc:body")
