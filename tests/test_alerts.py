"""Alerts end to end in one process: HTTP in, real Redis, real RQ worker, real HTTP out."""

from __future__ import annotations

import logging
import time

import pytest
from rq import Queue
from rq.job import Job
from rq.registry import FailedJobRegistry, ScheduledJobRegistry
from twilio.request_validator import RequestValidator

from gateway import templates
from gateway.channels.android import sign
from gateway.jobs import ALERTS_QUEUE, job_case
from gateway.store.keys import OPEN_CASES
from gateway.text import measure
from testing.app import (
    COORDINATOR,
    DUTY,
    GROUP_1,
    GROUP_2,
    MAHALLA,
    POLICE,
    PUBLIC,
    SECRET,
    SURVIVOR,
    TOKEN,
    app_with,
    ask_for_help,
    recipients,
    retry_due,
    sms_from,
    ussd_phone,
    work,
)
from testing.leaks import assert_no_clear, redis_dump

# Every test here runs the whole gateway: fake Twilio and Android on loopback, a real Redis.
pytestmark = pytest.mark.live


def test_first_tier_follows_her_consent(app, twilio_fake, redis_client, caplog):
    with caplog.at_level(logging.DEBUG):
        ref = ask_for_help(app, consent="group")  # her group only
        work(app)
    assert recipients(twilio_fake) == [GROUP_1, GROUP_2]
    for sent in twilio_fake.sent:
        assert ref in sent.body and f"OK {ref}" in sent.body
        assert measure(sent.body).segments <= 2
        assert "900009301" not in sent.body
        assert sent.extra["ValidityPeriod"] == "3600"
        assert sent.extra["StatusCallback"].startswith(PUBLIC + "/sms/twilio/status?m=")
    assert_no_clear(redis_dump(redis_client), SURVIVOR)
    assert_no_clear(caplog.text, SURVIVOR)


def test_mahalla_consent_adds_the_mahalla_contact(app, twilio_fake):
    ask_for_help(app, consent="mahalla")
    work(app)
    assert recipients(twilio_fake) == [GROUP_1, GROUP_2, MAHALLA]


def test_first_ok_wins_and_gets_her_number(app, twilio_fake):
    ref = ask_for_help(app, consent="group", call="day")  # daytime calls only
    work(app)
    sms_from(app, GROUP_2, f"ok {ref}")
    sms_from(app, GROUP_1, f"OK {ref}")  # too late
    work(app)
    [details] = [s for s in twilio_fake.to(GROUP_2) if "yours" in s.body or "Рақам" in s.body]
    assert SURVIVOR in details.body
    assert "Call only in daytime." in details.body or "Танҳо рӯзона" in details.body
    taken = [s.body for s in twilio_fake.to(GROUP_1)]
    # The alert, then one word that the case went to another: "taken" or "late", never both.
    assert len(taken) == 2, taken
    assert all(SURVIVOR not in body for body in taken)
    store = app.extensions["hamdam"].store
    case = store.cases.by_ref(ref)
    assert (case.state, case.taken_by) == ("taken", "vakhsh-group-2")


def test_no_number_when_she_said_do_not_call(app, twilio_fake):
    ref = ask_for_help(app, call="none")
    work(app)
    sms_from(app, GROUP_1, f"OK {ref}")
    work(app)
    assert all(SURVIVOR not in s.body for s in twilio_fake.sent)


def test_unalerted_or_unregistered_ok_takes_nothing_and_reveals_nothing(app, twilio_fake):
    ref = ask_for_help(app, consent="group")
    work(app)
    before = len(twilio_fake.sent)
    unused = "1" + ref if len(ref) < 6 else ref[::-1]  # a reference no case has
    sms_from(app, MAHALLA, f"OK {ref}")  # registered but not alerted (no mahalla consent)
    sms_from(app, MAHALLA, f"OK {unused}")
    sms_from(app, "+992900009399", f"OK {ref}")  # not registered
    work(app)
    assert app.extensions["hamdam"].store.cases.by_ref(ref).state == "open"
    # The mahalla contact is told the same for a real and an unknown reference: not understood.
    replies = [s.body for s in twilio_fake.sent[before:]]
    assert replies == [templates.render("unclear", "tg")] * 2
    assert [s.to for s in twilio_fake.sent[before:]] == [MAHALLA, MAHALLA]
    events = [e["event"] for e in app.extensions["hamdam"].store.audit.trail()]
    assert events.count("command_ignored") == 3 and events.count("command_unclear") == 2


