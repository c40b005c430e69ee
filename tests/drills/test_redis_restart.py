"""Drill: Redis (AOF on) stops and restarts under a stream of help requests."""

from __future__ import annotations

import signal
import time
from collections import Counter

import pytest

from gateway.store.keys import OPEN_CASES
from testing.drill import DrillGateway, help_stream, sent_about, wait_until

pytestmark = [pytest.mark.drill, pytest.mark.timeout(900)]

STREAM_SECONDS = 24  # the whole stream; Redis is down from second 6 to second 12
DOWN_AT, DOWN_FOR = 6.0, 6.0
PACE = 0.25  # seconds between the starts of two help requests (one at a time)
MAX_REQUESTS = 120  # bound on the stream whatever the timing
# A job the worker had taken when Redis went away is abandoned if the worker exits; RQ gives it
# back only after its heartbeat lapses and an idle worker's next maintenance pass (about 7
# minutes with RQ's defaults, see test_worker_crash.py).
ALERT_LIMIT = 600


@pytest.fixture
def gateway(drill_redis, tmp_path):
    running = DrillGateway(drill_redis.url, tmp_path / "gw", SEND_RATE="200")
    yield running
    running.stop()


@pytest.mark.parametrize("stop", ["SIGTERM", "SIGKILL"])
def test_every_reference_given_exists_and_is_alerted_once(gateway, drill_redis, report, stop):
    outcomes: list[tuple[float, str | None]] = []
    began = time.monotonic()
    client_thread = help_stream(
        gateway, "+99290007{:04d}", began, STREAM_SECONDS, PACE, MAX_REQUESTS, outcomes
    )
    time.sleep(DOWN_AT)
    drill_redis.stop(getattr(signal, stop))
    time.sleep(DOWN_FOR)
    drill_redis.start()  # same port and directory: the AOF is replayed
    back = time.time()
    client_thread.join(STREAM_SECONDS + 60)
    assert not client_thread.is_alive(), "the request stream did not finish"

    # A platform restarts a process that exits; count it when the worker did not survive.
    restarted = gateway.restart_exited()

    refs = [ref for _, ref in outcomes if ref]
    client = drill_redis.client()
    missing = [ref for ref in refs if not client.get(f"hd:ref:{ref}")]

    def alerted(ref):
        return len({s.to for s in sent_about(gateway.twilio, ref)}) >= 2

    wait_until(lambda: all(alerted(r) for r in refs), ALERT_LIMIT, 1.0)
    unalerted = [ref for ref in refs if not alerted(ref)]
    lasts = [max(s.at for s in sent_about(gateway.twilio, r)) for r in refs if alerted(r)]
    slowest = max(lasts, default=back) - back
    time.sleep(3)
    with gateway.twilio.lock:
        copies = Counter((s.to, s.body) for s in gateway.twilio.sent)
    twice = {k: n for k, n in copies.items() if n > 1}
    opened = client.zcard(OPEN_CASES)
    client.close()

    failed = len(outcomes) - len(refs)
    report(f"Redis stopped with {stop} at {DOWN_AT:.0f} s for {DOWN_FOR:.0f} s, AOF everysec")
    after = [ref for at, ref in outcomes if ref and at > DOWN_AT + DOWN_FOR]
    report(f"{len(outcomes)} help requests: {len(refs)} got a reference, {failed} the error end")
    report(f"references given after the restart: {len(after)}")
    report(f"cases open in Redis afterwards: {opened} (references given: {len(refs)})")
    report(f"references missing afterwards: {len(missing)}; not alerted: {len(unalerted)}")
    report(f"last alert sent {slowest:.0f} s after Redis was back (limit {ALERT_LIMIT} s)")
    report(f"messages accepted twice by the provider: {len(twice)}")
    report(f"processes that exited and were restarted: {restarted or 'none'}")
    assert not missing, f"references lost: {missing}"
    assert not unalerted, f"cases never alerted: {unalerted}"
    assert not twice, f"sent twice: {len(twice)}"
    assert after, "no request succeeded after the restart"
