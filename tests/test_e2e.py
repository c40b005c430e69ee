"""End to end with real processes: the Procfile's web and worker (with scheduler), real Redis,
fake Twilio and Android gateways on loopback, everything driven over HTTP."""

from __future__ import annotations

import json
import os
import signal
import time
import uuid
from pathlib import Path

import psutil
import pytest
import redis
import requests

from config.settings import Settings
from gateway import groups, templates
from gateway.cases import CaseState, Referral
from gateway.channels.android import sign
from gateway.compose import build
from testing.app import SECRET, add_operator, console_session, form_token, live_env
from testing.env import directory_with
from testing.fakes import FakeAndroid, FakeTwilio
from testing.leaks import assert_no_clear, redis_dump
from testing.processes import Processes, wait_for
from testing.ussd import Help, http_help

GROUP_1, GROUP_2, COORDINATOR = "+992900001001", "+992900001002", "+992900001090"
SUGHD_DUTY = "+992900002000"
NOTE = "Her brother-in-law took the papers of the house"
# A group that receives at any hour, so a broadcast goes while the test runs.
ALL_DAY = {"id": "e2e-group", "name": "Bahor group", "organisation": "nur", "code": "777",
           "hours": [0, 24], "senders": ["vakhsh-group-1"]}  # fmt: skip
MEMBERS = ("+992900009661", "+992900009662")


class Gateway(Processes):
    """The Procfile's processes talking to fake Twilio and Android gateways."""

    def __init__(self, redis_url: str, var: Path):
        self.twilio, self.android = FakeTwilio(), FakeAndroid()
        env = live_env(
            redis_url,
            var,
            self.twilio.url,
            self.android.url,
            SEND_RATE="50",
            SEND_TIMEOUT="5",
            ESCALATE_AFTER="10",
            ESCALATE_AFTER_URGENT="10",
            DIRECTORY_FILE=str(directory_with(var / "directory.yaml", **ALL_DAY)),
        )
        super().__init__(env, var)
        self.context = build(Settings.from_env(env))  # to read the store as the processes do

    def stop(self) -> None:
        super().stop()
        self.twilio.close()
        self.android.close()

    def ask_for_help(self, phone: str, **choices: str) -> str:
        """Her help request over HTTP, by meaning (testing.ussd.Help); her reference."""
        url = f"{self.base}/ussd/africastalking?key={self.env['USSD_KEY']}"
        with requests.Session() as http:
            ref, _ = http_help(http, url, phone, Help(**choices))
        return ref

    def sms(self, phone: str, text: str) -> None:
        event = {
            "event": "sms:received",
            "payload": {
                "messageId": uuid.uuid4().hex,
                "phoneNumber": phone,
                "message": text,
                "receivedAt": "2026-11-21T10:00:00+05:00",
            },
        }
        body = json.dumps(event).encode()
        stamp = str(int(time.time()))
        headers = {"X-Timestamp": stamp, "X-Signature": sign(SECRET, body, stamp)}
        response = requests.post(f"{self.base}/sms/android", data=body, headers=headers, timeout=5)
        assert response.status_code == 200, response.text


@pytest.fixture(scope="module")
def gateway(redis_url, tmp_path_factory):
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    running = Gateway(redis_url, tmp_path_factory.mktemp("e2e"))
    yield running
    running.stop()
    client.flushdb()


def about(fake, ref: str, phone: str) -> list:
    return [s for s in fake.sent if s.to == phone and f"#{ref}" in s.body]


def test_alert_accept_taken(gateway):
    survivor = "+992900009501"
    ref = gateway.ask_for_help(survivor, consent="group", call="any")
    wait_for(lambda: about(gateway.twilio, ref, GROUP_2), what="tier-1 alerts")
    wait_for(lambda: about(gateway.twilio, ref, GROUP_1), what="tier-1 alerts")
    alerted = {s.to for s in gateway.twilio.sent if f"#{ref}" in s.body}
    assert alerted == {GROUP_1, GROUP_2}  # her consent: her group only
    gateway.sms(GROUP_1, f"OK {ref}")
    wait_for(lambda: len(about(gateway.twilio, ref, GROUP_2)) == 2, what="'taken' to the other")
    details = wait_for(
        lambda: (
            len(about(gateway.twilio, ref, GROUP_1)) == 2 and about(gateway.twilio, ref, GROUP_1)
        ),
        what="details to the accepter",
    )
    assert survivor in details[1].body
    assert all(survivor not in s.body for s in about(gateway.twilio, ref, GROUP_2))