@pytest.mark.parametrize("written", ["OK{ref}", "OK-{ref}", "Ok, {ref}", "ok #{ref}.", "ОК {ref}"])
def test_usual_ways_of_writing_ok_take_the_case(app, twilio_fake, written):
    ref = ask_for_help(app, consent="group")
    work(app)
    sms_from(app, GROUP_1, written.format(ref=ref))
    work(app)
    assert app.extensions["hamdam"].store.cases.by_ref(ref).state == "taken"
    assert f"#{ref}" in twilio_fake.to(GROUP_1)[-1].body  # her details


def test_plain_ok_takes_the_only_open_alert(app, twilio_fake):
    ref = ask_for_help(app, consent="group")
    work(app)
    sms_from(app, GROUP_2, "ok")
    work(app)
    store = app.extensions["hamdam"].store
    case = store.cases.by_ref(ref)
    assert (case.state, case.taken_by) == ("taken", "vakhsh-group-2")
    assert store.cases.open_alerts("vakhsh-group-2") == []


def test_plain_ok_with_two_open_alerts_is_not_understood(app, twilio_fake):
    first = ask_for_help(app, consent="group")
    second = ask_for_help(app, consent="group", phone="+992900009302")
    work(app)
    before = len(twilio_fake.to(GROUP_1))
    sms_from(app, GROUP_1, "OK")
    sms_from(app, GROUP_1, "OK 12")
    sms_from(app, GROUP_1, "done")
    work(app)
    store = app.extensions["hamdam"].store
    assert {store.cases.by_ref(first).state, store.cases.by_ref(second).state} == {"open"}
    replies = [s.body for s in twilio_fake.to(GROUP_1)[before:]]
    assert replies == [templates.render("unclear", "tg")] * 3
    trail = [e for e in store.audit.trail() if e["event"] == "command_unclear"]
    assert [e["command"] for e in trail] == ["accept", "unclear", "done"]
    assert all(e["responder"] == "vakhsh-group-1" for e in trail)


def test_her_plain_yes_or_no_is_still_a_note(app):
    ask_for_help(app, consent="group")
    sms_from(app, SURVIVOR, "Не, ҳоло не")
    store = app.extensions["hamdam"].store
    [case_id] = [i.decode() for i in store.redis.zrange(OPEN_CASES, 0, -1)]
    assert store.cases.notes(case_id) == ["Не, ҳоло не"]


def test_silence_escalates_tier_by_tier_then_reminds_duty(app, twilio_fake):
    ref = ask_for_help(app, consent="police")  # police allowed
    work(app)
    assert recipients(twilio_fake) == [GROUP_1, GROUP_2, MAHALLA]
    work(app, scheduled="esc-")
    assert twilio_fake.to(COORDINATOR)
    work(app, scheduled="esc-")
    assert twilio_fake.to(POLICE)
    work(app, scheduled="esc-")
    assert twilio_fake.to(DUTY)
    work(app, scheduled="esc-")
    reminders = twilio_fake.to(DUTY)
    assert len(reminders) == 2 and "Ёдрас" in reminders[1].body and ref in reminders[1].body


def escalation_due(app) -> dict[str, float]:
    """The escalation jobs waiting in RQ's scheduled job registry: id -> seconds from now."""
    registry = ScheduledJobRegistry(
        queue=Queue(ALERTS_QUEUE, connection=app.extensions["hamdam"].store.redis)
    )
    now = time.time()
    return {
        job_id: registry.get_scheduled_time(job_id).timestamp() - now
        for job_id in registry.get_job_ids()
        if job_id.startswith("esc-")
    }


def test_duty_officer_is_reminded_remind_every_after_the_duty_alert(app, twilio_fake):
    timing = app.extensions["hamdam"].alerting.timing
    assert timing.remind_every != timing.escalate_after  # else the test could not tell them apart
    ask_for_help(app)  # group consent: group, coordinator, then the duty officer
    work(app)
    [first] = escalation_due(app).values()
    assert first == pytest.approx(timing.escalate_after, abs=5)  # a tier with a next tier
    while not twilio_fake.to(DUTY):
        work(app, scheduled="esc-")
    [after_duty] = escalation_due(app).values()
    assert after_duty == pytest.approx(timing.remind_every, abs=5)
    work(app, scheduled="esc-")
    assert len(twilio_fake.to(DUTY)) == 2  # the first reminder
    [after_reminder] = escalation_due(app).values()
    assert after_reminder == pytest.approx(timing.remind_every, abs=5)


