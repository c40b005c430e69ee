"""The Procfile's processes, started for a test exactly as the Procfile says, and stopped."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import redis
import requests
from rq import Worker

from config.settings import ROOT
from gateway.localredis import free_port


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
    return {
        **env,
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


class Processes:
    """Web and worker from the Procfile with the given environment; logs under `var/logs`."""

    def __init__(self, env: dict[str, str], var: Path):
        self.port = int(env.get("PORT") or free_port())
        self.env = process_env(env, self.port)
        self.base = f"http://127.0.0.1:{self.port}"
        self.logs = var / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.procs: dict[str, subprocess.Popen] = {}
        for name, command in procfile().items():
            self.procs[name] = spawn(command, self.env, self.logs / f"{name}.log")
        client = redis.Redis.from_url(self.env["REDIS_URL"])
        wait_for(self._healthy, 30, "web /healthz")
        wait_for(lambda: Worker.all(connection=client), 30, "an RQ worker")
        client.close()

    def _healthy(self) -> bool:
        try:
            return requests.get(self.base + "/healthz", timeout=2).status_code == 200
        except requests.RequestException:  # refused, or still loading the app (read timeout)
            return False

    def log_text(self) -> str:
        """Everything the processes printed so far."""
        return "\n".join(p.read_text() for p in sorted(self.logs.iterdir()))

    def stop(self) -> None:
        """SIGTERM every process group (as a platform would), SIGKILL what lingers."""
        for proc in self.procs.values():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)
