"""The inbound limit: it holds floods back, never mutes a responder, her HELP or her STOP, and
never drops anything silently. Real Redis, real RQ worker, a fake Twilio on loopback."""

from __future__ import annotations

import json

import pytest

from gateway.store.keys import OPEN_CASES
from testing.app import GROUP_1, GROUP_2, SURVIVOR, ask_for_help, sms_from, store_of, work
from testing.leaks import assert_no_clear

# Every test here runs the whole gateway: fake Twilio and Android on loopback, a real Redis.
pytestmark = pytest.mark.live


STRANGER = "+992900009377"
LIMIT = 30  # Limits.sms_per_hour


def dropped(app, reason: str = "rate_limit", channel: str = "twilio") -> int:
    return store_of(app).metrics.inbound_dropped_counts().get((channel, reason), 0)


def metrics_text(app) -> str:
    response = app.test_client().get("/metrics", auth=("operator", "test-operator-password"))
    assert response.status_code == 200
    return response.get_data(as_text=True)


def test_a_flooded_responder_still_accepts(app, twilio_fake):
    ref = ask_for_help(app, consent="group")
    work(app)
    for n in range(LIMIT + 10):  # e.g. someone spoofing the group leader's number
        sms_from(app, GROUP_1, f"hello {n}")
    sms_from(app, GROUP_1, f"OK {ref}")
    work(app)
    case = store_of(app).cases.by_ref(ref)
    assert (case.state, case.taken_by) == ("taken", "vakhsh-group-1")
    assert any(SURVIVOR in s.body for s in twilio_fake.to(GROUP_1))  # the details reached them
    assert dropped(app) == 10


def test_a_flooded_responder_still_declines_and_closes(app, twilio_fake):
    ref = ask_for_help(app, consent="group")
    work(app)
    for n in range(LIMIT + 1):
        sms_from(app, GROUP_2, f"spam {n}")
    sms_from(app, GROUP_2, f"NO {ref}")
    sms_from(app, GROUP_1, f"OK {ref}")
    for n in range(LIMIT + 1):
        sms_from(app, GROUP_1, f"spam {n}")
    sms_from(app, GROUP_1, f"DONE {ref}")
    work(app)
    store = store_of(app)
    assert store.cases.by_ref(ref).state == "closed"
    assert [e["event"] for e in store.audit.trail()].count("declined") == 1


def test_a_dropped_message_is_counted_and_audited_once_without_the_number(app):
    for n in range(LIMIT + 5):
        sms_from(app, STRANGER, f"hi {n}")
    store = store_of(app)
    trail = store.audit.trail()
    [entry] = [e for e in trail if e["event"] == "inbound_dropped"]  # one per phone and hour
    assert entry["reason"] == "rate limit" and entry["channel"] == "twilio"
    assert entry["sender"] == store.vault.digest(STRANGER)
    assert entry["responder"] == "no"
    assert_no_clear(json.dumps(trail, ensure_ascii=False), STRANGER)
    assert 'hamdam_inbound_dropped_total{channel="twilio",reason="rate_limit"} 5' in (
        metrics_text(app)
    )


def test_a_spoofed_responder_number_cannot_guess_references(app, twilio_fake):
    ref = ask_for_help(app, consent="group")
    work(app)
    guesses = [str(n) for n in range(100000, 100000 + 2 * LIMIT)]  # none of them is hers
    for guess in guesses:
        sms_from(app, GROUP_1, f"OK {guess}")
    store = store_of(app)
    events = [e["event"] for e in store.audit.trail()]
    assert events.count("command_ignored") == LIMIT  # the rest were dropped by the limit
    assert dropped(app) == LIMIT
    sms_from(app, GROUP_1, f"OK {ref}")  # the real answer still goes through
    work(app)
    assert store.cases.by_ref(ref).state == "taken"


def test_a_repeated_answer_is_exempt_only_once(app, twilio_fake):
    ref = ask_for_help(app, consent="group")
    work(app)
    sms_from(app, GROUP_2, f"OK {ref}")
    for _ in range(LIMIT + 10):  # each repeat would be answered "already taken"
        sms_from(app, GROUP_1, f"OK {ref}")
    work(app)
    assert dropped(app) == 9  # the first is exempt, then 30 within the limit, then dropped
    assert len([s for s in twilio_fake.to(GROUP_1)]) == 2  # the alert, then "taken" or "late"


def test_her_help_and_stop_are_never_dropped_by_the_inbound_limit(app, twilio_fake):
    for n in range(LIMIT + 5):  # her own texts, or someone flooding with her number
        sms_from(app, SURVIVOR, f"text {n}")
    sms_from(app, SURVIVOR, "ЁРДАМ")
    store = store_of(app)
    assert len(store.redis.zrange(OPEN_CASES, 0, -1)) == 1
    sms_from(app, SURVIVOR, "STOP")
    assert store.consent.suppressed(SURVIVOR)
    for _ in range(LIMIT + 5):
        sms_from(app, SURVIVOR, "STOP")  # repeats change nothing and are not audited again
    events = [e["event"] for e in store.audit.trail()]
    assert events.count("consent_withdrawn") == 1


def test_her_help_over_the_case_limit_is_counted_and_audited(app):
    for _ in range(7):
        sms_from(app, STRANGER, "HELP")
    store = store_of(app)
    assert len(store.redis.zrange(OPEN_CASES, 0, -1)) == 5
    [entry] = [e for e in store.audit.trail() if e["event"] == "case_refused"]
    assert entry["sender"] == store.vault.digest(STRANGER)
    assert dropped(app, "case_limit", channel="sms") == 2
