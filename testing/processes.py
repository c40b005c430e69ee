"""The Procfile's processes, started for a test exactly as the Procfile says, and stopped."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import redis
import requests
from rq import Worker

from config.settings import ROOT
from gateway import localredis, redisclient
from gateway.localredis import free_port

# Every process the test run starts carries this variable in its environment (its value is set
# once per run in tests/conftest.py), so one that outlived the run is found even after its
# parent died and it was adopted.
RUN_MARK = "HAMDAM_TEST_RUN"


def procfile() -> dict[str, str]:
    """Process name -> command line, from the Procfile."""
    lines = (ROOT / "Procfile").read_text().splitlines()
    return dict(line.split(": ", 1) for line in lines if line.strip())


def wait_for(check, timeout: float = 30.0, what: str = "condition"):
    """Poll `check` until it returns something truthy; fail naming `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def process_env(env: dict[str, str], port: int) -> dict[str, str]:
    """The environment a Procfile process gets here: loopback, the virtualenv first on PATH."""
    mark = {RUN_MARK: os.environ[RUN_MARK]} if RUN_MARK in os.environ else {}
    return {
        **env,
        **mark,  # tests/conftest.py finds a process of the run that outlived it by this mark
        "PORT": str(port),
        "HOST": "127.0.0.1",
        "PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"],
        "PYTHONUNBUFFERED": "1",
    }


def spawn(command: str, env: dict[str, str], log: Path) -> subprocess.Popen:
    """Run a Procfile command line in its own process group, output to `log`."""
    with log.open("w") as out:
        return subprocess.Popen(
            ["sh", "-c", f"exec {command}"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def web_answers(base: str) -> bool:
    """True once the web process serves /healthz with Redis reachable (a degraded gateway
    answers 503 until its worker is up: the web is serving all the same)."""
    try:
        response = requests.get(base + "/healthz", timeout=5)
        return response.status_code == 200 or response.json()["redis"]["reachable"] is True
    except (requests.RequestException, ValueError, KeyError, TypeError):
        return False  # not listening yet, slow to answer on a busy machine, or not JSON


def healthy(base: str) -> bool:
    """True when /healthz says ok: web, Redis and a live worker."""
    try:
        return requests.get(base + "/healthz", timeout=5).status_code == 200
    except requests.RequestException:
        return False


def stop_group(proc: subprocess.Popen, grace: float = 20) -> None:
    """SIGTERM a process group started by `spawn` (as a platform would), SIGKILL what lingers."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        pass
    # What is left of the session: the group (the scheduler), and a work-horse, which RQ puts
    # in a process group of its own but stays in the session `spawn` opened.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    for pid in session_members(proc.pid):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(5)


def session_members(sid: int) -> list[int]:
    """Live processes of the session `sid` (a `spawn`ed process is its session's leader)."""
    members = []
    for pid in psutil.pids():
        with contextlib.suppress(OSError):
            if pid != os.getpid() and os.getsid(pid) == sid:
                members.append(pid)
    return members


class Processes:
    """Web, worker and clock from the Procfile with the given environment; logs in var/logs.

    Ready when /healthz says ok (a worker included); a start that fails stops what it spawned.
    """

    START_TIMEOUT = 90  # seconds: a busy 2-core machine imports Flask, RQ and Twilio slowly

    def __init__(self, env: dict[str, str], var: Path):
        self.port = int(env.get("PORT") or free_port())
        self.env = process_env(env, self.port)
        self.base = f"http://127.0.0.1:{self.port}"
        self.logs = var / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.procs: dict[str, subprocess.Popen] = {}
        try:
            for name, command in procfile().items():
                self.procs[name] = spawn(command, self.env, self.logs / f"{name}.log")
            wait_for(self._ready, self.START_TIMEOUT, "/healthz ok (web, Redis and a worker)")
        except BaseException:
            self.stop()
            raise

    def _ready(self) -> bool:
        for name, proc in self.procs.items():
            if proc.poll() is not None:
                raise RuntimeError(
                    f"{name} exited with {proc.returncode} during start:\n{self.log_text()}"
                )
        if not healthy(self.base):
            return False
        client = redisclient.connect(self.env["REDIS_URL"], socket_timeout=5)
        try:
            return bool(Worker.all(connection=client))
        finally:
            client.close()

    def log_text(self) -> str:
        """Everything the processes printed so far."""
        return "\n".join(p.read_text() for p in sorted(self.logs.iterdir()))

    def stop(self) -> None:
        """Stop every process group, leaving none behind."""
        for proc in self.procs.values():
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs.values():
            stop_group(proc)


class OwnRedis:
    """A redis-server of a test's own on a fixed port and data folder, so it can be stopped,
    restarted and frozen without touching the suite's."""

    def __init__(self, data: Path, appendonly: bool = False, options: tuple[str, ...] = ()):
        self.port = free_port()
        self.data = data
        self.appendonly = appendonly
        self.options = options
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc = localredis.start(self.port, data, appendonly=appendonly, options=options)

    def start(self) -> None:
        self.proc = localredis.start(
            self.port, self.data, appendonly=self.appendonly, options=self.options
        )

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url, socket_timeout=5)

    def freeze(self) -> None:
        os.killpg(self.proc.pid, signal.SIGSTOP)

    def thaw(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGCONT)

    def stop(self, sig: int = signal.SIGTERM) -> None:
        """SIGTERM (Redis flushes its AOF) or another signal (SIGKILL: a crash); a frozen
        server is thawed first."""
        self.thaw()
        if sig == signal.SIGTERM:
            localredis.stop(self.proc)
        elif self.proc.poll() is None:
            os.killpg(self.proc.pid, sig)
            self.proc.wait(20)
