"""What the bench reads from Redis and RQ: memory per key, finished jobs, send rates."""

from __future__ import annotations

import statistics
import time
from contextlib import contextmanager

import redis
from rq import Queue, Worker
from rq.job import Job
from rq.suspension import resume, suspend

from config.settings import Settings
from gateway.jobs import ALERTS_QUEUE
from gateway.privacy import Vault
from gateway.store.keys import OPEN_CASES
from testing.fakes import FakeTwilio
from testing.processes import wait_for


def wait_sent(fake: FakeTwilio, needle: str, timeout: float) -> float | None:
    """When the fake provider received a message containing `needle` (None after timeout)."""
    deadline = time.monotonic() + timeout
    seen = 0
    while time.monotonic() < deadline:
        with fake.lock:
            fresh = fake.sent[seen:]
            seen += len(fresh)
        for sent in fresh:
            if needle in sent.body:
                return sent.at
        time.sleep(0.002)
    return None


def memory_usage(client: redis.Redis, keys: list) -> int:
    """Sum of MEMORY USAGE (exact, SAMPLES 0) over keys; missing keys count zero."""
    total = 0
    for start in range(0, len(keys), 500):
        with client.pipeline(transaction=False) as pipe:
            for key in keys[start : start + 500]:
                pipe.memory_usage(key, samples=0)
            total += sum(v or 0 for v in pipe.execute())
    return total


def case_memory(client: redis.Redis, settings: Settings) -> dict:
    """Redis bytes per open case: the gateway's keys (store/keys.py), her profile, RQ's jobs."""
    ids = [i.decode() for i in client.zrange(OPEN_CASES, 0, -1)]
    n = max(1, len(ids))
    queue = Queue(ALERTS_QUEUE, connection=client)
    waiting = {*queue.scheduled_job_registry.get_job_ids(), *queue.job_ids}
    vault = Vault(settings.data_keys)
    keys: list[tuple[str, str]] = []  # (group, key)
    by_case: dict[str, list[str]] = {}
    for key in client.scan_iter(match="hd:msg:*", count=1000):
        case = client.hget(key, "case")
        if case:
            by_case.setdefault(case.decode(), []).append(key.decode())
    for case_id in ids:
        fields = client.hgetall(f"hd:case:{case_id}")
        ref = fields[b"ref"].decode()
        keys += [("gateway", f"hd:case:{case_id}"), ("gateway", f"hd:ref:{ref}")]
        keys.append(("gateway", f"hd:alerted:{case_id}"))
        jobs = [f"plan-{case_id}", f"esc-{case_id}-1"]
        for key in by_case.get(case_id, []):
            mid = key.split(":", 2)[2]
            keys.append(("gateway", key))
            provider = client.hget(key, "provider_id")
            if provider:
                keys.append(("gateway", f"hd:provider:twilio:{provider.decode()}"))
            jobs += [f"send-{mid}", f"rcpt-{mid}"]
        # A job still waiting (a timer not yet due) is the case's future work; a job that
        # ran and is still stored is what a year of cases would pile up.
        for j in jobs:
            group = "rq_waiting" if j in waiting else "rq"
            keys += [(group, f"rq:job:{j}"), (group, f"rq:results:{j}")]
        if b"enc:phone" in fields:
            phone = vault.decrypt(fields[b"enc:phone"])
            keys.append(("profile", f"hd:phone:{vault.digest(phone)}"))
    # Shared keys are charged in full, split evenly over the cases.
    keys += [("gateway", OPEN_CASES), ("rq", "rq:finished:alerts")]
    keys += [("rq_waiting", "rq:scheduled:alerts")]
    sizes = [memory_usage(client, [key]) for _, key in keys]
    groups: dict[str, float] = {}
    classes: dict[str, float] = {}
    for (group, key), size in zip(keys, sizes, strict=True):
        groups[group] = groups.get(group, 0) + size / n
        name = ":".join(key.split(":", 2)[:2])
        classes[name] = classes.get(name, 0) + size / n
    return {
        "cases": len(ids),
        "messages_per_case": sum(len(v) for v in by_case.values()) / n,
        "gateway_bytes": groups.get("gateway", 0.0),
        "phone_profile_bytes": groups.get("profile", 0.0),
        "rq_bytes": groups.get("rq", 0.0),  # jobs that ran, still stored
        "rq_waiting_bytes": groups.get("rq_waiting", 0.0),  # timers not yet due
        "kept_bytes": sum(groups.get(g, 0.0) for g in ("gateway", "profile", "rq")),
        "total_bytes": sum(groups.values()),
        "by_key_class": {k: round(v) for k, v in sorted(classes.items(), key=lambda kv: -kv[1])},
    }


@contextmanager
def paused(client: redis.Redis, queue: Queue):
    """Hold the worker while jobs are enqueued, so they are run back to back afterwards."""
    suspend(client)
    # A worker blocked in BLMOVE only sees the suspension after one more job: give each of the
    # pool's workers one.
    for _ in Worker.all(connection=client):
        queue.enqueue("bench.jobs.noop", -1)
    try:
        wait_for(lambda: suspended(client), 60, "the worker to pause")
        yield
    finally:
        resume(client)


def suspended(client: redis.Redis) -> bool:
    """True when every worker reports itself suspended."""
    workers = Worker.all(connection=client)
    return bool(workers) and all(w.get_state() == "suspended" for w in workers)


def finished(client: redis.Redis, ids: list[str]) -> bool:
    """True when every one of these jobs has ended."""
    return all(j is not None and j.ended_at for j in Job.fetch_many(ids, connection=client))


def arrival_rate(times: list[float]) -> dict:
    """Messages per second from the first arrival to the last (at the fake provider)."""
    if len(times) < 2:
        return {"n": len(times), "per_s": 0.0, "ms_per_job": 0.0}
    span = max(times) - min(times)
    return {
        "n": len(times),
        "per_s": (len(times) - 1) / span if span > 0 else 0.0,
        "ms_per_job": 1000 * span / (len(times) - 1),
    }


def rq_rate(client: redis.Redis, ids: list[str], prefix: str) -> dict:
    """Jobs per second from the first start to the last end among these jobs (RQ's own stamps)."""
    jobs = [
        j
        for j in Job.fetch_many([i for i in ids if i.startswith(prefix)], connection=client)
        if j is not None and j.started_at and j.ended_at
    ]
    if not jobs:
        return {"n": 0, "per_s": 0.0, "ms_per_job": 0.0}
    first = min(j.started_at for j in jobs)
    last = max(j.ended_at for j in jobs)
    span = (last - first).total_seconds()
    busy = statistics.fmean((j.ended_at - j.started_at).total_seconds() for j in jobs)
    return {
        "n": len(jobs),
        "per_s": len(jobs) / span if span > 0 else 0.0,
        "ms_per_job": 1000 * span / len(jobs),
        "ms_in_job": 1000 * busy,
    }
