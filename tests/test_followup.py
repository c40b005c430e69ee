"""Follow-up after OK: LATER sets a date and its holder is reminded then; a reminder without an
answer reaches the duty officer; NOTE keeps an encrypted note; quiet cases are reminded once a
period; a coordinator sets a follow-up on the case page."""

from __future__ import annotations

import time

import pytest

from gateway import templates
from gateway.store.keys import CASE
from testing.app import (
    DUTY,
    GROUP_1,
    GROUP_2,
    coordinator_client,
    form_token,
    sms_from,
    taken,
    texts_to,
    work,
)
from testing.leaks import assert_no_clear, redis_dump

pytestmark = pytest.mark.live

NOTE = "She found work in the bazaar, call 90 000 93 99 on Friday"


def test_later_reminds_the_holder_and_an_unanswered_reminder_reaches_the_duty_officer(
    app, twilio_fake
):
    ref = taken(app)
    context = app.extensions["hamdam"]
    store = context.store
    sms_from(app, GROUP_2, f"LATER {ref} 14")  # alerted, but not the holder
    sms_from(app, GROUP_1, f"LATER {ref} 14")
    work(app)
    case = store.cases.by_ref(ref)
    assert case.follow_up == pytest.approx(time.time() + 14 * 86400, abs=60)
    day = time.strftime("%Y-%m-%d", time.gmtime(case.follow_up))
    assert templates.render("later_set", "tg", ref=ref, date=day) in texts_to(twilio_fake, GROUP_1)
    assert templates.render("unclear", "tg") in texts_to(twilio_fake, GROUP_2)
    work(app, scheduled=f"follow-{case.id}-1")  # the date has come (made due now)
    reminder = [t for t in texts_to(twilio_fake, GROUP_1) if "Вақти санҷиш" in t]
    assert len(reminder) == 1 and f"#{ref}" in reminder[0]
    store.redis.hset(CASE.format(id=case.id), "active_at", time.time() - 3 * 86400)
    work(app, scheduled=f"followchk-{case.id}-1")  # two days on, no word from her
    missed = [t for t in texts_to(twilio_fake, DUTY) if "Malika R." in t]
    assert len(missed) == 1 and f"#{ref}" in missed[0]
    events = [e["event"] for e in store.audit.trail() if e.get("case") == case.id]
    assert {"follow_up_set", "follow_up_due", "follow_up_missed"} <= set(events)


def test_a_newer_later_replaces_the_older_and_an_answer_stops_the_escalation(app, twilio_fake):
    ref = taken(app)
    store = app.extensions["hamdam"].store
    sms_from(app, GROUP_1, f"LATER {ref} 30")
    sms_from(app, GROUP_1, f"LATER {ref} 2")
    case = store.cases.by_ref(ref)

    def reminders() -> list[str]:
        return [t for t in texts_to(twilio_fake, GROUP_1) if "Вақти санҷиш" in t]

    work(app, scheduled=f"follow-{case.id}-1")  # the older one: void
    assert reminders() == []
    work(app, scheduled=f"follow-{case.id}-2")
    assert len(reminders()) == 1
    sms_from(app, GROUP_1, f"NOTE {ref} went to see her")
    work(app, scheduled=f"followchk-{case.id}-2")
    assert not [t for t in texts_to(twilio_fake, DUTY) if "Malika R." in t]


def test_a_note_is_kept_encrypted_shown_masked_and_purged_with_her_data(app, twilio_fake, caplog):
    ref = taken(app)
    store = app.extensions["hamdam"].store
    sms_from(app, GROUP_1, f"NOTE {ref} {NOTE}")
    sms_from(app, GROUP_2, f"NOTE {ref} not mine")  # not the holder: nothing kept
    work(app)
    case = store.cases.by_ref(ref)
    assert store.cases.notes(case.id, of="rnote") == [NOTE]
    assert templates.render("note_kept", "tg", ref=ref) in texts_to(twilio_fake, GROUP_1)
    dump = redis_dump(store.redis)
    assert b"bazaar" not in dump and "bazaar" not in caplog.text
    assert_no_clear(dump, "+992900009399", inputs=["bazaar"])
    assert_no_clear(caplog.text, "+992900009399", inputs=["bazaar"])
    story = app.extensions["hamdam"].casefile.story(_admin(), ref)
    assert story.notes == ["She found work in the bazaar, call ***99 on Friday"]
    sms_from(app, "+992900009301", "STOP")  # her STOP purges the case's notes too
    work(app)
    assert store.cases.notes(case.id, of="rnote") == []


def test_quiet_cases_are_reminded_once_a_period(app, twilio_fake):
    ref = taken(app)
    context = app.extensions["hamdam"]
    store = context.store
    case = store.cases.by_ref(ref)
    assert context.followup.quiet() == 0  # taken a moment ago
    store.redis.zadd("hd:cases:taken", {case.id: time.time() - 15 * 86400})
    assert context.followup.quiet() == 1
    assert context.followup.quiet() == 1  # the same reminder: one message id
    work(app)
    quiet = [t for t in texts_to(twilio_fake, GROUP_1) if "15 рӯз" in t]
    assert len(quiet) == 1 and f"#{ref}" in quiet[0]
    sms_from(app, GROUP_1, f"LATER {ref} 7")  # a follow-up ahead: not quiet
    assert context.followup.quiet() == 0


def test_a_coordinator_sets_a_follow_up_and_lists_quiet_cases(app):
    ref = taken(app)
    client = coordinator_client(app)
    store = app.extensions["hamdam"].store
    case = store.cases.by_ref(ref)
    store.redis.zadd("hd:cases:taken", {case.id: time.time() - 20 * 86400})
    store.redis.hset(CASE.format(id=case.id), "taken_at", time.time() - 20 * 86400)
    listed = client.get("/console/?quiet=1").get_data(as_text=True)
    assert f">{ref}<" in listed and "1 taken without news for 14 days" in listed
    page = client.get(f"/console/cases/{ref}").get_data(as_text=True)
    token = form_token(page)
    bad = client.post(f"/console/cases/{ref}/follow-up", data={"csrf": token, "days": "400"})
    assert bad.status_code == 400
    done = client.post(f"/console/cases/{ref}/follow-up", data={"csrf": token, "days": "7"})
    assert "said=follow_up" in done.headers["Location"]
    assert f">{ref}<" not in client.get("/console/?quiet=1").get_data(as_text=True)
    story = client.get(f"/console/cases/{ref}").get_data(as_text=True)
    assert "follow-up in 7 days, set by dilnoza" in story


def _admin():
    from gateway.accounts import EVERY_ORG, Operator

    return Operator("tester", EVERY_ORG, "admin")
