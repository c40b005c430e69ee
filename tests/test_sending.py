"""Nothing lost, nothing twice: volume, Redis write failures, replays and outages."""

# ruff: noqa: F811 - pytest fixtures imported from test_alerts are redefined as arguments

from __future__ import annotations

import time
from collections import Counter

import pytest
import redis

from gateway.channels.base import Outbound
from gateway.channels.twilio import TwilioSender
from gateway.jobs import job_case
from gateway.web import context_of
from testing.app import (
    COORDINATOR,
    DUTY,
    GROUP_1,
    GROUP_2,
    app_with,
    ask_for_help,
    retry_due,
    sms_from,
    work,
)
from testing.fakes import FakeTwilio

# Every test here runs the whole gateway: fake Twilio and Android on loopback, a real Redis.
pytestmark = pytest.mark.live


def recipients_of(fake) -> list[str]:
    return sorted(s.to for s in fake.sent)


def copies(*fakes) -> Counter:
    return Counter((s.to, s.body) for fake in fakes for s in fake.sent)


# ---- item 4: the provider id and the end of "in flight" are one write ------------------------
class FullRedisTwilio(FakeTwilio):
    """Takes the message, then Redis refuses writes (maxmemory) before Twilio answers."""

    redis_url = ""

    def handle(self, method, path, raw, handler):
        answer = super().handle(method, path, raw, handler)
        if method == "POST" and self.redis_url:
            client = redis.Redis.from_url(self.redis_url)
            client.config_set("maxmemory", 1)
            client.close()
            self.redis_url = ""
        return answer


@pytest.fixture
def full_twilio():
    fake = FullRedisTwilio()
    yield fake
    fake.close()


def test_a_failed_write_after_the_send_never_sends_twice(app, full_twilio, redis_client, redis_url):
    sending = app.extensions["hamdam"].sending
    store = app.extensions["hamdam"].store
    twilio = app.extensions["hamdam"].settings.channels["twilio"]
    sending.senders[0] = TwilioSender(
        twilio.account_sid, twilio.auth_token, twilio.sender, full_twilio.url
    )
    store.messages.create("m-oom", GROUP_1, "#4821: test", purpose="details", case="x")
    full_twilio.redis_url = redis_url
    try:
        with pytest.raises(redis.exceptions.ResponseError, match="maxmemory"):
            sending.deliver("m-oom")
    finally:
        redis_client.config_set("maxmemory", 0)
    # A worker restart runs the job again: the provider is asked, nothing is sent again.
    assert sending.deliver("m-oom") == "sent (recovered)"
    assert len(full_twilio.sent) == 1
    message = store.messages.get("m-oom")
    assert message["provider_id"] == full_twilio.sent[0].id and "inflight" not in message


def test_twilio_find_pages_past_fifty_messages(app, twilio_fake):
    twilio = app.extensions["hamdam"].settings.channels["twilio"]
    sender = TwilioSender(twilio.account_sid, twilio.auth_token, twilio.sender, twilio_fake.url)
    since = time.time()
    target = Outbound("m-old", GROUP_1, "#100001: the oldest")
    assert sender.send(target).ok
    for n in range(120):
        assert sender.send(Outbound(f"m-{n}", GROUP_1, f"#{n}: newer")).ok
    assert sender.find(target, since) == twilio_fake.to(GROUP_1)[0].id
    pages = [p for m, p in twilio_fake.requests if m == "GET"]
    assert len(pages) == 2  # 121 messages, 100 a page


def test_replay_asks_the_provider_before_sending_again(app, twilio_fake, android_fake):
    twilio_fake.hold()  # Twilio takes both alerts but answers too late
    android_fake.fail_next(400, times=2)  # and the second route refuses them for good
    ask_for_help(app, consent="group")
    work(app)
    twilio_fake.release()
    store = app.extensions["hamdam"].store
    failed = [j for j in context_of(app).jobs.failed() if job_case(store, j)]
    # The first alert reached Twilio (unknown to us); the second skipped the slow route.
    first = [s.to for s in twilio_fake.sent if s.to in (GROUP_1, GROUP_2)]
    assert len(failed) == 2 and len(first) == 1
    runner = app.test_cli_runner()
    result = runner.invoke(args=["replay", "--reason", "Twilio answers again"])
    assert result.exit_code == 0 and result.output.count("requeued") >= 2, result.output
    work(app)
    assert len(twilio_fake.to(first[0])) == 1  # found at Twilio, not sent again
    assert android_fake.to(first[0]) == []
    both = recipients_of(twilio_fake) + recipients_of(android_fake)
    assert both.count(GROUP_1) == 1 and both.count(GROUP_2) == 1
    assert max(copies(twilio_fake, android_fake).values()) == 1
    for job in failed:
        message = store.messages.get(job[len("send-") :])
        assert message["state"] == "queued" and message["provider_id"]


# ---- item 11b: a losing responder hears it once ----------------------------------------------
def test_a_late_ok_gets_late_or_taken_never_both(app, twilio_fake):
    ref = ask_for_help(app, consent="group")
    work(app)
    sms_from(app, GROUP_1, f"OK {ref}")
    sms_from(app, GROUP_2, f"OK {ref}")  # before the winner's "taken" went out
    work(app)
    to_loser = [s.body for s in twilio_fake.to(GROUP_2)]
    assert len(to_loser) == 2, to_loser  # the alert, then one of "late" / "taken"


