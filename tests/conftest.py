"""Shared fixtures: a real Redis (started here when none answers), settings, app and client."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import redis

from config.settings import ROOT, Settings
from gateway import localredis
from gateway.privacy import new_key

# The machine's Redis is used when it answers, on a database of its own so a developer's data in
# db 0 is never flushed; otherwise a throwaway redis-server is started for the session.
TEST_REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory) -> str:
    if localredis.reachable(TEST_REDIS_URL):
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
