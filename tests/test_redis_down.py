"""A frozen or stopped Redis: answers stay bounded."""

from __future__ import annotations

import os
import signal
import time

import pytest

from config.settings import Settings
from gateway import localredis
from gateway.app import create_app
from tests.conftest import make_env
from tests.test_sms_intake import SECRET, SURVIVOR, TOKEN

USSD_KEY = "test-ussd-key-0123456789"
ANSWER_LIMIT = 3.0  # seconds; the web bounds each Redis call far below this


class OwnRedis:
    """A redis-server of this test's own, to freeze and stop without touching the suite's."""

    def __init__(self, data):
        self.port = localredis.free_port()
        self.data = data
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc = localredis.start(self.port, data, appendonly=False)

    def freeze(self) -> None:
        os.killpg(self.proc.pid, signal.SIGSTOP)

    def thaw(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGCONT)

    def stop(self) -> None:
        self.thaw()
        localredis.stop(self.proc)

    def start(self) -> None:
        self.proc = localredis.start(self.port, self.data, appendonly=False)


@pytest.fixture
def own_redis(tmp_path):
    server = OwnRedis(tmp_path / "redis")
    try:
        yield server
    finally:
        server.stop()  # always: a frozen server is thawed first, then stopped


@pytest.fixture
def app(own_redis, tmp_path):
    env = make_env(
        own_redis.url, tmp_path / "var", TWILIO_AUTH_TOKEN=TOKEN, ANDROID_WEBHOOK_SECRET=SECRET
    )
    return create_app(Settings.from_env(env))


def timed(call):
    started = time.monotonic()
    response = call()
    return response, time.monotonic() - started


def hop(client, session: str, text: str = ""):
    form = {"sessionId": session, "phoneNumber": SURVIVOR, "serviceCode": "*1#", "text": text}
    return client.post(f"/ussd/africastalking?key={USSD_KEY}", data=form)


# ---- a frozen Redis (SIGSTOP) --------------------------------------------------------------------
def test_frozen_redis_gets_a_neutral_end_and_a_503_within_bounds(app, own_redis):
    client = app.test_client()
    assert hop(client, "ATUid_warm").status_code == 200  # pooled connections exist, as in service
    own_redis.freeze()
    try:
        response, took = timed(lambda: hop(client, "ATUid_frozen", "4"))
        health, health_took = timed(lambda: client.get("/healthz"))
    finally:
        own_redis.thaw()
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and response.mimetype == "text/plain"
    assert body.startswith("END "), body
    assert took < ANSWER_LIMIT, f"USSD hop took {took:.1f} s with Redis frozen"
    assert health.status_code == 503
    assert health_took < ANSWER_LIMIT, f"/healthz took {health_took:.1f} s with Redis frozen"
    assert hop(client, "ATUid_after").get_data(as_text=True).startswith("CON ")  # recovered
