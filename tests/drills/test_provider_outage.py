"""Drill: the provider answers 500 for a while; alerts arrive after it recovers, or fail over."""

# The issue asks for a one-minute outage. With the production retry delays (10, 30, 90 s) that
# outage ends before the last retry (130 s after the first attempt). The drill keeps that ratio
# at a quarter of the time: a 15 s outage against delays of 2, 8 and 22 s (32 s), so it runs in
# about a minute. HAMDAM_DRILL_OUTAGE=60 runs the full minute with the production delays.

from __future__ import annotations

import os
import time
from collections import Counter

import pytest
from rq import Queue

from gateway.jobs import ALERTS_QUEUE
from testing.drill import DrillGateway, sent_about, wait_until
from testing.fakes import FakeAndroid, FakeTwilio

pytestmark = [pytest.mark.drill, pytest.mark.timeout(600)]

OUTAGE = float(os.environ.get("HAMDAM_DRILL_OUTAGE", "15"))
DELAYS = [max(1, round(d * OUTAGE / 60)) for d in (10, 30, 90)]
CASES = 3
FAILOVER_LIMIT = 5.0  # seconds from her submit to the alert on the second route


class DownTwilio(FakeTwilio):
    """FakeTwilio answering every call with 500 until `until` (a time.time() value)."""

    until = 0.0
    refused = 0

    def handle(self, method, path, raw, handler):
        if time.time() < self.until:
            with self.lock:
                self.refused += 1
            return 500, {"code": 20500, "message": "internal server error", "status": 500}
        return super().handle(method, path, raw, handler)


def start(tmp_path, drill_redis, android: bool) -> DrillGateway:
    delays = ",".join(str(d) for d in DELAYS)
    return DrillGateway(
        drill_redis.url,
        tmp_path / "gw",
        android=android,
        twilio=DownTwilio,
        SEND_RETRY_DELAYS=delays,
        SEND_RATE="50",
    )


def test_alerts_arrive_once_after_the_outage(tmp_path, drill_redis, report):
    gateway = start(tmp_path, drill_redis, android=False)
    try:
        gateway.twilio.until = time.time() + OUTAGE
        refs = [gateway.ask_for_help(f"+99290008{i:04d}", index=i) for i in range(CASES)]
        limit = OUTAGE + sum(DELAYS) + 60
        everything = wait_until(
            lambda: all(len(sent_about(gateway.twilio, r)) >= 2 for r in refs), limit, 0.5
        )
        time.sleep(3)
        sent = [s for r in refs for s in sent_about(gateway.twilio, r)]
        copies = Counter((s.to, s.body) for s in sent)
        after = [s.at - gateway.twilio.until for s in sent]
    finally:
        gateway.stop()
    report(f"Twilio answered 500 for {OUTAGE:.0f} s; SEND_RETRY_DELAYS={DELAYS}; {CASES} cases")
    report(f"refused calls during the outage: {gateway.twilio.refused}")
    report(f"alerts delivered: {len(sent)} of {2 * CASES}, copies max {max(copies.values())}")
    if after:
        report(f"delivered {min(after):.1f} to {max(after):.1f} s after the provider recovered")
    assert everything, "an alert was never delivered after the outage"
    assert all(n == 1 for n in copies.values()), copies


def test_second_route_takes_over_instead_of_waiting(tmp_path, drill_redis, report):
    gateway = start(tmp_path, drill_redis, android=True)
    try:
        gateway.twilio.until = time.time() + OUTAGE
        submitted, refs = [], []
        for i in range(CASES):
            refs.append(gateway.ask_for_help(f"+99290009{i:04d}", index=i))
            submitted.append(time.time())

        def delivered():
            return all(
                len(sent_about(gateway.twilio, r)) + len(sent_about(gateway.android, r)) >= 2
                for r in refs
            )

        everything = wait_until(delivered, OUTAGE + sum(DELAYS) + 60, 0.5)
        time.sleep(3)
        delays, both = [], 0
        for ref, at in zip(refs, submitted, strict=True):
            via_twilio = {s.to: s.at for s in sent_about(gateway.twilio, ref)}
            via_android = {s.to: s.at for s in sent_about(gateway.android, ref)}
            both += len(set(via_twilio) & set(via_android))
            for to in set(via_twilio) | set(via_android):
                first = min(t for t in (via_twilio.get(to), via_android.get(to)) if t)
                delays.append(first - at)
        routes = Counter("android" if sent_about(gateway.android, r) else "twilio" for r in refs)
    finally:
        gateway.stop()
    report(f"Twilio answered 500 for {OUTAGE:.0f} s, Android fine; {CASES} cases")
    report(f"cases delivered by route: {dict(routes)}; on both routes: {both}")
    if delays:
        report(
            f"submit -> alert: {min(delays):.1f} to {max(delays):.1f} s "
            f"(limit {FAILOVER_LIMIT:.0f} s)"
        )
    assert everything, "an alert was never delivered"
    assert both == 0, "an alert went out on both routes"
    assert max(delays) <= FAILOVER_LIMIT, (
        f"alerts waited for Twilio's retries ({max(delays):.1f} s) instead of failing over"
    )


HANG = 15.0  # seconds the hanging Twilio keeps every request before it answers
HANG_CASES = 6
HANG_LIMIT = 30.0  # seconds from her submit to the alert on the healthy route