def test_silence_escalates_after_the_deadline(gateway):
    ref = gateway.ask_for_help("+992900009502")
    wait_for(lambda: about(gateway.twilio, ref, GROUP_1), what="tier-1 alerts")
    assert not about(gateway.twilio, ref, COORDINATOR)
    wait_for(lambda: about(gateway.twilio, ref, COORDINATOR), timeout=40, what="tier 2")


def test_provider_500_fails_over_and_each_alert_arrives_once(gateway):
    gateway.twilio.fail_next(500, {"code": 20500})
    ref = gateway.ask_for_help("+992900009503")

    def copies(phone):
        return len(about(gateway.twilio, ref, phone)) + len(about(gateway.android, ref, phone))

    wait_for(lambda: copies(GROUP_1) and copies(GROUP_2), what="both alerts")
    time.sleep(2)  # any duplicate would have arrived by now
    assert copies(GROUP_1) == 1 and copies(GROUP_2) == 1
    assert len([s for s in gateway.android.sent if f"#{ref}" in s.body]) == 1  # the failed one


def test_permanent_error_fails_over_to_android(gateway):
    gateway.twilio.fail_next(400, {"code": 21211}, times=2)
    ref = gateway.ask_for_help("+992900009504")
    wait_for(
        lambda: about(gateway.android, ref, GROUP_1) and about(gateway.android, ref, GROUP_2),
        what="alerts through the Android route",
    )
    assert not about(gateway.twilio, ref, GROUP_1) and not about(gateway.twilio, ref, GROUP_2)


def test_worker_killed_mid_send_still_sends_once(gateway):
    gateway.twilio.holding.clear()
    gateway.twilio.hold()
    ref = gateway.ask_for_help("+992900009505")
    assert gateway.twilio.holding.wait(20), "no send reached the provider"
    port = gateway.twilio.holding_port
    server = gateway.twilio.server.server_address[1]
    [sender] = {
        c.pid
        for c in psutil.net_connections("tcp")
        if c.laddr and c.raddr and c.laddr.port == port and c.raddr.port == server and c.pid
    }
    os.kill(sender, signal.SIGKILL)  # the process in the middle of the send
    gateway.twilio.release()
    wait_for(
        lambda: about(gateway.twilio, ref, GROUP_1) and about(gateway.twilio, ref, GROUP_2),
        timeout=40,
        what="both alerts after the crash",
    )
    time.sleep(3)
    assert len(about(gateway.twilio, ref, GROUP_1)) == 1
    assert len(about(gateway.twilio, ref, GROUP_2)) == 1


def said(gateway, phone: str, text: str, what: str):
    """Wait until the fake provider got this exact text for the phone."""
    return wait_for(
        lambda: text in [s.body for s in gateway.twilio.sent if s.to == phone], what=what
    )


