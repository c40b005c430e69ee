"""Drill: the send workers die; the clock, which runs the watch, tells every duty officer by
SMS itself, once, and once more when a worker is back."""

from __future__ import annotations

import os
import signal
import time

import pytest
import yaml

from testing.drill import DrillGateway, wait_until

pytestmark = [pytest.mark.drill, pytest.mark.timeout(900)]

# HEALTH_WORKER_STALE: an idle worker beats once a minute (its maintenance interval), the clock
# at least once a minute.
STALE = 75
RAISE, RECOVER = 10, 30  # WATCH_RAISE_AFTER, WATCH_RECOVER_AFTER
TOLD_LIMIT = 300  # seconds from the kill to the notices: stale + two watch minutes + margin


@pytest.fixture
def gateway(drill_redis, tmp_path):
    running = DrillGateway(
        drill_redis.url,
        tmp_path / "gw",
        HEALTH_WORKER_STALE=str(STALE),
        WATCH_RAISE_AFTER=str(RAISE),
        WATCH_RECOVER_AFTER=str(RECOVER),
    )
    yield running
    running.stop()


def duty_phones(gateway: DrillGateway) -> set[str]:
    directory = yaml.safe_load((gateway.logs.parent / "directory.yaml").read_text())
    duty = {o["duty_officer"] for o in directory["organisations"]}
    return {str(r["phone"]) for r in directory["responders"] if r["id"] in duty}


def notices(gateway: DrillGateway, word: str, since: float) -> list:
    """Notices about the workers containing `word`, sent after `since` (unix time)."""
    with gateway.twilio.lock:
        return [
            s
            for s in gateway.twilio.sent
            if word in s.body and "workers" in s.body and s.at >= since
        ]


def watched_problems(drill_redis) -> set[str]:
    client = drill_redis.client()
    try:
        return {k.decode() for k in client.hkeys("hd:watch:problems")}
    finally:
        client.close()


def test_dead_workers_are_told_by_the_clock_once_and_their_return_once(
    gateway, drill_redis, report
):
    officers = duty_phones(gateway)
    # The watch has seen the workers up (at start they may not have been yet).
    settled = wait_until(lambda: "workers alerts" not in watched_problems(drill_redis), 180, 1)
    assert settled, "the watch never saw the workers up"
    worker = gateway.procs["worker"]
    os.killpg(worker.pid, signal.SIGKILL)  # the pool and every work-horse
    worker.wait(10)
    killed, killed_at = time.monotonic(), time.time()
    told = wait_until(
        lambda: len(notices(gateway, "failing", killed_at)) >= len(officers), TOLD_LIMIT, 1
    )
    told_after = time.monotonic() - killed
    assert told, f"no notice within {TOLD_LIMIT} s:\n{gateway.log_text()[-3000:]}"

    gateway.start_worker()  # a platform restarts it
    back, back_at = time.monotonic(), time.time()
    recovered = wait_until(
        lambda: len(notices(gateway, "passing", back_at)) >= len(officers),
        TOLD_LIMIT + RECOVER,
        1,
    )
    recovered_after = time.monotonic() - back
    time.sleep(65)  # one more watch: nothing more to say
    failing, passing = notices(gateway, "failing", killed_at), notices(gateway, "passing", back_at)

    report(f"send workers killed (SIGKILL); {len(officers)} duty officers")
    report(
        f"'failing' notices: {len(failing)}, {told_after:.0f} s after the kill, sent by the "
        f"clock (no worker was alive)"
    )
    report(
        f"a worker restarted; 'passing again' notices: {len(passing)}, {recovered_after:.0f} s "
        f"after (WATCH_RECOVER_AFTER {RECOVER} s)"
    )
    watched = gateway.http.get(gateway.base + "/healthz", timeout=10).json()
    clock_log = [line for line in gateway.log_text().splitlines() if "watch" in line]
    assert recovered, f"no recovery notice: {watched}\n" + "\n".join(clock_log[-15:])
    assert sorted(s.to for s in failing) == sorted(officers)  # one each, not one a minute
    assert sorted(s.to for s in passing) == sorted(officers)
