"""REDIS_URL may name Sentinels: every process finds the master through them, and a case she is
told of is on the replica first (REDIS_WAIT_REPLICAS)."""

from __future__ import annotations

import os
import signal
import time

import pytest
from rq.cli.helpers import get_redis_from_config

from config.reader import ConfigError
from config.settings import Settings
from gateway import redisclient
from gateway.app import create_app
from gateway.privacy import Vault
from gateway.store import WAIT_MS, Store
from gateway.store.keys import OPEN_CASES
from testing.app import login
from testing.env import make_env
from testing.sentinel import MASTER, SentinelGroup
from testing.ussd import flask_phone, ref_of


@pytest.fixture(scope="module")
def group(tmp_path_factory):
    running = SentinelGroup(tmp_path_factory.mktemp("sentinel"))
    yield running
    running.stop()


@pytest.fixture
def master(group):
    client = group.master.client()
    client.flushdb()
    yield client
    client.close()


def test_a_sentinel_url_is_read_and_a_bad_one_is_named(tmp_path):
    url = "redis+sentinel://s1:26379,s2:26379,s3:26379/hamdam/0"
    settings = Settings.from_env(make_env(url, tmp_path, REDIS_WAIT_REPLICAS="1"))
    assert (settings.redis_url, settings.redis_wait_replicas) == (url, 1)
    assert redisclient.where(url) == "the master 'hamdam' of Sentinels s1:26379,s2:26379,s3:26379"
    with pytest.raises(ConfigError, match="REDIS_URL.*master's name"):
        Settings.from_env(make_env("redis+sentinel://s1:26379,s2:26379", tmp_path))
    with pytest.raises(ConfigError, match="REDIS_URL.*redis\\+sentinel://"):
        Settings.from_env(make_env("http://s1:6379", tmp_path))
    with pytest.raises(ConfigError) as bad:  # a password in a bad URL is not echoed
        Settings.from_env(make_env("redis+sentinel://:pw-0123456789@s1:2x/hamdam/0", tmp_path))
    assert "pw-0123456789" not in str(bad.value) and "[secret]" in str(bad.value)


def test_the_web_and_rq_find_the_master_through_the_sentinels(group, master):
    client = redisclient.connect(group.url, socket_timeout=2)
    client.set("hd:probe", "1")
    assert master.get("hd:probe") == b"1"  # it went to the master, not the replica
    rq_client = get_redis_from_config(redisclient.rq_settings(group.url))
    assert rq_client.get("hd:probe") == b"1"
    assert rq_client.connection_pool.service_name == MASTER
    client.close()
    rq_client.close()


def test_a_case_waits_for_its_replica_and_she_is_answered_when_it_cannot(group, master, tmp_path):
    settings = Settings.from_env(make_env(group.url, tmp_path / "var", REDIS_WAIT_REPLICAS="1"))
    client = create_app(settings).test_client()
    replica = group.replica.client()

    end = flask_phone(client, settings.ussd_key, "+992900003101").ask()
    ref = ref_of(end)
    assert replica.get(f"hd:ref:{ref}"), "the case was not on the replica when she was told"
    assert not master.hgetall("hd:metrics:unreplicated")

    os.killpg(group.replica.proc.pid, signal.SIGSTOP)  # the replica freezes: no acks
    try:
        began = time.monotonic()
        end = flask_phone(client, settings.ussd_key, "+992900003102").ask()
        took = time.monotonic() - began
    finally:
        os.killpg(group.replica.proc.pid, signal.SIGCONT)
    assert end.startswith("END ") and ref_of(end) != ref  # she still gets her reference
    assert master.zcard(OPEN_CASES) == 2
    assert master.hgetall("hd:metrics:unreplicated") == {b"case": b"1"}
    assert took < 5
    replica.close()
    # Another process (a worker's next fork) knows it too, and does not wait the timeout.
    other = Store(redisclient.connect(group.url), Vault(settings.data_keys), replicas=1)
    began = time.monotonic()
    assert not other.replicated("send attempt")
    assert time.monotonic() - began < WAIT_MS / 1000

    # The RQ dashboard and /metrics read the same master through the Sentinels.
    app = client.application
    queues = client.get("/rq/0/data/queues.json", headers=login(app))
    assert queues.status_code == 200 and "alerts" in queues.get_data(as_text=True)
    metrics = client.get("/metrics", headers=login(app)).get_data(as_text=True)
    assert 'hamdam_unreplicated_total{write="case"} 1' in metrics
    assert 'hamdam_cases{state="open"} 2' in metrics
