"""Failure drills: the Procfile's processes against a Redis and fake providers of their own."""

# Skipped unless asked for (`pytest tests/drills --drills`, or HAMDAM_DRILLS=1): each drill
# takes seconds to minutes of real time. Each prints what it checked and its figures in a
# "drill report" section at the end of the run.

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path

import psutil
import pytest
import redis
import requests

from bench.common import TWILIO, help_request, write_directory
from gateway import localredis
from tests.conftest import make_env
from tests.fakes import FakeAndroid, FakeTwilio
from tests.processes import Processes, procfile, spawn

HERE = Path(__file__).parent
ENABLE_ENV = "HAMDAM_DRILLS"
ANDROID = {
    "ANDROID_GATEWAY_USER": "gateway",
    "ANDROID_GATEWAY_PASSWORD": "gateway-password",
    "ANDROID_WEBHOOK_SECRET": "android-drill-signing-key",
}
_REPORT: list[str] = []


def pytest_addoption(parser):
    parser.addoption("--drills", action="store_true", help="run the failure drills in tests/drills")


def pytest_configure(config):
    config.addinivalue_line("markers", "drill: a slow failure drill (run with --drills)")


def _enabled(config) -> bool:
    return bool(config.getoption("--drills", default=False)) or os.environ.get(ENABLE_ENV) == "1"


def pytest_collection_modifyitems(config, items):
    if _enabled(config):
        return
    skip = pytest.mark.skip(reason=f"drill: run with --drills or {ENABLE_ENV}=1 (make drills)")
    for item in items:
        if HERE in Path(str(item.fspath)).parents:
            item.add_marker(skip)


def pytest_terminal_summary(terminalreporter):
    if _REPORT:
        terminalreporter.section("drill report")
        for line in _REPORT:
            terminalreporter.write_line(line)


@pytest.fixture
def report(request):
    """say(line): one line of this drill's report (also printed at once, for -s)."""
    name = request.node.name
    _REPORT.append(f"[{name}]")

    def say(line: str) -> None:
        _REPORT.append(f"  {line}")
        print(f"[{name}] {line}", flush=True)

    return say


class DrillRedis:
    """A redis-server of the drill's own on a fixed port and directory, so it can restart."""

    def __init__(self, data: Path, appendonly: bool):
        self.port = localredis.free_port()
        self.data = data
        self.appendonly = appendonly
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc = localredis.start(self.port, data, appendonly=appendonly)

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, sig)
            self.proc.wait(20)

    def start(self) -> None:
        self.proc = localredis.start(self.port, self.data, appendonly=self.appendonly)

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url, socket_timeout=5)


@pytest.fixture
def drill_redis(tmp_path):
    """A throwaway Redis with AOF on, as production runs it."""
    server = DrillRedis(tmp_path / "redis", appendonly=True)
    yield server
    server.stop()


class DrillGateway(Processes):
    """Web and worker from the Procfile, a fake Twilio (and Android), the bench directory."""

    def __init__(
        self,
        redis_url: str,
        var: Path,
        android: bool = False,
        twilio: type[FakeTwilio] = FakeTwilio,
        **extra: str,
    ):
        self.twilio = twilio()
        self.android = FakeAndroid() if android else None
        directory = var / "directory.yaml"
        var.mkdir(parents=True, exist_ok=True)
        self.districts = write_directory(directory)
        settings = {
            "DIRECTORY_FILE": str(directory),
            "TWILIO_API_URL": self.twilio.url,
            **TWILIO,
            "SEND_RETRY_DELAYS": "1",
        }
        if self.android is not None:
            settings.update(ANDROID, SMS_ROUTES="twilio,android")
            settings["ANDROID_GATEWAY_URL"] = self.android.url
        env = make_env(redis_url, var, **{**settings, **extra})
        self.http = requests.Session()
        self.spare = 0
        super().__init__(env, var)

    @property
    def ussd_url(self) -> str:
        return f"{self.base}/ussd/africastalking?key={self.env['USSD_KEY']}"

    def ask_for_help(self, phone: str, index: int = 0, strict: bool = True) -> str | None:
        """One English help request from `phone` to district number `index`; its reference."""
        label = f"D{index % len(self.districts) + 1:02d}"
        ref, _ = help_request(self.http, self.ussd_url, phone, label, strict=strict)
        return ref

    def start_worker(self) -> subprocess.Popen:
        """Another worker from the Procfile line, as a platform restarts a dead process."""
        self.spare += 1
        name = f"worker-{self.spare}"
        proc = spawn(procfile()["worker"], self.env, self.logs / f"{name}.log")
        self.procs[name] = proc
        return proc

    def stop(self) -> None:
        super().stop()
        # A work-horse runs in a process group of its own and outlives a worker that crashed
        # (a Redis outage): end whatever still talks to this drill's Redis.
        for proc in psutil.process_iter(["pid", "environ"]):
            mine = (proc.info["environ"] or {}).get("REDIS_URL") == self.env["REDIS_URL"]
            if mine and proc.pid != os.getpid():
                with contextlib.suppress(psutil.NoSuchProcess):
                    proc.kill()
        self.http.close()
        self.twilio.close()
        if self.android is not None:
            self.android.close()


def sent_about(fake, ref: str) -> list:
    """Messages a fake provider accepted that carry this reference."""
    with fake.lock:
        return [s for s in fake.sent if f"#{ref}" in s.body]


def wait_until(check, timeout: float, step: float = 0.2):
    """Poll `check` until truthy or `timeout` s passed; its last value either way."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(step)