def test_escalation_stops_once_taken(app, twilio_fake):
    ref = ask_for_help(app)
    work(app)
    sms_from(app, GROUP_1, f"OK {ref}")
    work(app)
    sent = len(twilio_fake.sent)
    work(app, scheduled="esc-")
    assert len(twilio_fake.sent) == sent and not twilio_fake.to(COORDINATOR)


def test_whole_tier_declining_escalates_at_once(app, twilio_fake):
    ref = ask_for_help(app, consent="group")
    work(app)
    sms_from(app, GROUP_1, f"NO {ref}")
    sms_from(app, GROUP_2, f"не {ref}")
    work(app)
    assert twilio_fake.to(COORDINATOR)


def test_done_closes_and_status_says_closed(app, twilio_fake):
    ref = ask_for_help(app)
    work(app)
    sms_from(app, GROUP_1, f"OK {ref}")
    sms_from(app, GROUP_2, f"DONE {ref}")  # not the accepter: ignored
    work(app)
    assert app.extensions["hamdam"].store.cases.by_ref(ref).state == "taken"
    sms_from(app, GROUP_1, f"ТАМОМ {ref}")
    work(app)
    assert app.extensions["hamdam"].store.cases.by_ref(ref).state == "closed"
    ussd = ussd_phone(app)
    ussd.dial()
    assert "closed" in ussd.press("2", ref).lower()


@pytest.fixture
def twilio_only(env, monkeypatch):
    yield from app_with(env, monkeypatch, SMS_ROUTES="twilio")


def test_provider_500_is_retried_and_delivered_once(twilio_only, twilio_fake):
    twilio_fake.fail_next(500, {"code": 20500}, times=2)
    ask_for_help(twilio_only, consent="group")
    work(twilio_only)
    assert twilio_fake.sent == []
    retry_due(twilio_only)
    assert recipients(twilio_fake) == [GROUP_1, GROUP_2]
    retry_due(twilio_only)
    assert recipients(twilio_fake) == [GROUP_1, GROUP_2]  # no second copy


def test_provider_500_fails_over_at_once_to_a_second_route(app, twilio_fake, android_fake):
    twilio_fake.fail_next(500, {"code": 20500}, times=2)
    ask_for_help(app, consent="group")
    work(app)  # no waiting for a retry: the Android route takes both alerts now
    assert twilio_fake.sent == []
    assert recipients(android_fake) == [GROUP_1, GROUP_2]
    retry_due(app)
    assert twilio_fake.sent == [] and len(android_fake.sent) == 2


def test_read_timeout_of_her_acknowledgement_is_checked_before_any_resend(
    app, twilio_fake, android_fake
):
    """A message to her is never risked twice: the retry asks Twilio, which has it."""
    twilio_fake.hold(to=SURVIVOR)  # Twilio takes her text and answers after our read timeout
    ask_for_help(app, consent="group", call="any", sms="yes")
    work(app)  # her text waits for its retry; no other route gets it meanwhile
    assert android_fake.to(SURVIVOR) == []
    twilio_fake.release()
    retry_due(app)
    retry_due(app)
    assert len(twilio_fake.to(SURVIVOR)) == 1 and android_fake.to(SURVIVOR) == []
    [ack] = [m for m in app.extensions["hamdam"].store.messages.iter() if m.get("purpose") == "ack"]
    assert ack["state"] == "queued" and ack["provider_id"] == twilio_fake.to(SURVIVOR)[0].id


def test_read_timeout_of_an_alert_fails_over_at_once(app, twilio_fake, android_fake):
    """For a responder, a possible second SMS beats silence: the next route takes it now."""
    twilio_fake.hold()
    ask_for_help(app, consent="group")
    work(app)
    twilio_fake.release()
    assert recipients(android_fake) == [GROUP_1, GROUP_2]
    # The first alert waited for Twilio's read timeout; the second skipped the slow route.
    assert len(twilio_fake.sent) == 1
    retry_due(app)
    assert len(android_fake.sent) == 2


def test_permanent_error_fails_over_to_the_next_route(app, twilio_fake, android_fake):
    twilio_fake.fail_next(400, {"code": 21211}, times=2)
    ask_for_help(app, consent="group")
    work(app)
    assert twilio_fake.sent == []
    assert recipients(android_fake) == [GROUP_1, GROUP_2]


