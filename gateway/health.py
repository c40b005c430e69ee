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
from rq import Queue, Worker, cron_scheduler_registry
from rq.exceptions import NoSuchJobError
from rq.job import Job

from gateway.jobs import QUEUES, queue_depths
from gateway.message import MessageState
from gateway.store import Store

log = logging.getLogger(__name__)

OK, DEGRADED, UNAVAILABLE = "ok", "degraded", "unavailable"


@dataclass(frozen=True)
class Limits:
    """Seconds past which a check fails (settings HEALTH_WORKER_STALE, HEALTH_QUEUE_AGE,
    HEALTH_SCHEDULE_LATE and HEALTH_PHONE_SILENT)."""

    worker_stale: int = 120
    queue_age: int = 120
    schedule_late: int = 60
    phone_silent: int = 5400  # an Android phone unheard for longer (its app killed, no data)

    @classmethod
    def of(cls, settings) -> Limits:
        return cls(
            worker_stale=settings.health_worker_stale,
            queue_age=settings.health_queue_age,
            schedule_late=settings.health_schedule_late,
            phone_silent=settings.health_phone_silent,
        )


Reason = dict[str, object]
Check = Callable[[Store, Limits, float], "Reason | list[Reason] | None"]


def workers_alive(store: Store, limits: Limits, now: float) -> Reason | None:
    """A worker of every queue sent a heartbeat within `worker_stale` seconds."""
    for name in QUEUES:
        queue = Queue(name, connection=store.redis)
        beats = [w.last_heartbeat for w in Worker.all(queue=queue) if w.last_heartbeat]
        newest = max((b.timestamp() for b in beats), default=None)
        if newest is None or now - newest > limits.worker_stale:
            return {
                "check": "workers",
                "queue": name,
                "detail": _stale("worker", limits.worker_stale, newest, now),
            }
    return None


def clock_alive(store: Store, limits: Limits, now: float) -> Reason | None:
    """The clock (RQ's cron scheduler, which also runs the watch) sent a heartbeat within
    `worker_stale` seconds: without it no sweep, no reconciliation and no one watching."""
    beats = store.redis.zrange(cron_scheduler_registry.get_registry_key(), -1, -1, withscores=True)
    newest = beats[0][1] if beats else None
    if newest is None or now - newest > limits.worker_stale:
        return {"check": "clock", "detail": _stale("clock", limits.worker_stale, newest, now)}
    return None


def _stale(who: str, limit: float, newest: float | None, now: float) -> str:
    last = "never" if newest is None else f"{now - newest:.0f} s ago"
    return f"no {who} heartbeat within {limit} s (last: {last})"


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


FAILED_RECENT = 86400  # seconds: a job that failed longer ago no longer fails the check
FAILED_LOOKED_AT = 50  # the newest failed jobs read (a long failed list must not slow /healthz)


def failed_jobs(store: Store, limits: Limits, now: float) -> Reason | None:
    """No job failed for good in the last day and waits in the dashboard's failed list to be
    replayed. An older one stays replayable there (30 days) without keeping /healthz
    degraded: the watch told of it when it came."""
    for name in QUEUES:
        registry = Queue(name, connection=store.redis).failed_job_registry
        newest = [i.decode() for i in store.redis.zrevrange(registry.key, 0, FAILED_LOOKED_AT - 1)]
        jobs = [j for j in Job.fetch_many(newest, connection=store.redis) if j is not None]
        recent = [
            j for j in jobs if j.ended_at is None or now - j.ended_at.timestamp() < FAILED_RECENT
        ]
        if recent:
            return {
                "check": "failed jobs",
                "queue": name,
                "detail": f"{len(recent)} jobs failed in the last day and wait to be replayed"
                f" from the dashboard ({registry.count} failed jobs kept in all)",
            }
    return None


# A route fails when, over the last hour, more than this share of its sends were refused, or of
# its delivery reports said not delivered, once it had at least ROUTE_MINIMUM of them.
ROUTE_FAILING = 0.5
ROUTE_MINIMUM = 5
NOT_DELIVERED = (MessageState.UNDELIVERED, MessageState.FAILED)
NOT_ROUTES = ("digest", "none")  # counted beside the routes: held for a digest, dropped


