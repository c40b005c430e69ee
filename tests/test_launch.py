"""`make run` end to end: Redis started when none answers, web + worker + clock up, a process
that exits is restarted, Ctrl-C stops all; `bin/hamdam` finds what `make run` used."""

from __future__ import annotations

import contextlib
import json
import os
import pty
import signal
import socket
import subprocess
import sys
import threading
import time

import psutil
import pytest
import redis
import requests
from rq import Worker

from config.settings import ROOT
from gateway import localredis
from gateway.store import keys
from testing.processes import RUN_MARK, session_members, wait_for

START_TIMEOUT = 120  # seconds: Redis, gunicorn and RQ start slowly on a busy 2-core machine
RESTART_LIMIT = 15  # seconds from a worker's death to a new worker taking jobs


# Runs `make run` on a terminal of its own: `make` is the leader of a new session whose
# controlling terminal is `terminal` (-o: never install into the shared virtualenv from a test).
MAKE_ON_A_TERMINAL = (
    "import fcntl, os, sys, termios; fcntl.ioctl(0, termios.TIOCSCTTY, 0); "
    "os.execvp('make', ['make', '-o', '.venv/.runtime', 'run'])"
)


class Launched:
    """`python -m gateway.launch` in a session of its own, with its Redis on a free port; or,
    with `make=True`, `make run` on a pseudo-terminal of its own, as typed in a terminal."""

    def __init__(self, tmp_path, make: bool = False):
        self.web_port = localredis.free_port()
        self.redis_url = f"redis://127.0.0.1:{localredis.free_port()}/0"
        assert not localredis.reachable(self.redis_url)
        self.base = f"http://127.0.0.1:{self.web_port}"
        self.var = tmp_path / "var"
        self.env = {
            "PATH": os.environ["PATH"],
            "HOME": str(tmp_path),
            "REDIS_URL": self.redis_url,
            "PORT": str(self.web_port),
            "VAR_DIR": str(self.var),
            RUN_MARK: os.environ[RUN_MARK],  # see testing/processes.py
        }
        self.log = (tmp_path / "run.log").open("w+")
        self.terminal = None
        if make:
            self.terminal, tty = pty.openpty()
            self.proc = subprocess.Popen(
                [sys.executable, "-c", MAKE_ON_A_TERMINAL],
                cwd=ROOT,
                env=self.env,
                stdin=tty,
                stdout=tty,
                stderr=tty,
                start_new_session=True,
            )
            os.close(tty)
            self.relay = threading.Thread(target=self._read_terminal, daemon=True)
            self.relay.start()
        else:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "gateway.launch"],
                cwd=ROOT,
                env=self.env,
                stdout=self.log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            self.health = wait_for(self._ready, START_TIMEOUT, f"make run ready:\n{self.output()}")
        except BaseException:
            self.kill()
            raise

    def _read_terminal(self) -> None:
        """What the terminal shows, into the log (a full terminal would block the writers)."""
        with contextlib.suppress(OSError):  # EIO once every writer has gone
            while chunk := os.read(self.terminal, 4096):
                self.log.write(chunk.decode("utf-8", "replace"))
                self.log.flush()

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
        with open(self.log.name) as log:
            return log.read()

    def interrupt(self) -> int:
        """What Ctrl-C in the terminal does; make run's exit code."""
        if self.terminal is not None:
            os.write(self.terminal, b"\x03")  # the terminal signals its foreground group
        else:
            os.killpg(self.proc.pid, signal.SIGINT)
        code = self.proc.wait(60)
        if self.terminal is not None:
            self.relay.join(10)
        return code

    def kill(self) -> None:
        """End make run and everything it started, whatever state they are in."""
        end_all(self.proc)
        if self.terminal is not None:
            self.relay.join(10)  # reads until the last process holding the terminal is gone
            with contextlib.suppress(OSError):
                os.close(self.terminal)
        self.log.close()


def end_all(started: subprocess.Popen) -> None:
    """End a process started in a session of its own and everything it started."""
    members = session_members(started.pid)
    children = []
    with contextlib.suppress(psutil.Error):
        children = psutil.Process(started.pid).children(recursive=True)
    for pid in members:
        with contextlib.suppress(psutil.Error):
            children.append(psutil.Process(pid))
    for proc in children:
        with contextlib.suppress(psutil.Error):
            proc.kill()
    with contextlib.suppress(ProcessLookupError):
        os.killpg(started.pid, signal.SIGKILL)
    started.wait(10)


