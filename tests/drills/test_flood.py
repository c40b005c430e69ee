"""Drill: a flood of cases in one district never silences its responders (digests, not drops)."""

from __future__ import annotations

import time
from collections import Counter

import pytest

from testing.drill import DrillGateway, wait_until

pytestmark = [pytest.mark.drill, pytest.mark.timeout(600)]

CASES = 36  # past the 30 alerts an hour a responder gets one by one
LEADERS = ("+992900040101", "+992900040102")  # the two group leaders of district D01
DUTY = "+992900049999"


def test_a_flood_reaches_every_responder_by_digest(tmp_path, drill_redis, report):
    gateway = DrillGateway(drill_redis.url, tmp_path / "gw", SEND_RATE="50")
    try:
        started = time.time()
        refs = [gateway.ask_for_help(f"+99290006{i:04d}", index=0) for i in range(CASES)]
        opened = time.time() - started

        def reached(phone):
            with gateway.twilio.lock:
                text = " ".join(s.body for s in gateway.twilio.sent if s.to == phone)
            return [r for r in refs if f"#{r}" in text]

        everything = wait_until(lambda: all(len(reached(p)) == CASES for p in LEADERS), 180, 1.0)
        took = time.time() - started
        time.sleep(3)
        with gateway.twilio.lock:
            sent = list(gateway.twilio.sent)
        client = drill_redis.client()
        states = Counter(client.hget(k, "state").decode() for k in client.scan_iter("hd:msg:*"))
        client.close()
    finally:
        gateway.stop()
    per_leader = {p: len([s for s in sent if s.to == p]) for p in LEADERS}
    copies = Counter((s.to, s.body) for s in sent)
    to_duty = len([s for s in sent if s.to == DUTY])
    report(f"{CASES} cases in one district in {opened:.1f} s; ALERTS_PER_HOUR default (30)")
    report(
        f"each leader reached for {min(len(reached(p)) for p in LEADERS)} of {CASES} cases "
        f"in {took:.0f} s, with {min(per_leader.values())}-{max(per_leader.values())} SMS"
    )
    report(f"message states: {dict(states)}; SMS to the duty officer: {to_duty}")
    report(f"duplicates: {sum(n - 1 for n in copies.values())}; dropped: {states['dropped']}")
    assert everything, "a case never reached a responder"
    assert max(copies.values()) == 1
    assert states["dropped"] == 0
