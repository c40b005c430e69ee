"""`make run` end to end: Redis started when none answers, web + worker up, Ctrl-C stops all."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import redis
import requests
from rq import Worker

from config.settings import ROOT
from gateway import localredis


def test_run_starts_redis_web_and_worker_and_stops_them(tmp_path):
    redis_port, web_port = localredis.free_port(), localredis.free_port()
    redis_url = f"redis://127.0.0.1:{redis_port}/0"
    assert not localredis.reachable(redis_url)
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "REDIS_URL": redis_url,
        "PORT": str(web_port),
        "VAR_DIR": str(tmp_path / "var"),
    }
    with (tmp_path / "run.log").open("w+") as log:
        _run_and_interrupt(env, log, web_port, redis_url, tmp_path)


def _run_and_interrupt(env, log, web_port, redis_url, tmp_path):
    proc = subprocess.Popen(
        [sys.executable, "-m", "gateway.launch"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        health = None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                health = requests.get(f"http://127.0.0.1:{web_port}/healthz", timeout=2)
                client = redis.Redis.from_url(redis_url)
                if health.status_code == 200 and Worker.all(connection=client):
                    break
            except requests.ConnectionError:
                pass
            time.sleep(0.3)
        log.seek(0)
        output = log.read()
        assert health is not None and health.status_code == 200, output
        assert health.json()["queues"]["alerts"]["queued"] == 0
        workers = Worker.all(connection=redis.Redis.from_url(redis_url))  # the Procfile's pool
        assert workers and all(w.queue_names() == ["alerts"] for w in workers)
        assert "started redis-server" in output
        assert f"try it: http://127.0.0.1:{web_port}/simulator" in output
        assert requests.get(f"http://127.0.0.1:{web_port}/simulator", timeout=5).status_code == 200
        assert (tmp_path / "var" / "secrets.json").is_file()
    finally:
        os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in the terminal does
        proc.wait(40)
    assert not localredis.reachable(redis_url)
    log.seek(0)
    assert "stopped redis-server" in log.read()
