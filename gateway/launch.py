"""`make run`: check settings, make sure Redis answers (starting one if needed), run Procfile.

Every Procfile process runs under a small supervisor: one that exits is started again after a
backoff (1 s, doubling to 30 s, back to 1 s once it has run for a minute), as a platform does,
instead of taking the others down with it. Ctrl-C (or SIGTERM) stops them all and exits 0.
A port already in use stops it before anything starts (another `make run` would otherwise share
the first one's Redis and take its jobs).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from config.settings import ROOT, Settings, load, record_run
from gateway import localredis, redisclient


def _say(line: str) -> None:
    sys.stderr.write(f"hamdam: {line}\n")
    sys.stderr.flush()


def _bind_host() -> str:
    return os.environ.get("HOST") or "127.0.0.1"  # make run binds loopback unless told


def port_free(host: str, port: int) -> bool:
    """True when the web process could listen on host:port (bound as gunicorn binds it)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def _prepare(settings: Settings) -> tuple[dict[str, str], subprocess.Popen | None]:
    """The environment for the Procfile processes, and the Redis started for them if any."""
    env = dict(os.environ)
    try:
        url, redis_proc = localredis.ensure(settings.redis_url, settings.var_dir / "redis")
    except RuntimeError as error:
        _say(f"cannot start: {error}")
        raise SystemExit(2) from None
    where = redisclient.where(url)
    if redis_proc:
        _say(f"started redis-server on {where} (AOF on, data in {settings.var_dir / 'redis'})")
    else:
        _say(f"using the Redis that answers at {where}")
    env["REDIS_URL"] = url
    env["HOST"] = _bind_host()
    env["PORT"] = str(settings.port)
    env["PYTHONUNBUFFERED"] = "1"
    # gunicorn and rq are console scripts of this virtualenv.
    env["PATH"] = os.pathsep.join([os.path.dirname(sys.executable), env.get("PATH", "")])
    return env, redis_proc


FIRST_RESTART = 1.0  # seconds before restarting a process that exited
LONGEST_RESTART = 30.0
STEADY = 60.0  # a process that ran this long restarts after FIRST_RESTART again
STOP_GRACE = 20.0  # seconds between SIGTERM and SIGKILL when stopping


def read_procfile(path: Path) -> dict[str, str]:
    """Process name -> command line."""
    entries = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, command = line.split(":", 1)
            entries[name.strip()] = command.strip()
    return entries


class Child:
    """One Procfile process: its command, the running process, its restart backoff."""

    def __init__(self, name: str, command: str):
        self.name, self.command = name, command
        self.proc: subprocess.Popen | None = None
        self.started = 0.0
        self.delay = FIRST_RESTART
        self.restart_at: float | None = None


