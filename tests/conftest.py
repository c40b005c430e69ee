"""Shared fixtures: a real Redis (started here when none answers), settings, app and client."""

from __future__ import annotations

import contextlib
import os
import uuid

import psutil
import pytest
import redis

from config.settings import Settings
from gateway import localredis
from testing.app import app_with
from testing.app import live_env as live_env_for
from testing.env import make_env
from testing.fakes import FakeAndroid, FakeTwilio
from testing.processes import RUN_MARK

# A throwaway redis-server of the test session's own, so no test ever flushes a database that
# someone else may be using (and two suites on one machine never take each other's RQ jobs).
# TEST_REDIS_URL is an opt-in for a Redis you own: its database is flushed before every test.
TEST_REDIS_URL = os.environ.get("TEST_REDIS_URL", "")


# The mark of this run's processes (see testing/processes.py): children inherit it.
os.environ.setdefault(RUN_MARK, uuid.uuid4().hex)


def leftover_processes() -> list[psutil.Process]:
    """Processes of this test run still alive: descendants of pytest, or marked as ours."""
    me = psutil.Process()
    found = {p.pid: p for p in me.children(recursive=True)}
    mark = os.environ[RUN_MARK]
    for proc in psutil.process_iter(["pid"]):
        if proc.pid == me.pid or proc.pid in found:
            continue
        with contextlib.suppress(psutil.Error):
            if proc.environ().get(RUN_MARK) == mark:
                found[proc.pid] = proc
    alive = []
    for proc in found.values():
        with contextlib.suppress(psutil.Error):
            if proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE:
                alive.append(proc)
    return alive


@pytest.hookimpl(trylast=True)  # after pytest's own teardown of session fixtures
def pytest_sessionfinish(session, exitstatus):
    """Fail the run when a process it started is still alive at the end (and end it)."""
    leftovers = leftover_processes()
    if not leftovers:
        return
    lines = []
    for proc in leftovers:
        with contextlib.suppress(psutil.Error):
            lines.append(f"pid {proc.pid}: {' '.join(proc.cmdline())[:160]}")
            proc.kill()
    psutil.wait_procs(leftovers, timeout=10)
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    message = f"{len(lines)} process(es) of the test run outlived it (killed now):"
    if reporter is not None:
        reporter.ensure_newline()
        reporter.write_sep("=", "processes left running", red=True)
        reporter.write_line(message)
        for line in lines:
            reporter.write_line("  " + line)
    session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory) -> str:
    if TEST_REDIS_URL:
        if not localredis.reachable(TEST_REDIS_URL):
            pytest.exit(f"TEST_REDIS_URL={TEST_REDIS_URL} does not answer", returncode=2)
        yield TEST_REDIS_URL
        return
    port = localredis.free_port()
    proc = localredis.start(port, tmp_path_factory.mktemp("redis"), appendonly=False)
    try:
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        localredis.stop(proc)


@pytest.fixture
def redis_client(redis_url) -> redis.Redis:
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    yield client
    client.close()


@pytest.fixture
def settings(redis_url, redis_client, tmp_path) -> Settings:
    return Settings.from_env(make_env(redis_url, tmp_path / "var"))


@pytest.fixture
def app(request, settings):
    """The app on test settings; in a module marked `live`, the whole gateway (live_app)."""
    if request.node.get_closest_marker("live"):
        return request.getfixturevalue("live_app")
    from gateway.app import create_app

    return create_app(settings)


@pytest.fixture
def env(live_env):
    """The settings of `live_app` (as a dict), for a test that changes some of them."""
    return live_env


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def twilio_fake():
    fake = FakeTwilio()
    yield fake
    fake.close()


@pytest.fixture
def android_fake():
    fake = FakeAndroid()
    yield fake
    fake.close()


@pytest.fixture
def live_env(redis_url, redis_client, tmp_path, twilio_fake, android_fake) -> dict:
    """Settings of a gateway whose SMS routes are the fake Twilio and the fake Android phone."""
    return live_env_for(redis_url, tmp_path, twilio_fake.url, android_fake.url)


@pytest.fixture
def live_app(live_env, monkeypatch):
    """The app of `live_env`; its RQ jobs (run by testing.app.work) use the same settings."""
    yield from app_with(live_env, monkeypatch)
