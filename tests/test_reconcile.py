"""Inbound reconciliation: a help SMS that reached a provider while the gateway could not be
reached is fetched afterwards, handled once, and never twice when its webhook comes late."""

from __future__ import annotations

import json
import time

import pytest
from rq import Queue

from gateway.jobs import ALERTS_QUEUE
from testing.app import (
    INBOUND,
    android_body,
    open_cases,
    post_android,
    post_twilio,
    store_of,
    twilio_form,
    work,
)
from workers import jobs

pytestmark = pytest.mark.live

PHONE = "dev-test-0002"


def reconcile(app) -> None:
    """The clock's ten-minute job, run by a worker (and the alerts it queued)."""
    Queue(ALERTS_QUEUE, connection=store_of(app).redis).enqueue(jobs.reconcile)
    work(app)


def test_a_help_sms_twilio_received_during_an_outage_opens_one_case(app, twilio_fake):
    sid = twilio_fake.receive("+992900009401", INBOUND, "Ёрдам")  # no webhook reached us
    assert open_cases(app) == []
    reconcile(app)
    cases = open_cases(app)
    assert len(cases) == 1 and cases[0].channel == "sms"
    alerted = {s.to for s in twilio_fake.sent if f"#{cases[0].ref}" in s.body}
    assert len(alerted) >= 2  # its alerts went out as for any help request

    reconcile(app)  # listed again: a repeat
    late = post_twilio(app.test_client(), twilio_form(MessageSid=sid, SmsSid=sid))
    assert late.status_code == 200  # the webhook, retried late by hand: a repeat too
    assert len(open_cases(app)) == 1
    assert store_of(app).watching.reconciled()["twilio"] == pytest.approx(time.time(), abs=30)


def test_android_phones_are_asked_to_send_their_inbox_again_and_it_is_handled_once(
    app, android_fake, twilio_fake
):
    ping = {"deviceId": PHONE, "event": "system:ping", "payload": {"health": {}}}
    assert post_android(app.test_client(), json.dumps(ping).encode()).status_code == 200
    before = time.time()
    reconcile(app)
    assert len(android_fake.exports) == 1
    export = android_fake.exports[0]
    assert export["deviceId"] == PHONE
    since = time.mktime(time.strptime(export["since"], "%Y-%m-%dT%H:%M:%SZ")) - time.timezone
    assert before - 7200 - 600 - 5 <= since <= before - 7200  # two hours back, the first time

    # What the phone sends again: a help SMS that never reached us, and one that did.
    body = android_body(messageId="inbox-0001", phoneNumber="+992900009402")
    for _ in range(2):
        assert post_android(app.test_client(), body).status_code == 200
    work(app)
    assert len(open_cases(app)) == 1

    reconcile(app)  # the next look goes back to ten minutes before the last one's end
    second = android_fake.exports[1]
    assert second["since"] > export["since"]


def test_a_provider_that_cannot_be_asked_keeps_its_window_for_the_next_run(app, android_fake):
    ping = {"deviceId": PHONE, "event": "app:started", "payload": {}}
    assert post_android(app.test_client(), json.dumps(ping).encode()).status_code == 200
    android_fake.fail_next(503, {"message": "phone offline"})
    reconcile(app)
    assert "android" not in store_of(app).watching.reconciled()
    assert "twilio" in store_of(app).watching.reconciled()
    reconcile(app)
    assert "android" in store_of(app).watching.reconciled()
    assert android_fake.exports[0]["since"] <= android_fake.exports[-1]["since"]


def test_her_help_then_her_stop_both_fetched_end_as_her_stop(app, twilio_fake):
    her = "+992900009403"
    twilio_fake.receive(her, INBOUND, "Ёрдам")
    time.sleep(1.1)  # Twilio's times are whole seconds
    twilio_fake.receive(her, INBOUND, "STOP")
    reconcile(app)  # listed newest first; handled as she sent them
    [case] = open_cases(app)
    # Her STOP came last: her number is purged from the case (still alerted, without it).
    assert store_of(app).cases.phone(case.id) is None
    assert store_of(app).consent.suppressed(her)


def test_a_help_sent_before_a_stop_that_reached_us_first_opens_nothing(app, twilio_fake):
    her = "+992900009404"
    twilio_fake.receive(her, INBOUND, "Ёрдам")  # lost on the way
    time.sleep(1.1)
    stop = twilio_form(From=her, Body="STOP", MessageSid="SM" + "5" * 32, SmsSid="SM" + "5" * 32)
    assert post_twilio(app.test_client(), stop).status_code == 200  # her STOP came through
    reconcile(app)
    assert open_cases(app) == []
    events = [e["event"] for e in store_of(app).audit.trail()]
    assert "reconciled_skipped" in events and "case_opened" not in events


def test_while_no_android_webhook_gets_through_its_window_does_not_move(app, android_fake):
    ping = {"deviceId": PHONE, "event": "system:ping", "payload": {"health": {}}}
    assert post_android(app.test_client(), json.dumps(ping).encode()).status_code == 200
    heard = store_of(app).watching.last_heard()[("android", PHONE)]
    reconcile(app)  # now: reconciled up to the phone's last webhook
    context = jobs._built()
    context.reconciliation.clock = lambda: heard + 3 * 3600  # three hours, the web unreachable
    reconcile(app)
    reconcile(app)
    first, second = android_fake.exports[-2:]
    since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(heard - 600))
    assert first["since"] == second["since"] == since  # asked again from before the outage
    assert store_of(app).watching.reconciled()["android"] == pytest.approx(heard, abs=1)
