"""Drill: a sender spoofing a group leader's number floods the gateway; the leader's OK still
takes the case at once, and every message the limit drops is counted and audited."""

from __future__ import annotations

import random
import re
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from testing.drill import DrillGateway, wait_until

pytestmark = [pytest.mark.drill, pytest.mark.timeout(300)]

SURVIVOR = "+992900061001"
LEADER = "+992900040101"  # tier 1 of the bench directory's first district
TEXTS, GUESSES, LIMIT = 100, 50, 30


class Gateway(DrillGateway):
    """The drill gateway, patient with a busy machine while it starts."""

    def _healthy(self) -> bool:
        try:
            return requests.get(self.base + "/healthz", timeout=5).status_code == 200
        except requests.RequestException:
            return False


@pytest.fixture
def gateway(drill_redis, tmp_path):
    running = Gateway(drill_redis.url, tmp_path / "gw")
    yield running
    running.stop()


def sms(gateway: DrillGateway, number: str, body: str) -> int:
    form = {"MessageSid": f"SM{random.getrandbits(128):032x}", "From": number, "Body": body}
    return gateway.twilio_sms(form)


def test_a_flooded_leader_still_takes_the_case(gateway, drill_redis, report):
    ref = gateway.ask_for_help(SURVIVOR, index=0)
    assert wait_until(lambda: gateway.twilio.to(LEADER), 60), "the leader was never alerted"
    bodies = [f"hello {n}" for n in range(TEXTS)]
    bodies += [f"OK {n}" for n in random.sample(range(100000, 999999), GUESSES)]
    random.shuffle(bodies)
    started = time.monotonic()
    with ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(lambda body: sms(gateway, LEADER, body), bodies))
    flood = time.monotonic() - started
    assert set(statuses) == {200}

    answered = time.monotonic()
    assert sms(gateway, LEADER, f"OK {ref}") == 200
    details = wait_until(lambda: [s for s in gateway.twilio.to(LEADER) if SURVIVOR in s.body], 60)
    took = time.monotonic() - answered
    assert details, "the leader's OK was dropped: no details reached them"

    metrics = requests.get(
        gateway.base + "/metrics", auth=("operator", gateway.env["OPERATOR_PASSWORD"]), timeout=10
    ).text
    found = re.search(
        r'hamdam_inbound_dropped_total\{channel="twilio",reason="rate_limit"\} (\d+)', metrics
    )
    dropped = int(found.group(1)) if found else 0
    client = drill_redis.client()
    audited = sum(
        1 for _, entry in client.xrange("hd:audit") if entry.get(b"event") == b"inbound_dropped"
    )
    ignored = sum(
        1 for _, entry in client.xrange("hd:audit") if entry.get(b"event") == b"command_ignored"
    )
    client.close()
    report(
        f"flood of {len(bodies)} SMS from the leader's number ({TEXTS} texts, {GUESSES} "
        f"reference guesses) in {flood:.1f} s: dropped {dropped} (counted in /metrics), "
        f"audited {audited} time(s), guesses handled {ignored}"
    )
    report(f"the leader's OK after the flood: case taken, details delivered in {took:.1f} s")
    assert dropped == len(bodies) - LIMIT
    assert audited == 1
    assert ignored <= LIMIT  # a spoofed number guesses references at the limit's pace only
