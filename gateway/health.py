"""What /healthz reports: ok, degraded (with every reason) or unavailable.

`ok` means more than "Redis answers": a worker is alive to send alerts, the queue moves and the
scheduler moves retries and escalation timers on time. Each check is a function of the store,
the limits and the current time that returns a reason, or None when all is well; add a check
to CHECKS (a count of messages held back, for instance) and /healthz reports it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import redis
from rq import Queue, Worker
from rq.exceptions import NoSuchJobError

from gateway.jobs import QUEUES, queue_depths
from gateway.store import Store

log = logging.getLogger(__name__)

OK, DEGRADED, UNAVAILABLE = "ok", "degraded", "unavailable"


@dataclass(frozen=True)
class Limits:
    """Seconds past which a check fails (settings HEALTH_WORKER_STALE, HEALTH_QUEUE_AGE and
    HEALTH_SCHEDULE_LATE)."""

    worker_stale: int = 120
    queue_age: int = 120
    schedule_late: int = 60

    @classmethod
    def of(cls, settings) -> Limits:
        return cls(
            worker_stale=settings.health_worker_stale,
            queue_age=settings.health_queue_age,
            schedule_late=settings.health_schedule_late,
        )


Reason = dict[str, object]
Check = Callable[[Store, Limits, float], "Reason | None"]


def workers_alive(store: Store, limits: Limits, now: float) -> Reason | None:
    """A worker of every queue sent a heartbeat within `worker_stale` seconds."""
    for name in QUEUES:
        queue = Queue(name, connection=store.redis)
        beats = [w.last_heartbeat for w in Worker.all(queue=queue) if w.last_heartbeat]
        newest = max((b.timestamp() for b in beats), default=None)
        if newest is None or now - newest > limits.worker_stale:
            seen = "never" if newest is None else f"{now - newest:.0f} s ago"
            return {
                "check": "workers",
                "queue": name,
                "detail": f"no worker heartbeat within {limits.worker_stale} s (last: {seen})",
            }
    return None


def queue_moving(store: Store, limits: Limits, now: float) -> Reason | None:
    """The oldest job waiting in each queue was queued less than `queue_age` seconds ago."""
    for name in QUEUES:
        queue = Queue(name, connection=store.redis)
        for job_id in queue.get_job_ids(0, 1):
            try:
                job = queue.fetch_job(job_id)
            except NoSuchJobError:
                job = None
            if job is None or job.enqueued_at is None:
                continue
            age = now - job.enqueued_at.timestamp()
            if age > limits.queue_age:
                return {
                    "check": "queue",
                    "queue": name,
                    "detail": f"oldest queued job waits {age:.0f} s (limit {limits.queue_age} s)",
                }
    return None


def schedule_on_time(store: Store, limits: Limits, now: float) -> Reason | None:
    """No scheduled job (a retry, an escalation timer) is overdue by `schedule_late` seconds."""
    for name in QUEUES:
        registry = Queue(name, connection=store.redis).scheduled_job_registry
        first = store.redis.zrange(registry.key, 0, 0, withscores=True)
        if first and now - first[0][1] > limits.schedule_late:
            late = now - first[0][1]
            return {
                "check": "scheduler",
                "queue": name,
                "detail": f"a scheduled job is {late:.0f} s late (limit {limits.schedule_late} s)",
            }
    return None


MEMORY_FULL = 0.95  # of maxmemory: past this, Redis (noeviction) is about to refuse writes


def redis_memory(store: Store, limits: Limits, now: float) -> Reason | None:
    """Redis is not at its maxmemory, where every write (a case, an alert) answers OOM."""
    memory = store.redis.info("memory")
    most, used = int(memory.get("maxmemory", 0)), int(memory.get("used_memory", 0))
    if most and used >= MEMORY_FULL * most:
        return {
            "check": "redis memory",
            "detail": f"Redis uses {used} of its maxmemory {most} bytes: writes fail when full",
        }
    return None


def nothing_held_back(store: Store, limits: Limits, now: float) -> Reason | None:
    """No message was dropped, or held for a responder's digest, in the last hour: either means
    alerts no longer go out one by one (a flood, a loop), which someone should look at."""
    count = store.messages.unsent_last_hour(now)
    if count:
        return {
            "check": "messages",
            "detail": f"{count} messages dropped or held for a digest in the last hour",
        }
    return None


# Every check /healthz runs, in order.
CHECKS: list[Check] = [
    redis_memory,
    workers_alive,
    queue_moving,
    schedule_on_time,
    nothing_held_back,
]


def assess(
    store: Store, limits: Limits, now: float | None = None, checks: list[Check] | None = None
) -> tuple[int, dict]:
    """(HTTP status, JSON body) of /healthz: 200 ok, 503 degraded with reasons, 503 unavailable."""
    now = time.time() if now is None else now
    try:
        store.ping()
        depths = queue_depths(store.redis)
        reasons = [
            r
            for check in (CHECKS if checks is None else checks)
            if (r := check(store, limits, now))
        ]
    except (redis.ConnectionError, redis.TimeoutError) as error:
        log.warning("healthz: redis unreachable: %s", type(error).__name__)
        return 503, {"status": UNAVAILABLE, "redis": {"reachable": False}}
    body: dict = {"status": DEGRADED if reasons else OK, "redis": {"reachable": True}}
    if reasons:
        body["reasons"] = reasons
        log.warning("healthz: degraded: %s", "; ".join(str(r["detail"]) for r in reasons))
    body["queues"] = depths
    return (503 if reasons else 200), body