def test_exhausted_route_fails_over_and_total_failure_lands_in_failed_registry(
    app, twilio_fake, android_fake, redis_client
):
    twilio_fake.fail_next(503, times=20)
    android_fake.fail_next(400, times=20)
    ask_for_help(app, consent="group")
    work(app)
    retry_due(app)
    failed = FailedJobRegistry(queue=Queue(ALERTS_QUEUE, connection=redis_client))
    store = app.extensions["hamdam"].store
    alerts = [j for j in failed.get_job_ids() if job_case(store, j)]
    assert len(alerts) == 2 and len(failed.get_job_ids()) == 3  # and one notice to duty
    assert twilio_fake.sent == [] and android_fake.sent == []
    job = Job.fetch(alerts[0], connection=redis_client)
    assert job.args[0] not in (GROUP_1, GROUP_2) and len(job.args) == 1


def test_status_callbacks_never_go_backwards(app, twilio_fake):
    ask_for_help(app, consent="group")
    work(app)
    sent = twilio_fake.sent[0]
    path = sent.extra["StatusCallback"][len(PUBLIC) :]
    client = app.test_client()
    for status in ("delivered", "sent", "queued"):
        form = {"MessageSid": sent.id, "MessageStatus": status}
        sig = RequestValidator(TOKEN).compute_signature(PUBLIC + path, form)
        response = client.post(path, data=form, headers={"X-Twilio-Signature": sig})
        assert response.status_code == 204
    mid = path.split("m=")[1]
    assert app.extensions["hamdam"].store.messages.get(mid)["state"] == "delivered"
    bad = client.post(path, data={"MessageSid": sent.id, "MessageStatus": "sent"})
    assert bad.status_code == 403


def test_android_status_events_and_unknown_after_timeout(app, twilio_fake, android_fake):
    twilio_fake.fail_next(400, {"code": 21610}, times=2)  # opted out on Twilio
    ask_for_help(app, consent="group")
    work(app)
    store = app.extensions["hamdam"].store
    first, second = android_fake.sent
    body = b'{"event":"sms:delivered","payload":{"messageId":"' + first.id.encode() + b'"}}'
    stamp = str(int(time.time()))
    response = app.test_client().post(
        "/sms/android",
        data=body,
        headers={"X-Timestamp": stamp, "X-Signature": sign(SECRET, body, stamp)},
    )
    assert response.status_code == 200
    assert store.messages.get(first.id)["state"] == "delivered"
    work(app, scheduled="rcpt-")
    assert store.messages.get(second.id)["state"] == "unknown"
    assert store.messages.get(first.id)["state"] == "delivered"


def test_alert_for_a_taken_case_is_dropped_not_sent(app, twilio_fake, android_fake):
    twilio_fake.fail_next(500, times=2)
    android_fake.fail_next(500, times=2)
    ref = ask_for_help(app, consent="group")
    work(app)  # both alerts wait for a retry
    store = app.extensions["hamdam"].store
    case = store.cases.by_ref(ref)
    assert store.cases.take(case.id, "vakhsh-group-1") == "won"
    retry_due(app)
    assert twilio_fake.sent == []


def test_send_rate_is_shared_per_route(app):
    store = app.extensions["hamdam"].store
    now = time.time() // 1 + 0.25
    waits = [store.messages.send_slot("twilio", 2, now) for _ in range(3)]
    assert waits == [0, 0, 0.75]
    assert store.messages.send_slot("android", 2, now) == 0  # each route has its own budget
    assert store.messages.send_slot("twilio", 2, now + 1) == 0  # the next second


def test_her_acknowledgement_only_when_she_asked(app, twilio_fake):
    ref = ask_for_help(app, call="any", sms="yes")  # calls any time, one SMS please
    ask_for_help(app, call="any", sms="no", phone="+992900009302")
    work(app)
    [ack] = twilio_fake.to(SURVIVOR)
    assert ack.body == f"Code {ref}: received. Thank you."
    assert measure(ack.body).segments == 1
    assert twilio_fake.to("+992900009302") == []


def test_no_acknowledgement_after_stop(app, twilio_fake):
    ask_for_help(app, call="any", sms="yes")
    sms_from(app, SURVIVOR, "STOP")
    work(app)
    assert twilio_fake.to(SURVIVOR) == []
    assert recipients(twilio_fake) == [GROUP_1, GROUP_2]