# ---- item 1: volume never silences a responder -----------------------------------------------
@pytest.fixture
def two_an_hour(env, monkeypatch):
    yield from app_with(env, monkeypatch, ALERTS_PER_HOUR="2")


def test_a_saturated_responder_gets_a_digest_not_silence(two_an_hour, twilio_fake, android_fake):
    app = two_an_hour
    refs = [ask_for_help(app, consent="group", phone=f"+99290000{9400 + n}") for n in range(5)]
    work(app)
    store = app.extensions["hamdam"].store
    # Two alerts each one by one; the three others held for a digest, never dropped.
    assert len(twilio_fake.to(GROUP_1)) == 2 and len(twilio_fake.to(GROUP_2)) == 2
    states = Counter(m["state"] for m in store.messages.iter())
    assert states["dropped"] == 0 and states["held"] >= 6
    assert store.messages.unsent_last_hour() >= 6
    # Meanwhile the next responder covers the held cases, and the duty officer hears once.
    assert twilio_fake.to(COORDINATOR)
    assert [m["purpose"] for m in store.messages.iter()].count("flood") == 1
    work(app, scheduled="digest-")
    digests = {m["id"] for m in store.messages.iter() if m["purpose"] == "digest"}
    assert len(digests) >= 2  # one per saturated responder
    [digest] = [
        s.body for s in twilio_fake.to(GROUP_1) if s.extra["StatusCallback"][-24:] in digests
    ]
    held_refs = [r for r in refs if not any(f"#{r}:" in s.body for s in twilio_fake.to(GROUP_1))]
    assert digest.startswith("3 ") and all(f"#{r}" in digest for r in held_refs), digest
    for phone in (GROUP_1, GROUP_2):  # every case reached both, none twice
        bodies = " ".join(s.body for s in twilio_fake.to(phone))
        assert all(f"#{r}" in bodies for r in refs)
    assert max(copies(twilio_fake, android_fake).values()) == 1
    # A digest's case is taken with the usual OK.
    sms_from(app, GROUP_1, f"OK {held_refs[0]}")
    work(app)
    assert store.cases.by_ref(held_refs[0]).state == "taken"
    events = Counter(e["event"] for e in store.audit.trail())
    assert events["alert_held"] >= 6 and events["digest"] >= 2
    text = app.test_client().get("/metrics", headers=_login(app)).get_data(as_text=True)
    assert 'hamdam_sends_total{route="digest",state="held"}' in text
    assert "hamdam_messages_unsent_last_hour 0" not in text
    assert "hamdam_messages_unsent_last_hour " in text
    # ... and /healthz names it (it holds no worker here, so "workers" is a reason too).
    health = app.test_client().get("/healthz").get_json()
    assert health["status"] == "degraded"
    [held] = [r for r in health["reasons"] if r["check"] == "messages"]
    assert "held for a digest" in held["detail"]


def _login(flask_app) -> dict[str, str]:
    import base64

    settings = flask_app.extensions["hamdam"].settings
    token = f"{settings.operator_user}:{settings.operator_password}".encode()
    return {"Authorization": "Basic " + base64.b64encode(token).decode()}


def test_loop_protection_still_limits_a_phone_that_is_no_responder(two_an_hour, twilio_fake):
    app = two_an_hour
    sending = app.extensions["hamdam"].sending
    store = app.extensions["hamdam"].store
    for n in range(3):
        store.messages.create(f"m-loop-{n}", "+992900009499", f"text {n}", purpose="x", case="")
    outcomes = [sending.deliver(f"m-loop-{n}") for n in range(3)]
    assert outcomes == ["sent", "sent", "dropped"]
    events = [e for e in store.audit.trail() if e["event"] == "message_dropped"]
    assert len(events) == 1 and "loop" in events[0]["why"]
    assert store.messages.unsent_last_hour() == 1


# ---- item 8: both routes down ----------------------------------------------------------------
def test_alerts_of_a_waiting_case_are_redriven_after_an_outage(app, twilio_fake, android_fake):
    twilio_fake.fail_next(503, times=100)
    android_fake.fail_next(503, times=100)
    ref = ask_for_help(app, consent="group")
    work(app)
    for _ in range(4):
        retry_due(app)
    store = app.extensions["hamdam"].store
    assert len(context_of(app).jobs.failed()) == 3  # two alerts and one notice to the duty officer
    twilio_fake.failures.clear()
    android_fake.failures.clear()  # the routes are back; nobody replays by hand
    work(app, scheduled="esc-")  # the case still waits: its escalation re-drives the alerts
    assert len(twilio_fake.to(GROUP_1)) == 1 and len(twilio_fake.to(GROUP_2)) == 1
    assert twilio_fake.to(COORDINATOR)
    [notice] = twilio_fake.to(DUTY)  # one notice for the outage, not one per alert
    assert "failing" in notice.body or "SMS" in notice.body
    assert max(copies(twilio_fake, android_fake).values()) == 1
    assert store.cases.by_ref(ref).state == "open" and context_of(app).jobs.failed() == []


def test_the_body_of_an_alert_sent_inside_a_digest_is_purged_in_time(app):
    from gateway import retention

    store = app.extensions["hamdam"].store
    store.messages.create("m-in-digest", GROUP_1, "#4821: in a digest", purpose="alert", case="x")
    assert store.messages.hold("m-in-digest", "vakhsh-group-1", time.time())
    assert store.messages.advance("m-in-digest", "coalesced", digest="m-digest")
    retention.sweep(store, time.time() + 10 * 86400, 90, 7200, dry_run=False)
    assert "body" not in store.messages.get("m-in-digest")
