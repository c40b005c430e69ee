"""Shared fixtures: a real Redis (started here when none answers), settings, app and client."""

from __future__ import annotations

import contextlib
import os
import re
import uuid
from pathlib import Path

import psutil
import pytest
import redis

from config.settings import ROOT, Settings
from gateway import localredis, logs
from gateway.privacy import new_key
from tests.processes import RUN_MARK

# A throwaway redis-server of the test session's own, so no test ever flushes a database that
# someone else may be using (and two suites on one machine never take each other's RQ jobs).
# TEST_REDIS_URL is an opt-in for a Redis you own: its database is flushed before every test.
TEST_REDIS_URL = os.environ.get("TEST_REDIS_URL", "")


# The mark of this run's processes (see tests/processes.py): children inherit it.
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


def make_env(redis_url: str, var_dir: Path, **extra: str) -> dict[str, str]:
    """A complete, explicit environment for Settings.from_env in tests."""
    env = {
        "HAMDAM_ENV": "development",
        "REDIS_URL": redis_url,
        "VAR_DIR": str(var_dir),
        "DATA_KEY": new_key(),
        "USSD_KEY": "test-ussd-key-0123456789",
        "OPERATOR_USER": "operator",
        "OPERATOR_PASSWORD": "test-operator-password",
        "PUBLIC_URL": "https://gateway.example.org",
        "DIRECTORY_FILE": str(ROOT / "config" / "directory.example.yaml"),
    }
    env.update(extra)
    return env


@pytest.fixture
def settings(redis_url, redis_client, tmp_path) -> Settings:
    return Settings.from_env(make_env(redis_url, tmp_path / "var"))


@pytest.fixture
def app(settings):
    from gateway.app import create_app

    return create_app(settings)


@pytest.fixture
def client(app):
    return app.test_client()


def redis_dump(client: redis.Redis) -> bytes:
    """Every key and value in the database (RQ's compressed job data unpacked), for scans."""
    import zlib

    chunks: list[bytes] = []
    for key in client.scan_iter():
        chunks.append(key)
        kind = client.type(key)
        if kind == b"hash":
            for field, value in client.hgetall(key).items():
                chunks += [field, value]
        elif kind == b"list":
            chunks += client.lrange(key, 0, -1)
        elif kind == b"set":
            chunks += list(client.smembers(key))
        elif kind == b"zset":
            chunks += client.zrange(key, 0, -1)
        elif kind == b"string":
            chunks.append(client.get(key))
        elif kind == b"stream":
            for _, entry in client.xrange(key):
                for field, value in entry.items():
                    chunks += [field, value]
    unpacked = []
    for chunk in chunks:
        try:
            unpacked.append(zlib.decompress(chunk))
        except zlib.error:
            pass
    return b"\n".join(chunks + unpacked)


def phone_forms(e164: str) -> list[bytes]:
    """The ways her number could appear in clear: E.164, national, with 992, spaced."""
    nsn = e164[-9:]
    forms = [e164, nsn, "992" + nsn, f"{nsn[:2]} {nsn[2:5]} {nsn[5:]}", nsn[-7:]]
    return [f.encode() for f in forms]


def clear_findings(blob: bytes | str, phone: str, inputs: list[str] = ()) -> list[str]:
    """Every way her number (any form) or one of her inputs appears in clear in the blob."""
    data = blob.encode() if isinstance(blob, str) else blob
    *whole, last7 = phone_forms(phone)
    found = [f"phone form {form!r} found in clear" for form in whole if form in data]
    # Her last seven digits count standing alone: seven digits in a row occur by chance in the
    # hex ids of a busy database (RQ jobs and workers); her nine-digit forms do not.
    alone = re.compile(rb"(?<![0-9A-Za-z])" + re.escape(last7) + rb"(?![0-9A-Za-z])")
    found += [f"phone form {m.group()!r} found in clear" for m in alone.finditer(data)]
    # Her national digits with anything between them that a written, URL-encoded or escaped
    # number may have (the separators the log redaction knows): "90 000-99 02", "90%20000...".
    spread = re.compile(f"(?:{logs.SEPARATOR})*".join(phone[-9:]))
    found += [
        f"phone written as {m.group()!r} found in clear"
        for m in spread.finditer(data.decode("utf-8", "replace"))
    ]
    found += [f"input {text!r} found in clear" for text in inputs if text.encode() in data]
    return found


def assert_no_clear(blob: bytes | str, phone: str, inputs: list[str] = ()) -> None:
    """Fail when her number (any form) or any of her inputs appears in the blob."""
    found = clear_findings(blob, phone, inputs)
    assert not found, found[0]


def stored_keys(client: redis.Redis) -> list[bytes]:
    """Keys holding state (request-latency metrics aside, which every answer records)."""
    return [k for k in client.scan_iter() if not k.startswith(b"hd:metrics:")]
