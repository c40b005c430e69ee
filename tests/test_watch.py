"""The gateway watches itself: route health, silent Android phones, daily self-tests, and one
SMS to each organisation's duty officer when a problem starts and one when it has passed."""

from __future__ import annotations

import json
import time

import pytest
from rq import Queue
from twilio.request_validator import RequestValidator

from gateway import health
from gateway.jobs import ALERTS_QUEUE
from gateway.store.watch import Watching
from testing.app import (
    PUBLIC,
    TOKEN,
    app_with,
    ask_for_help,
    post_android,
    store_of,
    work,
)
from workers import jobs

pytestmark = pytest.mark.live

PHONE = "dev-test-0001"  # the app's deviceId: a phone of the Android route
TEST_NUMBERS = {"twilio": "+992900000555", "android": "+992900000556"}


@pytest.fixture
def app(live_env, monkeypatch):
    numbers = ",".join(f"{route}={number}" for route, number in TEST_NUMBERS.items())
    # Android first: a notice about a silent Android phone must go by Twilio instead.
    yield from app_with(
        live_env, monkeypatch, SMS_ROUTES="android,twilio", SELFTEST_NUMBERS=numbers
    )


class Clock:
    """One clock for the web's and the worker's watch."""

    def __init__(self, app):
        self.now = time.time()
        for context in (app.extensions["hamdam"], jobs._built()):
            context.watch.clock = self

    def __call__(self) -> float:
        return self.now


def ping(app) -> None:
    body = json.dumps({"deviceId": PHONE, "event": "system:ping", "payload": {"health": {}}})
    response = post_android(app.test_client(), body.encode())
    assert response.status_code == 200 and response.json == {"status": "ignored"}


def watch(app) -> None:
    """The clock's minute job, run by a worker, and the SMS it queued."""
    Queue(ALERTS_QUEUE, connection=store_of(app).redis).enqueue(jobs.watch)
    work(app)


def duty_officers(app) -> set[str]:
    directory = app.extensions["hamdam"].roster.directory
    return {directory.responders[o.duty_officer].phone for o in directory.organisations.values()}


def test_a_silent_phone_is_told_once_by_a_route_that_works_and_its_recovery_once(
    app, twilio_fake, android_fake
):
    clock = Clock(app)
    ping(app)
    assert store_of(app).watching.last_heard() == {("android", PHONE): pytest.approx(clock.now)}

    clock.now += 5401  # 90 minutes without a ping: the app was killed
    for _ in range(2):  # not yet two minutes: nobody is woken for a blip
        watch(app)
        clock.now += 60
    assert twilio_fake.sent == [] and android_fake.sent == []
    watch(app)
    told = [s for s in twilio_fake.sent if "android phone" in s.body]
    assert sorted(s.to for s in told) == sorted(duty_officers(app))
    assert all(f"android phone {PHONE[:16]}" in s.body for s in told)
    assert android_fake.sent == []  # not by the route whose phone is silent

    clock.now += 60
    ping(app)  # the phone is back ...
    for _ in range(3):
        clock.now += 60
        watch(app)
    clock.now += 5401  # ... and silent again before ten minutes passed: still the same problem
    for _ in range(3):
        watch(app)
        clock.now += 60
    ping(app)
    for _ in range(12):  # ten minutes without the problem: recovered, said once
        watch(app)
        clock.now += 60
    # (In this test no worker runs for good, so "workers" and "scheduler" fail too: their
    # notices name no phone.)
    about = [s for s in twilio_fake.sent + android_fake.sent if PHONE[:16] in s.body]
    assert len(about) == 2 * len(duty_officers(app)), [s.body for s in about]
    recovered = [s for s in about if s not in told]
    assert sorted(s.to for s in recovered) == sorted(duty_officers(app))
    # The phone is back: the recovery may go by Android again.
    assert all(s in android_fake.sent for s in recovered)
    audit = [e["problems"] for e in store_of(app).audit.trail() if e["event"] == "watch_problem"]
    assert sum(PHONE[:16] in problems for problems in audit) == 1
    back = [e for e in store_of(app).audit.trail() if e["event"] == "watch_recovered"]
    assert [e["problems"] for e in back] == [f"android phone {PHONE[:16]}"]


