"""Shared pieces of the bench: server processes, CPU accounting, a generated directory."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import psutil

from gateway.localredis import free_port
from testing.processes import process_env, procfile, spawn, stop_group, wait_for, web_answers

HZ = os.sysconf("SC_CLK_TCK")
# The Twilio route pointed at testing/fakes.py FakeTwilio (its URL is added per run).
TWILIO = {
    "SMS_ROUTES": "twilio",
    "TWILIO_ACCOUNT_SID": "AC00000000000000000000000000000000",
    "TWILIO_AUTH_TOKEN": "twilio-bench-auth-token",
    "TWILIO_FROM": "+15005550006",
    "SEND_RATE": "1000",  # the highest allowed: the route's rate limit is not what is measured
}
GATEWAY_APP = "'gateway.app:create_app()'"
BARE_APP = "bench.bare:app"
FLOOR_APP = "bench.floor:app"  # bare plus one Redis read and one pipelined write


def web_command(app: str = GATEWAY_APP) -> str:
    """The Procfile's web line, serving `app` instead of the gateway when asked."""
    command = procfile()["web"]
    if GATEWAY_APP not in command:
        raise RuntimeError(f"Procfile web line no longer serves {GATEWAY_APP}: {command}")
    return command.replace(GATEWAY_APP, app)


class Web:
    """One gunicorn started from the Procfile's web line (the worker is left out on purpose)."""

    def __init__(self, env: dict[str, str], log: Path, app: str = GATEWAY_APP):
        self.port = free_port()
        self.env = process_env(env, self.port)
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        self.proc = spawn(web_command(app), self.env, log)
        try:
            wait_for(self._ready, 90, f"gunicorn serving {app} (log: {log})")
        except BaseException:
            self.stop()
            raise

    def _ready(self) -> bool:
        if self.proc.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {self.proc.returncode}; see {self.log}")
        return web_answers(self.url)  # no worker here on purpose: a degraded 503 will do

    def pids(self) -> list[int]:
        """The master and its workers."""
        try:
            master = psutil.Process(self.proc.pid)
            return [master.pid] + [c.pid for c in master.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def stop(self) -> None:
        """SIGTERM the process group, SIGKILL what lingers."""
        stop_group(self.proc)


def box_busy() -> float:
    """Busy CPU seconds of the whole machine since boot (every core)."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    return (sum(values) - values[3] - values[4]) / HZ


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds of these processes (dead ones count as zero)."""
    total = 0.0
    for pid in pids:
        try:
            times = psutil.Process(pid).cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


def wait_quiet(limit: float = 15.0, cores: float = 0.25) -> float:
    """Wait (up to `limit` s) for a 1 s window with less than `cores` busy; the last load seen."""
    deadline = time.monotonic() + limit
    while True:
        before = box_busy()
        time.sleep(1.0)
        load = box_busy() - before
        if load < cores or time.monotonic() > deadline:
            return load


def percentile(samples: list[float], p: float) -> float:
    """Nearest-rank percentile (0 for no samples)."""
    if not samples:
        return 0.0
    ordered = sorted(samples)
    rank = max(1, min(len(ordered), round(p / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


BENCH_DISTRICTS = 40


def write_directory(path: Path, districts: int = BENCH_DISTRICTS) -> list[str]:
    """A directory of `districts` districts with two tier-1 group leaders each; their ids."""
    # The example directory's first district has two group leaders, and the gateway sends one
    # phone at most 30 SMS an hour (loop protection): 200 cases need their alerts spread.
    ids = [f"bd{k:02d}" for k in range(1, districts + 1)]
    lines = [
        "organisations:",
        "  - id: bench",
        '    name: "Bench network"',
        "    duty_officer: bench-duty",
        f"    default_district: {ids[0]}",
        "districts:",
    ]
    for k, district in enumerate(ids, 1):
        names = json.dumps({lang: f"D{k:02d}" for lang in ("tg", "ru", "uz", "en")})
        lines += [f"  - id: {district}", "    organisation: bench", f"    names: {names}"]
    lines += [
        "responders:",
        "  - id: bench-duty",
        '    name: "Duty"',
        '    phone: "+992900049999"',
        "    role: duty",
        "    tier: 2",
        "    languages: [en]",
    ]
    for k, district in enumerate(ids, 1):
        for r in (1, 2):
            lines += [
                f"  - id: {district}-group-{r}",
                f'    name: "Leader {k}.{r}"',
                f'    phone: "+99290004{k:02d}{r:02d}"',
                "    role: group",
                "    tier: 1",
                "    languages: [en]",
                f"    districts: [{district}]",
            ]
    path.write_text("\n".join(lines) + "\n")
    return ids
