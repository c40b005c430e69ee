"""Drill: Redis goes away for 20 s (or sits at maxmemory) while cases are opened and alerted.

The Procfile's worker and clock must ride it out in the same processes, every case opened is
alerted exactly once after Redis is back, and /healthz is not ok during the outage and ok
afterwards.
"""

from __future__ import annotations

import threading
import time
from collections import Counter

import psutil
import pytest
import requests
from rq import Worker

from testing.drill import DrillGateway, help_stream, sent_about, wait_until

pytestmark = [pytest.mark.drill, pytest.mark.timeout(900)]

OUTAGES = {"stopped": 20.0, "maxmemory": 6.0}  # seconds Redis is away, per kind
BEFORE, AFTER = 8.0, 12.0  # seconds of help requests before and after the outage
PACE = 0.25  # seconds between the starts of two help requests (one at a time)
ALERT_LIMIT = 180  # seconds after Redis is back for every case opened to be alerted


def ref_in(ref: str, sent) -> bool:
    return f"#{ref}" in sent.body


@pytest.fixture
def gateway(drill_redis, tmp_path):
    running = DrillGateway(drill_redis.url, tmp_path / "gw", SEND_RATE="200")
    yield running
    running.stop()


class Poller(threading.Thread):
    """GET /healthz twice a second: (seconds since start, HTTP status or 0) per answer."""

    def __init__(self, base: str, began: float):
        super().__init__(daemon=True)
        self.base, self.began = base, began
        self.seen: list[tuple[float, int]] = []
        self.done = threading.Event()

    def run(self):
        with requests.Session() as http:
            while not self.done.is_set():
                try:
                    status = http.get(self.base + "/healthz", timeout=5).status_code
                except requests.RequestException:
                    status = 0
                self.seen.append((time.monotonic() - self.began, status))
                self.done.wait(0.5)


@pytest.mark.parametrize("kind", list(OUTAGES))
def test_redis_outage_loses_no_alert_and_sends_none_twice(gateway, drill_redis, report, kind):
    down_for = OUTAGES[kind]
    pids = {name: gateway.procs[name].pid for name in ("worker", "clock")}
    # The worker line is a pool: its send workers are its children, and those register.
    senders = {child.pid for child in psutil.Process(pids["worker"]).children()}
    began = time.monotonic()
    outcomes: list[tuple[float, str | None]] = []
    stream_ends = BEFORE + down_for + AFTER
    poller = Poller(gateway.base, began)
    poller.start()

    most = int(stream_ends / PACE) + 1
    client_thread = help_stream(
        gateway, "+99290008{:04d}", began, stream_ends, PACE, most, outcomes
    )
    time.sleep(BEFORE)
    admin = drill_redis.client()
    if kind == "stopped":
        drill_redis.stop()  # SIGTERM: Redis writes its AOF and goes away
        down_at = time.monotonic() - began
        time.sleep(down_for)
        drill_redis.start()  # same port and directory: the AOF is replayed
    else:
        used = int(admin.info("memory")["used_memory"])
        admin.config_set("maxmemory", str(used))  # noeviction: every write answers OOM
        down_at = time.monotonic() - began
        time.sleep(down_for)
        admin = drill_redis.client()
        admin.config_set("maxmemory", "0")
    back_at = time.monotonic() - began
    back = time.time()
    client_thread.join(stream_ends + 120)
    assert not client_thread.is_alive(), "the request stream did not finish"

    refs = [ref for _, ref in outcomes if ref]

    def alerted(ref):
        return len({s.to for s in sent_about(gateway.twilio, ref)}) >= 2

    wait_until(lambda: all(alerted(r) for r in refs), ALERT_LIMIT, 1.0)
    lasts = [max(s.at for s in sent_about(gateway.twilio, r)) for r in refs if alerted(r)]
    last_alert = max(lasts, default=back) - back
    healthy_again = wait_until(
        lambda: next((t for t, s in poller.seen if t > back_at and s == 200), None), 120, 0.5
    )
    time.sleep(5)  # a second copy would come soon after the recovery
    poller.done.set()
    poller.join(10)

    unalerted = [ref for ref in refs if not alerted(ref)]
    # Nobody accepts and no deadline passes here: each responder gets one SMS per case.
    with gateway.twilio.lock:
        copies = Counter((s.to, ref) for ref in refs for s in gateway.twilio.sent if ref_in(ref, s))
        delivered = len(gateway.twilio.sent)
    twice = {k: n for k, n in copies.items() if n > 1}
    during = [s for t, s in poller.seen if down_at + 1 < t < back_at]
    alive = {name: gateway.procs[name].poll() is None for name in pids}
    workers = {w.pid for w in Worker.all(connection=admin)}
    now_senders = {child.pid for child in psutil.Process(pids["worker"]).children()}
    admin.close()

    report(f"Redis {kind} for {down_for:.0f} s at {down_at:.0f} s, AOF everysec")
    report(
        f"cases opened: {len(refs)} of {len(outcomes)} help requests "
        f"({len(outcomes) - len(refs)} got no reference: the neutral error end, or kept in the "
        "spool and opened later)"
    )
    report(f"cases alerted: {len(refs) - len(unalerted)}; lost: {len(unalerted)}")
    report(f"SMS handed to the provider: {delivered}; the same case twice to one: {len(twice)}")
    report(f"/healthz during the outage: {sorted(Counter(during).items())} (status: answers)")
    recovered = "never" if healthy_again is None else f"{healthy_again - back_at:.1f} s"
    report(f"seconds to recover: /healthz ok after {recovered}, last alert {last_alert:.1f} s")
    report(
        f"worker and clock still the same processes: {alive}; send workers the same: "
        f"{now_senders == senders}, registered: {senders <= workers}"
    )

    assert all(alive.values()), f"a process exited: {alive}"
    assert now_senders == senders, "a send worker died and was replaced"
    assert senders <= workers, "the send workers are not registered after the outage"
    assert not unalerted, f"cases never alerted: {unalerted}"
    assert not twice, f"sent twice: {len(twice)}"
    assert during and 200 not in during, f"/healthz said ok during the outage: {during}"
    assert healthy_again is not None, "/healthz never said ok again"
    assert [ref for at, ref in outcomes if ref and at > back_at], "no case opened after"