def test_a_route_refusing_sends_fails_healthz_and_shows_in_metrics(app, android_fake, twilio_fake):
    android_fake.fail_next(500, {"message": "internal"}, times=20)
    for n in range(3):
        ask_for_help(app, phone=f"+99290000940{n}", consent="group")
    work(app)
    assert twilio_fake.sent  # the alerts went by the second route
    client = app.test_client()
    answer = client.get("/healthz")
    assert answer.status_code == 503
    routes = [r for r in answer.json["reasons"] if r["check"] == "route"]
    assert [r["route"] for r in routes] == ["android"]
    assert "sends refused in the last hour" in routes[0]["detail"]
    assert answer.json["checks"]["routes_delivering"] == "failing"
    assert answer.json["checks"]["phones_heard"] == "ok"
    from testing.app import login

    metrics = client.get("/metrics", headers=login(app)).get_data(as_text=True)
    assert 'hamdam_check_failing{check="routes_delivering"} 1' in metrics
    assert 'hamdam_sends_last_hour{route="android",state="error"}' in metrics


def test_each_route_tests_itself_daily_on_its_own_route_and_healthz_says_if_it_was_not_delivered(
    app, twilio_fake, android_fake
):
    queue = Queue(ALERTS_QUEUE, connection=store_of(app).redis)
    android_fake.fail_next(500, {"message": "no credit"}, times=5)
    for _ in range(2):  # a clock restarted the same day sends nothing twice
        queue.enqueue(jobs.self_test)
        work(app)
    assert [s.to for s in twilio_fake.sent] == [TEST_NUMBERS["twilio"]]
    assert android_fake.sent == []  # refused, and not handed to Twilio instead
    store = store_of(app)
    settings = app.extensions["hamdam"].settings

    def failing(at: float) -> dict[str, str]:
        found = health.run(store, health.Limits.of(settings), at, [health.selftests_delivered])
        return {r["route"]: r["detail"] for r in found}

    assert failing(time.time()) == {}  # an hour to be delivered
    later = time.time() + health.SELFTEST_GRACE + 1
    assert set(failing(later)) == {"twilio", "android"}
    assert "it is queued" in failing(later)["twilio"]

    sent = twilio_fake.sent[0]
    path = sent.extra["StatusCallback"][len(PUBLIC) :]
    form = {"MessageSid": sent.id, "MessageStatus": "delivered"}
    signature = RequestValidator(TOKEN).compute_signature(PUBLIC + path, form)
    response = app.test_client().post(path, data=form, headers={"X-Twilio-Signature": signature})
    assert response.status_code == 204
    assert set(failing(later)) == {"android"}  # refused, and retried on Android alone
    assert "was not delivered" in failing(later)["android"]


def failed_job(app, present: bool) -> None:
    """A job in the failed list (the "failed jobs" check), or none."""
    from rq.job import Job

    redis = store_of(app).redis
    registry = Queue(ALERTS_QUEUE, connection=redis).failed_job_registry
    if present and not registry.count:
        job = Job.create("bench.jobs.noop", args=(1,), connection=redis, id="test-failed")
        job.save()
        registry.add(job, ttl=3600, exc_string="a test failure")
    elif not present:
        for job_id in registry.get_job_ids():
            registry.remove(job_id, delete_job=True)


def told(app, kind: str, name: str) -> int:
    trail = store_of(app).audit.trail()
    return sum(1 for e in trail if e["event"] == f"watch_{kind}" and name in e["problems"])


def test_a_problem_that_keeps_coming_back_is_told_and_a_flapping_one_at_most_three_times_a_day(
    app,
):
    clock = Clock(app)
    clock.now -= clock.now % 86400 - 3600  # 01:00 UTC: the day's count does not restart midway
    name = "failed jobs alerts"
    for present in (True, True, False, True, True, False):  # fails two minutes of every three
        failed_job(app, present)
        watch(app)
        clock.now += 60
    assert told(app, "problem", name) == 1  # it kept coming back: counted from its first time

    failed_job(app, False)
    for _ in range(11):
        watch(app)
        clock.now += 60
    assert told(app, "recovered", name) == 1
    for _ in range(5):  # failing 3 minutes, passing 11, over and over
        for present in [True] * 3 + [False] * 11:
            failed_job(app, present)
            watch(app)
            clock.now += 60
    assert told(app, "problem", name) == 3  # then quiet for the rest of the day
    assert told(app, "recovered", name) == 3


def test_a_notice_tried_again_after_a_failure_is_not_counted_again(redis_client):
    # The watch keeps its problems before telling anyone, so a run cut short (Redis gone in
    # the middle of a send, say) tries the same notice next minute: that is one telling, and
    # three such tries must not use up the day's three.
    watching, now = Watching(redis_client), 86400 * 20000 + 3600
    tries = [watching.count_told("failed jobs alerts", now - 300, now + 60 * m) for m in range(4)]
    assert tries == [1, 1, 1, 1]
    assert watching.count_told("failed jobs alerts", now + 60, now + 120) == 2  # it came back
    assert watching.count_told("a silent phone", now - 300, now) == 1
