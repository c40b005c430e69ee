"""Drill: Twilio HELP SMS during a Redis outage are answered 200, spooled and replayed once."""

from __future__ import annotations

import fcntl
import json
import time
from collections import Counter
from pathlib import Path

import pytest
import requests

from gateway.store.keys import OPEN_CASES
from testing.drill import DrillGateway, sent_about, survivor, wait_until

pytestmark = [pytest.mark.drill, pytest.mark.timeout(600)]

RECORDED = Path(__file__).resolve().parents[1] / "recorded" / "twilio" / "inbound_sms.json"
MESSAGES = 20
RECOVER_LIMIT = 120  # seconds from Redis back to every case alerted


@pytest.fixture
def gateway(drill_redis, tmp_path):
    running = DrillGateway(drill_redis.url, tmp_path / "gw", SEND_RATE="200")
    yield running
    running.stop()


def help_forms() -> list[dict[str, str]]:
    template = json.loads(RECORDED.read_text())
    template.pop("_note")
    return [
        {
            **template,
            "MessageSid": f"SM{n:032x}",
            "SmsSid": f"SM{n:032x}",
            "From": survivor(phone(n), template["Body"]),
        }
        for n in range(MESSAGES)
    ]


def phone(n: int) -> str:
    return f"+99290008{n:04d}"


def spooled(gateway: DrillGateway) -> int:
    """Records waiting in the spool: new ones, and a batch a replayer has taken over."""
    folder = Path(gateway.env["VAR_DIR"], "spool")
    files = [folder / "inbound.spool", folder / "replaying.spool"]
    if not folder.exists():
        return 0
    with (folder / "replay.lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # no replayer moves records while they are counted
        return sum(p.read_bytes().count(b"\n") for p in files if p.exists())


def deliver(gateway: DrillGateway, form: dict[str, str]) -> int:
    try:
        return gateway.twilio_sms(form, timeout=10)
    except requests.RequestException:
        return 0


def test_help_sms_during_a_redis_outage_are_kept_and_replayed_once(gateway, drill_redis, report):
    forms = help_forms()
    drill_redis.stop()
    statuses = Counter(deliver(gateway, form) for form in forms)
    kept = spooled(gateway)
    drill_redis.start()
    back = time.monotonic()

    # A platform restarts a process that exits (a worker may not survive the outage).
    restarted = gateway.restart_exited()

    client = drill_redis.client()

    def refs() -> list[str]:
        ids = [i.decode() for i in client.zrange(OPEN_CASES, 0, -1)]
        return [client.hget(f"hd:case:{i}", "ref").decode() for i in ids]

    def alerted(ref: str) -> bool:
        return len(sent_about(gateway.twilio, ref)) >= 1

    wait_until(lambda: len(refs()) >= MESSAGES and all(alerted(r) for r in refs()), RECOVER_LIMIT)
    recovered = time.monotonic() - back
    opened = refs()
    alerted_refs = [r for r in opened if alerted(r)]
    left = spooled(gateway)

    again = Counter(deliver(gateway, form) for form in forms)  # the same MessageSids again
    time.sleep(3)
    after = refs()
    with gateway.twilio.lock:
        copies = Counter((s.to, s.body) for s in gateway.twilio.sent)
    twice = sum(1 for n in copies.values() if n > 1)
    client.close()
    raw = Path(gateway.env["VAR_DIR"], "spool").glob("*.spool")
    clear = [
        p.name for p in raw for n in range(MESSAGES) if phone(n)[4:].encode() in p.read_bytes()
    ]

    report(f"Redis stopped; {MESSAGES} signed Twilio HELP SMS sent: answers {dict(statuses)}")
    report(f"records in the spool while Redis was down: {kept} (encrypted; clear numbers: 0)")
    report(f"cases opened after Redis returned: {len(opened)}; alerted: {len(alerted_refs)}")
    report(f"lost: {MESSAGES - len(opened)}; duplicates: {len(opened) - MESSAGES + twice}")
    report(f"seconds from Redis back to every case alerted: {recovered:.1f}")
    report(f"the same {MESSAGES} MessageSids again: answers {dict(again)}, cases now {len(after)}")
    report(f"spool records left: {left}; processes restarted: {restarted or 'none'}")
    assert statuses == {200: MESSAGES}
    assert kept == MESSAGES
    assert not clear, f"a number in clear in the spool: {clear}"
    assert len(opened) == MESSAGES and len(set(opened)) == MESSAGES
    assert len(alerted_refs) == MESSAGES
    assert again == {200: MESSAGES} and len(after) == MESSAGES
    assert twice == 0
    assert left == 0
