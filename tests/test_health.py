"""/healthz: ok only when a worker is alive, the queue moves and timers fire on time."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
from rq import Queue, Worker
from rq.cron import CronScheduler

from config.settings import Settings
from gateway import health
from gateway.jobs import ALERTS_QUEUE
from testing.env import make_env


@pytest.fixture
def store(app):
    return app.extensions["hamdam"].store


@pytest.fixture
def worker(redis_client):
    """A registered RQ worker of the alerts queue with a fresh heartbeat (no work loop), and a
    clock (RQ's cron scheduler) that just sent its heartbeat."""
    alive = Worker([Queue(ALERTS_QUEUE, connection=redis_client)], connection=redis_client)
    alive.register_birth()
    clock = CronScheduler(connection=redis_client, name="test-clock")
    clock.register_birth()
    yield alive
    clock.register_death()
    alive.register_death()


def reasons(store, now=None, **limits):
    status, body = health.assess(store, health.Limits(**limits), now=now)
    return status, body["status"], [r["check"] for r in body.get("reasons", [])]


def test_ok_with_a_live_worker(client, worker):
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "ok"
    assert body["redis"] == {"reachable": True}
    assert body["queues"]["alerts"] == {"queued": 0, "started": 0, "scheduled": 0, "failed": 0}
    assert "reasons" not in body


def test_degraded_without_a_worker(client):
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.get_json()
    assert body["status"] == "degraded"
    assert body["redis"] == {"reachable": True}
    reason, clock = body["reasons"]  # nor a clock
    assert reason["check"] == "workers" and "never" in reason["detail"]
    assert clock["check"] == "clock" and "never" in clock["detail"]
    assert body["checks"]["workers_alive"] == body["checks"]["clock_alive"] == "failing"
    assert body["checks"]["queue_moving"] == "ok"


def test_degraded_when_the_worker_heartbeat_is_stale(store, worker):
    assert reasons(store) == (200, "ok", [])
    later = time.time() + 121
    assert reasons(store, now=later) == (503, "degraded", ["workers", "clock"])
    assert reasons(store, now=later, worker_stale=300) == (200, "ok", [])


def test_degraded_when_the_oldest_queued_job_is_too_old(store, worker, redis_client):
    Queue(ALERTS_QUEUE, connection=redis_client).enqueue("workers.jobs.sweep")
    assert reasons(store, now=time.time() + 100, worker_stale=999) == (200, "ok", [])
    status, word, checks = reasons(store, now=time.time() + 121, worker_stale=999)
    assert (status, word, checks) == (503, "degraded", ["queue"])


def test_degraded_when_scheduled_jobs_are_overdue(store, worker, redis_client):
    due = datetime.now(UTC) + timedelta(seconds=30)
    Queue(ALERTS_QUEUE, connection=redis_client).enqueue_at(due, "workers.jobs.sweep")
    assert reasons(store, now=time.time() + 80, worker_stale=999) == (200, "ok", [])
    assert reasons(store, now=time.time() + 95, worker_stale=999) == (
        503,
        "degraded",
        ["scheduler"],
    )


def test_degraded_when_redis_is_at_maxmemory(client, store, worker, redis_client):
    used = int(redis_client.info("memory")["used_memory"])
    # Below what is used: memory freed meanwhile (a key expiring, a script cache trimmed) must
    # not bring it back under the limit before the second look.
    redis_client.config_set("maxmemory", str(int(used * 0.9)))
    try:
        assert reasons(store) == (503, "degraded", ["redis memory"])
        time.sleep(1.1)  # the answer's latency metric is written now, and answered OOM
        response = client.get("/healthz")
        assert response.status_code == 503, response.text
        assert response.get_json()["reasons"][0]["check"] == "redis memory"
    finally:
        redis_client.config_set("maxmemory", "0")
    assert reasons(store) == (200, "ok", [])


def test_every_reason_is_named(store, redis_client):
    queue = Queue(ALERTS_QUEUE, connection=redis_client)
    queue.enqueue("workers.jobs.sweep")
    queue.enqueue_at(datetime.now(UTC), "workers.jobs.sweep")
    status, word, checks = reasons(store, now=time.time() + 3600)
    assert (status, word, checks) == (503, "degraded", ["workers", "clock", "queue", "scheduler"])


def test_an_extra_check_joins_the_report(store, worker):
    def held(store, limits, now):
        return {"check": "held", "detail": "2 messages held"}

    status, body = health.assess(store, health.Limits(), checks=[*health.CHECKS, held])
    assert status == 503 and [r["check"] for r in body["reasons"]] == ["held"]


def test_limits_come_from_settings(tmp_path, redis_url):
    env = make_env(redis_url, tmp_path, HEALTH_WORKER_STALE="30", HEALTH_QUEUE_AGE="15")
    limits = health.Limits.of(Settings.from_env(env))
    assert limits == health.Limits(worker_stale=30, queue_age=15, schedule_late=60)


def test_degraded_when_messages_were_dropped_or_held_this_hour(store, worker):
    now = time.time()
    store.messages.record_unsent("m-held", now - 120)
    status, state, checks = reasons(store, now=now)
    assert (status, state, checks) == (503, "degraded", ["messages"])
    later = reasons(store, now=now + 3600, worker_stale=7200)
    assert later[2] == []  # an hour later it is history


def test_a_job_failed_in_the_last_day_degrades_and_an_older_one_stays_only_replayable(
    store, worker, redis_client
):
    from datetime import UTC, datetime, timedelta

    from rq.job import Job

    registry = Queue(ALERTS_QUEUE, connection=redis_client).failed_job_registry
    job = Job.create("bench.jobs.noop", args=(1,), connection=redis_client, id="failed-once")
    job.ended_at = datetime.now(UTC) - timedelta(days=2)
    registry.add(job, ttl=30 * 86400, exc_string="a test failure")
    assert reasons(store) == (200, "ok", [])  # told when it came; still replayable
    fresh = Job.create("bench.jobs.noop", args=(2,), connection=redis_client, id="failed-now")
    fresh.ended_at = datetime.now(UTC)
    registry.add(fresh, ttl=30 * 86400, exc_string="a test failure")
    status, body = health.assess(store, health.Limits())
    assert status == 503 and [r["check"] for r in body["reasons"]] == ["failed jobs"]
    assert "1 jobs failed in the last day" in body["reasons"][0]["detail"]
    assert "(2 failed jobs kept in all)" in body["reasons"][0]["detail"]
