"""Drill: the whole worker (main process, work-horse and scheduler) is SIGKILLed mid-send."""

from __future__ import annotations

import signal
import time

import psutil
import pytest

from testing.drill import DrillGateway, sent_about, wait_until

pytestmark = [pytest.mark.drill, pytest.mark.timeout(780)]

# RQ declares a dead worker's job abandoned once its heartbeat lapses (job monitoring interval
# 30 s + 60 s), and only a worker's maintenance pass notices. An idle worker runs that pass
# only when its blocking dequeue times out: worker_ttl - 15 = 405 s with RQ's defaults, so the
# Procfile's --maintenance-interval 60 does not shorten it. The dead scheduler's lock (61 s)
# is retaken in the same pass. About 7 minutes in all; allow 10.
RECOVERY_LIMIT = 600


def messages_of(client, ref: str) -> list[dict[bytes, bytes]]:
    """The stored alert messages of the case with this reference (plain fields)."""
    case_id = client.get(f"hd:ref:{ref}")
    found = []
    for key in client.scan_iter(match="hd:msg:*"):
        fields = client.hgetall(key)
        if case_id and fields.get(b"case") == case_id:
            found.append(fields)
    return found


@pytest.fixture
def gateway(drill_redis, tmp_path):
    running = DrillGateway(drill_redis.url, tmp_path / "gw", SEND_RATE="50")
    yield running
    running.stop()


def test_whole_worker_killed_mid_send_delivers_once(gateway, drill_redis, report):
    gateway.twilio.holding.clear()
    gateway.twilio.hold()  # the first send stays open at the provider, which has the message
    ref = gateway.ask_for_help("+992900061001", index=0)
    assert gateway.twilio.holding.wait(30), "no send reached the provider"
    worker = gateway.procs["worker"]
    # The work-horse runs in a process group of its own (RQ calls setpgrp), so the whole
    # worker is the main process and every descendant: work-horse and scheduler.
    family = psutil.Process(worker.pid).children(recursive=True)
    for proc in [psutil.Process(worker.pid), *family]:
        proc.send_signal(signal.SIGKILL)
    worker.wait(10)
    psutil.wait_procs(family, timeout=10)
    killed = time.monotonic()
    gateway.twilio.release()
    gateway.start_worker()  # the replacement a platform would start

    recipients = {f"+99290004{1:02d}{r:02d}" for r in (1, 2)}

    client = drill_redis.client()

    def settled():
        # The provider has both, and the gateway knows it handed over both (the killed job
        # was found abandoned, retried, and recovered the provider's id instead of resending).
        stored = messages_of(client, ref)
        at_provider = {s.to for s in sent_about(gateway.twilio, ref)} >= recipients
        return at_provider and len(stored) == 2 and all(m.get(b"provider_id") for m in stored)

    assert wait_until(settled, RECOVERY_LIMIT, 1.0), "the killed send was never settled"
    recovered = time.monotonic() - killed
    time.sleep(5)  # a second copy would come right after the recovery
    copies = {
        to: len([s for s in sent_about(gateway.twilio, ref) if s.to == to]) for to in recipients
    }
    report(
        f"case #{ref}: worker, work-horse and scheduler ({1 + len(family)} processes) SIGKILLed"
        " while the provider held the first send"
    )
    report(f"both sends settled {recovered:.0f} s after the kill (limit {RECOVERY_LIMIT} s)")
    states = sorted(m[b"state"].decode() for m in messages_of(client, ref))
    client.close()
    report(f"copies per recipient: {sorted(copies.values())} (expected [1, 1])")
    report(f"stored message states: {states}")
    assert all(n == 1 for n in copies.values()), copies