class HangingTwilio(FakeTwilio):
    """FakeTwilio that accepts every connection and answers each send after HANG seconds."""

    posts = 0

    def handle(self, method, path, raw, handler):
        if method == "POST":
            with self.lock:
                self.posts += 1
            time.sleep(HANG)
        return super().handle(method, path, raw, handler)


def test_hanging_provider_fails_over_within_30_seconds(tmp_path, drill_redis, report):
    gateway = DrillGateway(
        drill_redis.url, tmp_path / "gw", android=True, twilio=HangingTwilio, SEND_RETRY_DELAYS="1"
    )
    try:
        submitted, refs = [], []
        for i in range(HANG_CASES):
            submitted.append(time.time())
            refs.append(gateway.ask_for_help(f"+99290007{i:04d}", index=i))

        def on_android():
            return all(len(sent_about(gateway.android, r)) >= 2 for r in refs)

        everything = wait_until(on_android, HANG_LIMIT + 30, 0.2)
        waits = []
        for ref, at in zip(refs, submitted, strict=True):
            waits += [s.at - at for s in sent_about(gateway.android, ref)]
        time.sleep(HANG + 2)  # let the held Twilio requests finish, to count them
        android = [s for r in refs for s in sent_about(gateway.android, r)]
        late = [s for r in refs for s in sent_about(gateway.twilio, r)]
        copies = Counter((s.to, s.body) for s in android)
    finally:
        gateway.stop()
    report(
        f"Twilio answers every send after {HANG:.0f} s, Android fine; {HANG_CASES} cases, "
        f"{2 * HANG_CASES} alerts; Procfile worker line (rq worker-pool), SEND_RATE default"
    )
    report(f"alerts delivered via Android: {len(android)} of {2 * HANG_CASES}")
    if waits:
        report(
            f"submit -> alert on Android: {min(waits):.1f} to {max(waits):.1f} s "
            f"(limit {HANG_LIMIT:.0f} s)"
        )
    report(
        f"sends tried on Twilio: {gateway.twilio.posts}; of those Twilio delivered late "
        f"(the accepted price of not waiting): {len(late)}"
    )
    assert everything, "an alert never reached the healthy route"
    assert max(copies.values()) == 1, "one route sent an alert twice"
    assert max(waits) <= HANG_LIMIT, f"an alert took {max(waits):.1f} s"


class DownAndroid(FakeAndroid):
    """FakeAndroid answering every call with 503 until `until` (a time.time() value)."""

    until = 0.0

    def handle(self, method, path, raw, handler):
        if time.time() < self.until:
            return 503, {"message": "service unavailable"}
        return super().handle(method, path, raw, handler)


BOTH_DOWN = 40.0  # seconds both routes refuse; the alerts' retries end after about 5 s


def test_both_routes_down_alerts_are_redriven_while_the_case_waits(
    tmp_path, drill_redis, report, monkeypatch
):
    monkeypatch.setattr("testing.drill.FakeAndroid", DownAndroid)
    gateway = DrillGateway(
        drill_redis.url,
        tmp_path / "gw",
        android=True,
        twilio=DownTwilio,
        SEND_RETRY_DELAYS="1",
        SEND_RATE="50",
        ESCALATE_AFTER="10",
        ESCALATE_AFTER_URGENT="10",
        REMIND_EVERY="10",
    )
    try:
        down_until = time.time() + BOTH_DOWN
        gateway.twilio.until = gateway.android.until = down_until
        refs = [gateway.ask_for_help(f"+99290005{i:04d}", index=i) for i in range(CASES)]
        leaders = {}
        for i, ref in enumerate(refs):
            leaders[ref] = {f"+99290004{i % len(gateway.districts) + 1:02d}{r:02d}" for r in (1, 2)}

        def parked():
            client = drill_redis.client()
            try:
                return Queue(ALERTS_QUEUE, connection=client).failed_job_registry.count
            finally:
                client.close()

        failed_during = wait_until(parked, BOTH_DOWN - 5, 0.5)

        def delivered():
            return all(
                leaders[r]
                <= {s.to for s in sent_about(gateway.twilio, r) + sent_about(gateway.android, r)}
                for r in refs
            )

        everything = wait_until(delivered, BOTH_DOWN + 90, 0.5)
        recovered = time.time() - down_until
        time.sleep(3)
        # One message id per (case, purpose, recipient): reminders repeat a body, never an id.
        sent = [s.id for r in refs for s in sent_about(gateway.android, r)] + [
            s.extra["StatusCallback"].split("m=")[1]
            for r in refs
            for s in sent_about(gateway.twilio, r)
        ]
        with gateway.twilio.lock, gateway.android.lock:
            to_duty = [
                s.body
                for fake in (gateway.twilio, gateway.android)
                for s in fake.sent
                if s.to == "+992900049999" and "#" not in s.body
            ]
    finally:
        gateway.stop()
    copies = Counter(sent)
    report(f"Twilio and Android answered 503 for {BOTH_DOWN:.0f} s; {CASES} cases")
    report(f"alert sends parked in the failed registry during the outage: {failed_during}")
    report(
        f"every tier-1 alert delivered {recovered:.1f} s after the routes came back "
        f"(escalation every 10 s re-drives them); duplicates: {sum(n - 1 for n in copies.values())}"
    )
    report(f"outage notices to the duty officer: {len(to_duty)}")
    assert failed_during, "the drill did not park any alert"
    assert everything, "a parked alert was never re-driven"
    assert max(copies.values()) == 1
    assert len(to_duty) == 1
