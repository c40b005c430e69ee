"""End to end with real processes: the Procfile's web and worker (with scheduler), real Redis,
fake Twilio and Android gateways on loopback, everything driven over HTTP."""

from __future__ import annotations

import json
import os
import signal
import time
import uuid
from pathlib import Path

import psutil
import pytest
import redis
import requests

from gateway.channels.android import sign
from testing.app import SECRET, live_env
from testing.fakes import FakeAndroid, FakeTwilio
from testing.leaks import assert_no_clear, redis_dump
from testing.processes import Processes, wait_for
from testing.ussd import Help, http_help

GROUP_1, GROUP_2, COORDINATOR = "+992900001001", "+992900001002", "+992900001090"


class Gateway(Processes):
    """The Procfile's processes talking to fake Twilio and Android gateways."""

    def __init__(self, redis_url: str, var: Path):
        self.twilio, self.android = FakeTwilio(), FakeAndroid()
        env = live_env(
            redis_url,
            var,
            self.twilio.url,
            self.android.url,
            SEND_RATE="50",
            SEND_TIMEOUT="5",
            ESCALATE_AFTER="10",
            ESCALATE_AFTER_URGENT="10",
        )
        super().__init__(env, var)

    def stop(self) -> None:
        super().stop()
        self.twilio.close()
        self.android.close()

    def ask_for_help(self, phone: str, **choices: str) -> str:
        """Her help request over HTTP, by meaning (testing.ussd.Help); her reference."""
        url = f"{self.base}/ussd/africastalking?key={self.env['USSD_KEY']}"
        with requests.Session() as http:
            ref, _ = http_help(http, url, phone, Help(**choices))
        return ref

    def sms(self, phone: str, text: str) -> None:
        event = {
            "event": "sms:received",
            "payload": {
                "messageId": uuid.uuid4().hex,
                "phoneNumber": phone,
                "message": text,
                "receivedAt": "2026-11-21T10:00:00+05:00",
            },
        }
        body = json.dumps(event).encode()
        stamp = str(int(time.time()))
        headers = {"X-Timestamp": stamp, "X-Signature": sign(SECRET, body, stamp)}
        response = requests.post(f"{self.base}/sms/android", data=body, headers=headers, timeout=5)
        assert response.status_code == 200, response.text


@pytest.fixture(scope="module")
def gateway(redis_url, tmp_path_factory):
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    running = Gateway(redis_url, tmp_path_factory.mktemp("e2e"))
    yield running
    running.stop()
    client.flushdb()


def about(fake, ref: str, phone: str) -> list:
    return [s for s in fake.sent if s.to == phone and f"#{ref}" in s.body]


def test_alert_accept_taken(gateway):
    survivor = "+992900009501"
    ref = gateway.ask_for_help(survivor, consent="group", call="any")
    wait_for(lambda: about(gateway.twilio, ref, GROUP_2), what="tier-1 alerts")
    wait_for(lambda: about(gateway.twilio, ref, GROUP_1), what="tier-1 alerts")
    alerted = {s.to for s in gateway.twilio.sent if f"#{ref}" in s.body}
    assert alerted == {GROUP_1, GROUP_2}  # her consent: her group only
    gateway.sms(GROUP_1, f"OK {ref}")
    wait_for(lambda: len(about(gateway.twilio, ref, GROUP_2)) == 2, what="'taken' to the other")
    details = wait_for(
        lambda: (
            len(about(gateway.twilio, ref, GROUP_1)) == 2 and about(gateway.twilio, ref, GROUP_1)
        ),
        what="details to the accepter",
    )
    assert survivor in details[1].body
    assert all(survivor not in s.body for s in about(gateway.twilio, ref, GROUP_2))


def test_silence_escalates_after_the_deadline(gateway):
    ref = gateway.ask_for_help("+992900009502")
    wait_for(lambda: about(gateway.twilio, ref, GROUP_1), what="tier-1 alerts")
    assert not about(gateway.twilio, ref, COORDINATOR)
    wait_for(lambda: about(gateway.twilio, ref, COORDINATOR), timeout=40, what="tier 2")


def test_provider_500_fails_over_and_each_alert_arrives_once(gateway):
    gateway.twilio.fail_next(500, {"code": 20500})
    ref = gateway.ask_for_help("+992900009503")

    def copies(phone):
        return len(about(gateway.twilio, ref, phone)) + len(about(gateway.android, ref, phone))

    wait_for(lambda: copies(GROUP_1) and copies(GROUP_2), what="both alerts")
    time.sleep(2)  # any duplicate would have arrived by now
    assert copies(GROUP_1) == 1 and copies(GROUP_2) == 1
    assert len([s for s in gateway.android.sent if f"#{ref}" in s.body]) == 1  # the failed one


def test_permanent_error_fails_over_to_android(gateway):
    gateway.twilio.fail_next(400, {"code": 21211}, times=2)
    ref = gateway.ask_for_help("+992900009504")
    wait_for(
        lambda: about(gateway.android, ref, GROUP_1) and about(gateway.android, ref, GROUP_2),
        what="alerts through the Android route",
    )
    assert not about(gateway.twilio, ref, GROUP_1) and not about(gateway.twilio, ref, GROUP_2)


def test_worker_killed_mid_send_still_sends_once(gateway):
    gateway.twilio.holding.clear()
    gateway.twilio.hold()
    ref = gateway.ask_for_help("+992900009505")
    assert gateway.twilio.holding.wait(20), "no send reached the provider"
    port = gateway.twilio.holding_port
    server = gateway.twilio.server.server_address[1]
    [sender] = {
        c.pid
        for c in psutil.net_connections("tcp")
        if c.laddr and c.raddr and c.laddr.port == port and c.raddr.port == server and c.pid
    }
    os.kill(sender, signal.SIGKILL)  # the process in the middle of the send
    gateway.twilio.release()
    wait_for(
        lambda: about(gateway.twilio, ref, GROUP_1) and about(gateway.twilio, ref, GROUP_2),
        timeout=40,
        what="both alerts after the crash",
    )
    time.sleep(3)
    assert len(about(gateway.twilio, ref, GROUP_1)) == 1
    assert len(about(gateway.twilio, ref, GROUP_2)) == 1


def test_nothing_of_hers_in_redis_logs_or_jobs(gateway, redis_url):
    blob = redis_dump(redis.Redis.from_url(redis_url))
    logs = gateway.log_text()
    for n in range(1, 6):
        assert_no_clear(blob, f"+99290000950{n}")
        assert_no_clear(logs, f"+99290000950{n}")


def test_clock_runs_the_retention_sweep(gateway, redis_url):
    client = redis.Redis.from_url(redis_url)

    def swept():
        return any(f.get(b"event") == b"purged" for _, f in client.xrange("hd:audit"))

    wait_for(swept, timeout=30, what="the hourly retention sweep's first run")