def test_after_ok_aid_later_note_done_and_a_referral_with_her_consent(gateway):
    ref = gateway.ask_for_help("+992900009506", call="any")
    wait_for(lambda: about(gateway.twilio, ref, GROUP_1), what="tier-1 alert")
    gateway.sms(GROUP_1, f"OK {ref}")
    wait_for(lambda: len(about(gateway.twilio, ref, GROUP_1)) == 2, what="details")
    gateway.sms(GROUP_1, f"AID {ref} legal икт")  # any case; ИҚТ without Tajik letters
    codes = templates.aid_codes("tg", ("legal", "economic"))
    said(gateway, GROUP_1, templates.render("aid_recorded", "tg", ref=ref, aid=codes), "AID")
    gateway.sms(GROUP_1, f"LATER {ref} 14")
    day = time.strftime("%Y-%m-%d", time.gmtime(time.time() + 14 * 86400))
    said(gateway, GROUP_1, templates.render("later_set", "tg", ref=ref, date=day), "LATER")
    gateway.sms(GROUP_1, f"NOTE {ref} {NOTE}")
    said(gateway, GROUP_1, templates.render("note_kept", "tg", ref=ref), "NOTE")
    gateway.sms(GROUP_1, f"AID {ref} GARDEN")  # no such code: the codes, in their language
    said(gateway, GROUP_1, templates.render("aid_codes", "tg", ref=ref), "the aid codes")
    add_operator(gateway.context, "dilnoza", "nur")
    with console_session(gateway.base, "dilnoza") as http:
        url = f"{gateway.base}/console/cases/{ref}"
        token = form_token(http.get(url, timeout=10).text)
        form = {"csrf": token, "to": "sughd", "reason": "shelter"}
        refused = http.post(f"{url}/refer", data=form, allow_redirects=False, timeout=10)
        assert refused.status_code == 400 and "she must agree" in refused.text
        referred = http.post(
            f"{url}/refer", data={**form, "agreed": "yes"}, allow_redirects=False, timeout=10
        )
        assert referred.status_code == 302
    alert = wait_for(lambda: about(gateway.twilio, ref, SUGHD_DUTY), what="the referral alert")
    assert len(alert) == 1 and "+992900009506" not in alert[0].body
    gateway.sms(SUGHD_DUTY, f"OK {ref}")
    details = wait_for(
        lambda: (
            len(about(gateway.twilio, ref, SUGHD_DUTY)) == 2
            and about(gateway.twilio, ref, SUGHD_DUTY)
        ),
        what="the details to the receiving duty officer",
    )
    assert "+992900009506" in details[1].body
    said(
        gateway, GROUP_1, templates.render("taken", "tg", ref=ref), "'taken' to the sender's holder"
    )
    gateway.sms(SUGHD_DUTY, f"DONE {ref} SAFE")
    said(gateway, SUGHD_DUTY, templates.render("closed", "tg", ref=ref), "DONE with a code")
    store = gateway.context.store
    case = store.cases.by_ref(ref)
    assert (case.state, case.org, case.referral) == (CaseState.CLOSED, "sughd", Referral.ACCEPTED)
    assert case.aid == ("legal", "shelter", "economic")
    assert case.follow_up == 0  # the sender's follow-up date went with it: the new holder sets one
    assert store.cases.notes(case.id, of="rnote") == [NOTE]
    events = [e for e in store.audit.trail() if e.get("case") == case.id]
    referred = [e for e in events if e["event"] == "referred"]
    assert len(referred) == 1 and referred[0]["by"] == "dilnoza"
    accepted = [e for e in events if e["event"] == "referral_accepted"]
    assert accepted[0]["responder"] == "duty-sughd" and accepted[0]["sender"] == "nur"
    time.sleep(2)  # nothing more arrives: each answer was sent once
    sent = [(s.to, s.body) for s in gateway.twilio.sent if f"#{ref}" in s.body]
    assert len(sent) == len(set(sent))


def test_members_join_by_sms_and_a_broadcast_reaches_each_once_but_not_after_stop(gateway):
    for phone in MEMBERS:
        gateway.sms(phone, "JOIN 777")
    joined = groups.confirmation("en")
    for phone in MEMBERS:
        wait_for(lambda p=phone: texts(gateway, p) == [joined], what="the one confirmation")
    gateway.sms(MEMBERS[1], "STOP")
    wait_for(lambda: not gateway.context.store.members.is_member(
        "e2e-group", gateway.context.store.members.digest(MEMBERS[1])), what="STOP")  # fmt: skip
    add_operator(gateway.context, "malika", "nur")
    with console_session(gateway.base, "malika") as http:
        url = f"{gateway.base}/console/groups/e2e-group"
        token = form_token(http.get(url, timeout=10).text)
        form = {"csrf": token, "template": "course", "day": "sat", "time": "10:00"}
        preview = http.post(f"{url}/preview", data=form, timeout=10).text
        assert 'class="recipients">1<' in preview
        sent = http.post(f"{url}/send", data=form, allow_redirects=False, timeout=10)
        assert sent.status_code == 302
    course = "Course on Saturday at 10:00. Everyone is welcome."
    wait_for(lambda: texts(gateway, MEMBERS[0]) == [joined, course], what="the broadcast")
    time.sleep(2)  # nothing more arrives
    assert texts(gateway, MEMBERS[0]) == [joined, course]
    assert texts(gateway, MEMBERS[1]) == [joined]


def texts(gateway, phone: str) -> list[str]:
    return [s.body for s in gateway.twilio.sent if s.to == phone]


def test_nothing_of_hers_in_redis_logs_or_jobs(gateway, redis_url):
    blob = redis_dump(redis.Redis.from_url(redis_url))
    logs = gateway.log_text()
    for n in range(1, 7):
        assert_no_clear(blob, f"+99290000950{n}", inputs=[NOTE])
        assert_no_clear(logs, f"+99290000950{n}", inputs=[NOTE])
    for phone in MEMBERS:
        assert_no_clear(blob, phone)
        assert_no_clear(logs, phone)


def test_clock_runs_the_retention_sweep(gateway, redis_url):
    client = redis.Redis.from_url(redis_url)

    def swept():
        return any(f.get(b"event") == b"purged" for _, f in client.xrange("hd:audit"))

    wait_for(swept, timeout=30, what="the hourly retention sweep's first run")