@pytest.fixture
def launched(tmp_path):
    running = Launched(tmp_path)
    yield running
    if running.proc.poll() is None:
        running.interrupt()
    running.kill()  # whatever a failed test left


def hamdam(launched, *args: str) -> subprocess.CompletedProcess:
    """`bin/hamdam ARGS` from another shell: the same VAR_DIR, nothing else of make run's."""
    env = {k: v for k, v in launched.env.items() if k not in ("REDIS_URL", "PORT")}
    return subprocess.run(
        [str(ROOT / "bin" / "hamdam"), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


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
    # The operator commands find make run's Redis on its port (no REDIS_URL given to them).
    reloaded = hamdam(launched, "directory", "reload")
    assert reloaded.returncode == 0, reloaded.stderr
    assert "version" in reloaded.stdout and "is live" in reloaded.stdout
    client = redis.Redis.from_url(launched.redis_url)
    try:
        assert client.get(keys.DIRECTORY_GEN) == b"1"
    finally:
        client.close()
    report = hamdam(launched, "report")
    assert report.returncode == 0, report.stderr
    # The banner says how to read the generated operator password, and never shows it.
    password = json.loads((launched.var / "secrets.json").read_text())["OPERATOR_PASSWORD"]
    assert "(user operator; password: bin/hamdam operators password)" in output
    shown = hamdam(launched, "operators", "password")
    assert shown.returncode == 0 and shown.stdout == password + "\n"
    assert launched.interrupt() == 0
    assert not localredis.reachable(launched.redis_url)
    assert "stopped redis-server" in launched.output()
    assert password not in launched.output()


def test_ctrl_c_in_the_terminal_stops_make_run_with_status_0(tmp_path):
    running = Launched(tmp_path, make=True)
    try:
        assert f"try it: {running.base}/simulator" in running.output()
        assert running.interrupt() == 0, running.output()
        assert not localredis.reachable(running.redis_url)
        output = running.output()
        assert "stopped every process" in output and "stopped redis-server" in output
        assert "Error" not in output and "Interrupt" not in output
    finally:
        running.kill()


def test_a_busy_port_stops_make_run_before_it_starts_anything(tmp_path):
    port = localredis.free_port()
    redis_url = f"redis://127.0.0.1:{localredis.free_port()}/0"
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "REDIS_URL": redis_url,
        "PORT": str(port),
        "VAR_DIR": str(tmp_path / "var"),
        RUN_MARK: os.environ[RUN_MARK],
    }
    with socket.create_server(("127.0.0.1", port)):  # the first make run's web process
        second = subprocess.Popen(
            [sys.executable, "-m", "gateway.launch"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        try:
            out, err = second.communicate(timeout=60)
        finally:
            end_all(second)  # what it started, had it not refused
    assert second.returncode == 2
    assert err.splitlines()[-1] == (
        f"hamdam: cannot start: port {port} is in use (another make run? set PORT=...)"
    )
    assert "try it" not in err + out
    assert not localredis.reachable(redis_url)  # no Redis started, no worker joined one
    assert not (tmp_path / "var" / "redis").exists()


def test_first_install_shows_pip_progress(tmp_path):
    """The first `make run` / `make test` installs for minutes: pip must not be silenced."""
    venv = tmp_path / "venv"
    planned = subprocess.run(
        ["make", "-n", "-W", "requirements.txt", f"VENV={venv}", f"{venv}/.dev"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout
    installs = [line for line in planned.splitlines() if "pip install" in line]
    assert len(installs) == 2, planned  # runtime, then test tools
    for line in installs:
        assert "--quiet" not in line.split() and "-q" not in line.split(), line
    said = subprocess.run(
        ["sh", "-c", next(line for line in planned.splitlines() if "pinned requirements" in line)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    lines = (ROOT / "requirements.txt").read_text().splitlines()
    pinned = [line for line in lines if line.strip() and not line.lstrip().startswith("#")]
    assert said.startswith(f"installing {len(pinned)} pinned requirements"), said


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
