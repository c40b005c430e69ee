"""`make run` end to end: Redis started when none answers, web + worker + clock up, a process
that exits is restarted, Ctrl-C stops all."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time

import psutil
import pytest
import redis
import requests
from rq import Worker

from config.settings import ROOT
from gateway import localredis
from tests.processes import RUN_MARK, session_members, wait_for

START_TIMEOUT = 120  # seconds: Redis, gunicorn and RQ start slowly on a busy 2-core machine
RESTART_LIMIT = 15  # seconds from a worker's death to a new worker taking jobs


class Launched:
    """`python -m gateway.launch` in a session of its own, with its Redis on a free port."""

    def __init__(self, tmp_path):
        self.web_port = localredis.free_port()
        self.redis_url = f"redis://127.0.0.1:{localredis.free_port()}/0"
        assert not localredis.reachable(self.redis_url)
        self.base = f"http://127.0.0.1:{self.web_port}"
        self.var = tmp_path / "var"
        env = {
            "PATH": os.environ["PATH"],
            "HOME": str(tmp_path),
            "REDIS_URL": self.redis_url,
            "PORT": str(self.web_port),
            "VAR_DIR": str(self.var),
            RUN_MARK: os.environ[RUN_MARK],  # see tests/processes.py
        }
        self.log = (tmp_path / "run.log").open("w+")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gateway.launch"],
            cwd=ROOT,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            self.health = wait_for(self._ready, START_TIMEOUT, f"make run ready:\n{self.output()}")
        except BaseException:
            self.kill()
            raise

    def _ready(self):
        if self.proc.poll() is not None:
            raise AssertionError(f"make run exited with {self.proc.returncode}:\n{self.output()}")
        try:
            health = requests.get(self.base + "/healthz", timeout=5)
            if health.status_code == 200 and self.workers():
                return health
        except (requests.RequestException, redis.RedisError):
            pass  # not up yet, or slow to answer: try again
        return None

    def workers(self) -> list[Worker]:
        client = redis.Redis.from_url(self.redis_url, socket_timeout=5)
        try:
            return Worker.all(connection=client)
        finally:
            client.close()

    def output(self) -> str:
        self.log.seek(0)
        return self.log.read()

    def interrupt(self) -> int:
        """What Ctrl-C in the terminal does; make run's exit code."""
        os.killpg(self.proc.pid, signal.SIGINT)
        return self.proc.wait(60)

    def kill(self) -> None:
        """End make run and everything it started, whatever state they are in."""
        members = session_members(self.proc.pid)
        children = []
        with contextlib.suppress(psutil.Error):
            children = psutil.Process(self.proc.pid).children(recursive=True)
        for proc in [psutil.Process(p) for p in members if psutil.pid_exists(p)] + children:
            with contextlib.suppress(psutil.Error):
                proc.kill()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)
        self.log.close()


@pytest.fixture
def launched(tmp_path):
    running = Launched(tmp_path)
    yield running
    if running.proc.poll() is None:
        running.interrupt()
    running.kill()  # whatever a failed test left


def test_run_starts_redis_web_and_worker_and_stops_them(launched):
    health = launched.health
    output = launched.output()
    assert health.json()["status"] == "ok"
    assert health.json()["queues"]["alerts"]["queued"] == 0
    workers = launched.workers()  # the Procfile's pool of send workers
    assert workers and all(w.queue_names() == ["alerts"] for w in workers)
    assert "started redis-server" in output
    assert f"try it: {launched.base}/simulator" in output
    assert requests.get(launched.base + "/simulator", timeout=10).status_code == 200
    assert (launched.var / "secrets.json").is_file()
    assert launched.interrupt() == 0
    assert not localredis.reachable(launched.redis_url)
    assert "stopped redis-server" in launched.output()


def children_running(launched, marker: str) -> list[psutil.Process]:
    """make run's live children whose command line holds `marker` (zombies skipped)."""
    found = []
    for child in psutil.Process(launched.proc.pid).children():
        with contextlib.suppress(psutil.Error):
            if child.status() != psutil.STATUS_ZOMBIE and marker in " ".join(child.cmdline()):
                found.append(child)
    return found


def test_run_restarts_a_process_that_exits(launched):
    before = {w.pid for w in launched.workers()}
    [pool] = children_running(launched, "worker-pool")
    [clock] = children_running(launched, "workers.clock")
    for process in (pool, *pool.children(recursive=True)):
        with contextlib.suppress(psutil.Error):
            process.kill()  # a crash of the whole worker process: no goodbye to Redis
    clock.kill()
    killed = time.monotonic()

    def replaced():
        return [w for w in launched.workers() if w.pid not in before]

    wait_for(replaced, RESTART_LIMIT, f"a new worker:\n{launched.output()}")
    took = time.monotonic() - killed
    web = requests.get(launched.base + "/healthz", timeout=10)
    assert web.status_code == 200, web.text  # the web was not taken down with the worker
    wait_for(lambda: children_running(launched, "workers.clock"), RESTART_LIMIT, "a new clock")
    output = launched.output()
    assert "worker | exited with code -9; restarting in 1 s" in output
    print(f"worker restarted {took:.1f} s after it was killed")
    assert launched.interrupt() == 0
    assert not localredis.reachable(launched.redis_url)
