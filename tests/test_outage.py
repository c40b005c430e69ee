"""The Procfile's worker and clock ride out Redis outages: restarts, refusals, maxmemory."""

from __future__ import annotations

import os
import time

import psutil
import pytest
import redis
from rq import Queue, Retry, Worker
from rq.cron import CronScheduler
from rq.executions import ExecutionRegistry
from rq.job import JobStatus

from gateway import localredis
from gateway.jobs import ALERTS_QUEUE
from testing.env import make_env
from testing.processes import OwnRedis, process_env, procfile, spawn, stop_group, wait_for

DOWN_FOR = 5  # seconds; long enough for several failed attempts of every loop


@pytest.fixture
def own_redis(tmp_path):
    server = OwnRedis(tmp_path / "redis")
    yield server
    server.stop()


@pytest.fixture
def worker_and_clock(own_redis, tmp_path):
    """The worker and clock lines of the Procfile, started while Redis is down."""
    own_redis.stop()
    env = process_env(make_env(own_redis.url, tmp_path / "var"), localredis.free_port())
    (tmp_path / "logs").mkdir()
    procs = {
        name: spawn(procfile()[name], env, tmp_path / "logs" / f"{name}.log")
        for name in ("worker", "clock")
    }
    yield procs
    for proc in procs.values():
        stop_group(proc)


def logs(tmp_path) -> str:
    return "\n".join(p.read_text() for p in sorted((tmp_path / "logs").iterdir()))


def alive(procs, tmp_path):
    for name, proc in procs.items():
        assert proc.poll() is None, f"{name} exited with {proc.returncode}:\n{logs(tmp_path)}"


def pool_workers(pids) -> set[int]:
    """The send workers of the Procfile's `worker` process (a pool: they are its children)."""
    return {child.pid for child in psutil.Process(pids["worker"]).children()}


def registered(client, pids, clock: bool = True) -> bool:
    workers = {w.pid for w in Worker.all(connection=client)}
    ours = pool_workers(pids)
    # The clock renews its registration at its next beat (within 60 s) after a Redis that lost
    # its data: checked on start only.
    return bool(ours) and ours <= workers and (not clock or len(CronScheduler.all(client)) == 1)


def runs_a_job(client, tmp_path) -> None:
    job = Queue(ALERTS_QUEUE, connection=client).enqueue("time.sleep", 0)
    finished = wait_for(
        lambda: job.get_status() == JobStatus.FINISHED, 60, f"a job done:\n{logs(tmp_path)}"
    )
    assert finished


def test_worker_and_clock_ride_out_redis_outages(own_redis, worker_and_clock, tmp_path):
    procs = worker_and_clock
    pids = {name: proc.pid for name, proc in procs.items()}
    time.sleep(DOWN_FOR)  # both started with no Redis to talk to
    alive(procs, tmp_path)
    own_redis.start()
    client = own_redis.client()
    wait_for(
        lambda: registered(client, pids), 60, f"worker and clock registered:\n{logs(tmp_path)}"
    )
    senders = pool_workers(pids)

    # Redis goes away while a job runs and is back after the job ended: the worker records
    # what it can once Redis answers, and Redis (no AOF here) has forgotten the worker.
    job = Queue(ALERTS_QUEUE, connection=client).enqueue("time.sleep", 2)
    wait_for(lambda: job.get_status() == JobStatus.STARTED, 60, "the job started")
    own_redis.stop()
    time.sleep(DOWN_FOR)
    alive(procs, tmp_path)
    own_redis.start()
    wait_for(lambda: registered(client, pids, clock=False), 60, f"back:\n{logs(tmp_path)}")
    runs_a_job(client, tmp_path)

    # Redis at maxmemory (noeviction): every write answers OOM for a while.
    client.config_set("maxmemory", "1")
    time.sleep(DOWN_FOR)
    client.config_set("maxmemory", "0")
    alive(procs, tmp_path)
    runs_a_job(client, tmp_path)
    assert {name: proc.pid for name, proc in procs.items()} == pids
    assert pool_workers(pids) == senders  # no send worker died and was replaced either
    client.close()


def write_a_key(key: str, after: float) -> None:
    """A job (run by the worker): wait, then write to Redis."""
    time.sleep(after)
    redis.Redis.from_url(os.environ["REDIS_URL"]).set(key, "written")


def test_a_job_failed_by_a_full_redis_is_given_back_without_spending_a_retry(
    own_redis, worker_and_clock, tmp_path
):
    procs = worker_and_clock
    own_redis.start()
    client = own_redis.client()
    pids = {name: proc.pid for name, proc in procs.items()}
    wait_for(lambda: registered(client, pids, clock=False), 60, f"worker:\n{logs(tmp_path)}")
    job = Queue(ALERTS_QUEUE, connection=client).enqueue(
        write_a_key, "hd:test:written", 1.0, retry=Retry(max=1)
    )
    wait_for(lambda: job.get_status() == JobStatus.STARTED, 60, "the job started")
    client.config_set("maxmemory", "1")  # its write answers OOM, and so would a retry now
    time.sleep(DOWN_FOR)
    client.config_set("maxmemory", "0")
    wait_for(
        lambda: job.get_status() in (JobStatus.FINISHED, JobStatus.FAILED),
        60,
        "the job settled",
    )
    job.refresh()
    assert job.get_status() == JobStatus.FINISHED, logs(tmp_path)
    assert client.get("hd:test:written") == b"written"
    assert job.retries_left == 1  # Redis being away was not the job's failure
    alive(procs, tmp_path)
    client.close()


def test_a_job_a_dead_worker_had_started_finishes_without_spending_a_retry(
    own_redis, worker_and_clock, tmp_path
):
    """A worker killed mid-job leaves its execution listed 60 s longer than the execution's
    record; RQ 2.12 then failed the job once another worker finished it (finished jobs are
    deleted at once, with their executions)."""
    procs = worker_and_clock
    own_redis.start()
    client = own_redis.client()
    pids = {name: proc.pid for name, proc in procs.items()}
    wait_for(lambda: registered(client, pids, clock=False), 60, f"worker:\n{logs(tmp_path)}")
    queue = Queue(ALERTS_QUEUE, connection=client)
    job_id = "test-taken-over"
    # What the dead worker left: its execution listed, the execution's record expired.
    client.zadd(ExecutionRegistry(job_id, client).key, {"deadbeef": time.time() + 60})
    job = queue.enqueue(
        write_a_key, "hd:test:written", 0.0, job_id=job_id, result_ttl=0, retry=Retry(max=1)
    )
    wait_for(lambda: client.get("hd:test:written"), 60, f"the job ran:\n{logs(tmp_path)}")
    wait_for(lambda: not job.exists(job_id, connection=client), 30, "the finished job deleted")
    assert queue.failed_job_registry.count == 0, logs(tmp_path)
    assert "not found in Redis" not in logs(tmp_path)
    alive(procs, tmp_path)
    client.close()