class Supervisor:
    """Runs Procfile processes, restarts one that exits, stops all on request."""

    def __init__(self, procfile: dict[str, str], env: dict[str, str], cwd: Path, out=None):
        self.children = [Child(name, command) for name, command in procfile.items()]
        self.env, self.cwd = env, cwd
        self.out = out or sys.stdout
        self.width = max(len(name) for name in procfile)
        self.stopping = threading.Event()
        self.lock = threading.Lock()

    def line(self, name: str, text: str) -> None:
        with self.lock:
            self.out.write(f"{time.strftime('%H:%M:%S')} {name:<{self.width}} | {text}\n")
            self.out.flush()

    def start(self, child: Child) -> None:
        # A session of its own: Ctrl-C reaches only us, and we stop the process's whole group.
        child.proc = subprocess.Popen(
            ["sh", "-c", f"exec {child.command}"],
            cwd=self.cwd,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        child.started = time.monotonic()
        child.restart_at = None
        self.line(child.name, f"started with pid {child.proc.pid}")
        threading.Thread(target=self._relay, args=(child.name, child.proc), daemon=True).start()

    def _relay(self, name: str, proc: subprocess.Popen) -> None:
        for raw in iter(proc.stdout.readline, b""):
            self.line(name, raw.decode("utf-8", "replace").rstrip("\n"))
        proc.stdout.close()

    def run(self) -> int:
        """Start every process and keep them running until stop(); returns 0."""
        try:
            self._supervise()
        finally:
            self.stop_all()
        return 0

    def _supervise(self) -> None:
        for child in self.children:
            self.start(child)
        while not self.stopping.wait(0.2):
            now = time.monotonic()
            for child in self.children:
                if child.restart_at is not None:
                    if now >= child.restart_at:
                        self.start(child)
                    continue
                code = child.proc.poll()
                if code is None:
                    continue
                # What it left in its group (RQ's scheduler process) goes with it; a work-horse
                # has a group of its own and finishes its job.
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(child.proc.pid, signal.SIGKILL)
                if now - child.started >= STEADY:
                    child.delay = FIRST_RESTART
                child.restart_at = now + child.delay
                self.line(child.name, f"exited with code {code}; restarting in {child.delay:.0f} s")
                child.delay = min(LONGEST_RESTART, child.delay * 2)

    def stop(self, *_signal) -> None:
        self.stopping.set()

    def stop_all(self) -> None:
        running = [c.proc for c in self.children if c.proc is not None and c.proc.poll() is None]
        for proc in running:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE
        for proc in running:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(max(0.1, deadline - time.monotonic()))
        for child in self.children:
            if child.proc is not None:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(child.proc.pid, signal.SIGKILL)  # what did not stop in time
                child.proc.wait()
        self.line("hamdam", "stopped every process")


def _take_terminal() -> contextlib.AbstractContextManager:
    """Make this process's group the terminal's foreground while it runs, if it runs in the
    foreground of one (as under `make run`); give the terminal back to the old group after.

    Ctrl-C signals the terminal's foreground group. `make` would get SIGINT with us and, once we
    stopped cleanly, kill itself with it ("Error 130"); in a group of our own only we get it.
    """
    stack = contextlib.ExitStack()
    try:
        tty = os.open("/dev/tty", os.O_RDWR | os.O_NOCTTY)
    except OSError:
        return stack  # no controlling terminal: signals come from whoever started us
    stack.callback(os.close, tty)
    try:
        before = os.tcgetpgrp(tty)
    except OSError:
        return stack
    if before != os.getpgrp() or os.getpgrp() == os.getpid():
        return stack  # in the background, or already a group of our own (a shell's job)
    os.setpgid(0, 0)
    _set_foreground(tty, os.getpgrp())
    stack.callback(_set_foreground, tty, before)
    # Ctrl-Z would stop us alone while `make` waits in the shell's foreground job: ignore it.
    signal.signal(signal.SIGTSTP, signal.SIG_IGN)
    return stack


def _set_foreground(tty: int, group: int) -> None:
    # A group that is not (or no longer) in the foreground gets SIGTTOU for this: block it.
    old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTTOU})
    try:
        with contextlib.suppress(OSError):
            os.tcsetpgrp(tty, group)
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def main(argv: list[str] | None = None) -> int:
    """Run the Procfile's processes under the supervisor until Ctrl-C; returns 0."""
    parser = argparse.ArgumentParser(
        prog="make run",
        description="Start the Hamdam gateway: web on http://127.0.0.1:$PORT, an RQ worker with "
        "the scheduler, the clock, and a local redis-server when REDIS_URL does not answer. "
        "A process that exits is restarted. "
        "Configuration comes from the environment only (see the README's settings table).",
    )
    parser.parse_args(argv)
    settings = load()
    if not port_free(_bind_host(), settings.port):
        _say(f"cannot start: port {settings.port} is in use (another make run? set PORT=...)")
        return 2
    with _take_terminal():
        return _run(settings)


def _run(settings: Settings) -> int:
    env, redis_proc = _prepare(settings)
    record_run(settings, env)
    routes = ",".join(settings.sms_routes)
    _say(f"mode {settings.env}; SMS routes: {routes}")
    if settings.generated:
        _say(
            f"development secrets ({', '.join(settings.generated)}) are kept in "
            f"{settings.var_dir / 'secrets.json'}"
        )
    base = f"http://127.0.0.1:{settings.port}"
    if settings.simulator:
        _say(f"try it: {base}/simulator  (a phone and the responders' inboxes)")
    # How to read the password, never the password (the banner goes to logs and screens).
    password = (
        "bin/hamdam operators password"
        if "OPERATOR_PASSWORD" in settings.generated
        else "the OPERATOR_PASSWORD you set"
    )
    user = settings.operator_user
    _say(f"operators: {base}/rq  (user {user}; password: {password}); health: {base}/healthz")
    _say("operator commands, with these settings: bin/hamdam --help")
    _say("a process that exits is restarted; Ctrl-C stops everything")
    supervisor = Supervisor(read_procfile(ROOT / "Procfile"), env, ROOT)
    signal.signal(signal.SIGINT, supervisor.stop)
    signal.signal(signal.SIGTERM, supervisor.stop)
    signal.signal(signal.SIGHUP, supervisor.stop)  # the terminal closed
    try:
        return supervisor.run()
    finally:
        localredis.stop(redis_proc)
        if redis_proc:
            _say("stopped redis-server")


if __name__ == "__main__":
    raise SystemExit(main())
