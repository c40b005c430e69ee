"""Drill: Redis frozen (SIGSTOP) under the web: answers stay within an aggregator's wait."""

from __future__ import annotations

import os
import signal
import time

import pytest
import requests

from testing.drill import DrillGateway, survivor

pytestmark = [pytest.mark.drill, pytest.mark.timeout(300)]

HOPS = 10
LIMIT = 2.0  # seconds: she gets the neutral END, /healthz its 503, within this


@pytest.fixture
def gateway(drill_redis, tmp_path):
    running = DrillGateway(drill_redis.url, tmp_path / "gw")
    yield running
    running.stop()


def timed(call):
    started = time.monotonic()
    try:
        response = call()
    except requests.RequestException as error:
        return type(error).__name__, time.monotonic() - started
    return response, time.monotonic() - started


def test_a_frozen_redis_gets_her_a_neutral_end_within_two_seconds(gateway, drill_redis, report):
    http = requests.Session()
    form = {"phoneNumber": survivor("+992900070001"), "serviceCode": "*1#", "text": "4"}
    # Sessions begun with Redis (their first screen known only to Redis).
    for n in range(HOPS):
        http.post(
            gateway.ussd_url, data={**form, "sessionId": f"ATUid_f{n}", "text": ""}, timeout=5
        )
    os.killpg(drill_redis.proc.pid, signal.SIGSTOP)
    try:
        hops = [
            timed(
                lambda n=n: http.post(
                    gateway.ussd_url, data={**form, "sessionId": f"ATUid_f{n}"}, timeout=10
                )
            )
            for n in range(HOPS)
        ]
        health, health_took = timed(lambda: http.get(gateway.base + "/healthz", timeout=10))
    finally:
        os.killpg(drill_redis.proc.pid, signal.SIGCONT)
    bodies = [r.text if hasattr(r, "text") else r for r, _ in hops]
    slowest = max(took for _, took in hops)
    status = getattr(health, "status_code", health)
    report(f"Redis frozen with SIGSTOP; {HOPS} USSD hops of sessions begun before")
    report(f"answers: {sorted(set(b[:4] for b in bodies))}; slowest {slowest * 1000:.0f} ms")
    report(f"/healthz: {status} in {health_took * 1000:.0f} ms")
    assert all(b.startswith("END ") for b in bodies), bodies
    assert slowest < LIMIT
    assert status == 503 and health_took < LIMIT
    after = http.post(gateway.ussd_url, data={**form, "sessionId": "ATUid_new", "text": ""})
    assert after.text.startswith("CON ")
    http.close()
