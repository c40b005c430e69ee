"""Failure drills: the Procfile's processes against a Redis and fake providers of their own."""

# Skipped unless asked for (`pytest tests/drills --drills`, or HAMDAM_DRILLS=1): each drill
# takes seconds to minutes of real time. Each prints what it checked and its figures in a
# "drill report" section at the end of the run.

from __future__ import annotations

import os
from pathlib import Path

import pytest

from testing import drill
from testing.processes import OwnRedis

HERE = Path(__file__).parent
ENABLE_ENV = "HAMDAM_DRILLS"
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


@pytest.fixture
def drill_redis(tmp_path):
    """A throwaway Redis with AOF on, as production runs it."""
    server = OwnRedis(tmp_path / "redis", appendonly=True)
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def leak_scan(drill_redis, report):
    """After each drill (its gateway stopped, its Redis not yet): no survivor number or text she
    typed, and no responder number, in clear in any process log, spool file or Redis value."""
    drill.SURVIVORS.clear()
    drill.INPUTS.clear()
    drill.VARS.clear()
    yield
    if drill_redis.proc.poll() is not None:  # a drill that failed while Redis was away
        drill_redis.start()
    client = drill_redis.client()
    try:
        found = drill.wait_until(lambda: drill.answers(client), 30) and drill.leaks(client)
    finally:
        client.close()
    assert found, "the drill's Redis never answered the leak scan"
    found, scanned = found
    report(f"leak scan: {scanned}; found in clear: {len(found)}")
    for line in found[:20]:
        report(f"  {line}")
    assert not found, f"{len(found)} leak(s), e.g. {found[:5]}"