def routes_delivering(store: Store, limits: Limits, now: float) -> list[Reason]:
    """Each route, over the last hour: most sends taken by the provider, most reports
    delivered (an SMS provider that refuses, a SIM out of credit)."""
    reasons = []
    for route, states in sorted(store.metrics.recent(now).items()):
        if route in NOT_ROUTES:
            continue
        refused, taken = states.get("error", 0), states.get(MessageState.QUEUED, 0)
        lost = sum(states.get(s, 0) for s in NOT_DELIVERED)
        reports = lost + states.get(MessageState.DELIVERED, 0)
        if refused + taken >= ROUTE_MINIMUM and refused > ROUTE_FAILING * (refused + taken):
            detail = f"{refused} of {refused + taken} sends refused in the last hour"
        elif reports >= ROUTE_MINIMUM and lost > ROUTE_FAILING * reports:
            detail = f"{lost} of {reports} SMS reported not delivered in the last hour"
        else:
            continue
        reasons.append({"check": "route", "route": route, "detail": detail})
    return reasons


PHONE_FORGOTTEN = 7 * 86400  # a phone unheard for longer is no longer watched


def phones_heard(store: Store, limits: Limits, now: float) -> list[Reason]:
    """Every Android phone that sent a webhook was heard from within `phone_silent` seconds
    (the app sends system:ping; battery savers kill it, a phone loses its data). One unheard
    for a week is forgotten: a phone replaced, or an app reinstalled under a new deviceId."""
    reasons = []
    for (route, phone), at in sorted(store.watching.last_heard().items()):
        if now - at > PHONE_FORGOTTEN:  # taken out of service (or its app reinstalled)
            store.watching.forget(route, phone)
            continue
        if now - at > limits.phone_silent:
            minutes = (now - at) / 60
            reasons.append(
                {
                    "check": f"{route} phone",
                    "route": route,
                    "phone": phone,
                    "detail": f"{route} phone {phone} not heard from for {minutes:.0f} minutes",
                }
            )
    return reasons


SELFTEST_GRACE = 3600  # seconds a route's daily self-test has to be reported delivered


def selftests_delivered(store: Store, limits: Limits, now: float) -> list[Reason]:
    """Each route's newest daily self-test SMS was reported delivered within an hour."""
    reasons = []
    for route, test in sorted(store.watching.selftests().items()):
        if now - test["at"] < SELFTEST_GRACE:
            continue
        state = store.messages.state(test["message"]) or "missing"
        if state != MessageState.DELIVERED:
            reasons.append(
                {
                    "check": "self-test",
                    "route": route,
                    "detail": f"today's test SMS on {route} was not delivered (it is {state})",
                }
            )
    return reasons


# Every check /healthz runs, in order (a check returns one reason, or a list of them).
CHECKS: list[Check] = [
    redis_memory,
    workers_alive,
    clock_alive,
    queue_moving,
    schedule_on_time,
    failed_jobs,
    routes_delivering,
    phones_heard,
    selftests_delivered,
    nothing_held_back,
]
# What the watch tells a person about (gateway/usecases/watch.py): not messages held back, which
# the duty officer of the district hears of already (the flood notice).
WATCHED: list[Check] = [c for c in CHECKS if c is not nothing_held_back]


def results(store: Store, limits: Limits, now: float, checks: list[Check]) -> dict:
    """Check name -> the reasons it gives (raises when Redis cannot be reached)."""
    found = {check.__name__: check(store, limits, now) for check in checks}
    return {name: r if isinstance(r, list) else [r] if r else [] for name, r in found.items()}


def run(store: Store, limits: Limits, now: float, checks: list[Check]) -> list[Reason]:
    """The reasons the checks give, in order (raises when Redis cannot be reached)."""
    return [r for found in results(store, limits, now, checks).values() for r in found]


def assess(
    store: Store, limits: Limits, now: float | None = None, checks: list[Check] | None = None
) -> tuple[int, dict]:
    """(HTTP status, JSON body) of /healthz: 200 ok, 503 degraded with reasons, 503 unavailable."""
    now = time.time() if now is None else now
    try:
        store.ping()
        depths = queue_depths(store.redis)
        found = results(store, limits, now, CHECKS if checks is None else checks)
        reasons = [r for listed in found.values() for r in listed]
    except (redis.ConnectionError, redis.TimeoutError) as error:
        log.warning("healthz: redis unreachable: %s", type(error).__name__)
        return 503, {"status": UNAVAILABLE, "redis": {"reachable": False}}
    body: dict = {"status": DEGRADED if reasons else OK, "redis": {"reachable": True}}
    if reasons:
        body["reasons"] = reasons
        log.warning("healthz: degraded: %s", "; ".join(str(r["detail"]) for r in reasons))
    body["checks"] = {name: "failing" if listed else "ok" for name, listed in found.items()}
    body["queues"] = depths
    return (503 if reasons else 200), body
