"""The Procfile's web process keeps answering beside connections that send nothing."""

from __future__ import annotations

import socket
import time

import pytest
import requests

from bench.common import Web
from gateway.app import MAX_BODY
from testing.env import make_env

IDLE = 20


@pytest.fixture
def web(redis_url, redis_client, tmp_path):
    server = Web(make_env(redis_url, tmp_path / "var"), tmp_path / "web.log")
    try:
        yield server
    finally:
        server.stop()


def test_idle_connections_do_not_delay_healthz(web):
    idle = [socket.create_connection(("127.0.0.1", web.port), timeout=5) for _ in range(IDLE)]
    try:
        time.sleep(0.5)  # every connection accepted by a worker before the request
        # A sync worker holding the idle connections answers only after its 30 s timeout: the
        # read timeout below fails that; the figure itself is measured by the idle drill.
        response = requests.get(web.url + "/healthz", timeout=10)
    finally:
        for sock in idle:
            sock.close()
    assert response.json()["redis"]["reachable"] is True  # answered (503 degraded: no worker)


def test_a_chunked_hop_is_answered_and_an_oversized_one_refused(web):
    """The web reads a request's body before it queues for a turn (config/gunicorn.py): a
    chunked body arrives whole, and one over the app's limit gets a 413 with a reason."""
    url = f"{web.url}/ussd/africastalking?key={web.env['USSD_KEY']}"
    form = b"sessionId=chunked-1&serviceCode=%2A384%23&phoneNumber=%2B992900001300&text="
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    parts = iter([form[:20], form[20:]])  # a generator: requests sends it chunked
    answer = requests.post(url, data=parts, headers=headers, timeout=10)
    assert answer.status_code == 200 and answer.text.startswith("CON ")
    big = iter([b"text=" + b"1" * MAX_BODY] * 2)
    refused = requests.post(url, data=big, headers=headers, timeout=10)
    assert refused.status_code == 413 and refused.text.startswith("END ")
    assert len(refused.text) > len("END ")  # it says why
