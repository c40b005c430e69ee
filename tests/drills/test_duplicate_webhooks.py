"""Drill: 100 concurrent deliveries of the same signed Twilio webhook open one case."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
import requests
from twilio.request_validator import RequestValidator

from bench.common import TWILIO
from gateway.store.keys import AUDIT, OPEN_CASES
from testing.drill import DrillGateway, survivor, wait_until

pytestmark = [pytest.mark.drill, pytest.mark.timeout(180)]

RECORDED = Path(__file__).resolve().parents[1] / "recorded" / "twilio" / "inbound_sms.json"
DELIVERIES = 100


@pytest.fixture
def gateway(drill_redis, tmp_path):
    running = DrillGateway(drill_redis.url, tmp_path / "gw")
    yield running
    running.stop()


def test_one_case_for_a_hundred_concurrent_copies(gateway, drill_redis, report):
    form = json.loads(RECORDED.read_text())
    form.pop("_note")
    survivor(form["From"], form["Body"])
    signature = RequestValidator(TWILIO["TWILIO_AUTH_TOKEN"]).compute_signature(
        gateway.env["PUBLIC_URL"] + "/sms/twilio", form
    )
    gate = threading.Barrier(DELIVERIES)
    statuses: list[int] = []
    lock = threading.Lock()

    def deliver():
        gate.wait(30)  # every copy leaves at the same moment
        try:
            status = requests.post(
                gateway.base + "/sms/twilio",
                data=form,
                headers={"X-Twilio-Signature": signature},
                timeout=30,
            ).status_code
        except requests.RequestException:
            status = 0
        with lock:
            statuses.append(status)

    threads = [threading.Thread(target=deliver, daemon=True) for _ in range(DELIVERIES)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    took = time.monotonic() - started

    client = drill_redis.client()
    opened = client.zcard(OPEN_CASES)
    wait_until(lambda: len(gateway.twilio.sent) >= 2, 30)
    time.sleep(3)
    alerts = len(gateway.twilio.sent)
    # The planning job records the opening in the audit trail, once per case it planned.
    trail = [e for _, e in client.xrange(AUDIT)]
    plans = [e[b"case"] for e in trail if e.get(b"event") == b"case_opened"]
    client.close()
    report(f"{DELIVERIES} copies of MessageSid {form['MessageSid'][:10]}..., signed, at once")
    report(f"answers: {dict(Counter(statuses))} in {took:.2f} s")
    report(f"cases opened: {opened}; planned: {len(plans)}; alerts sent: {alerts}")
    assert Counter(statuses) == {200: DELIVERIES}
    assert opened == 1
    assert len(plans) == 1
    assert alerts == 2  # the two tier-1 group leaders of the default district, once each
