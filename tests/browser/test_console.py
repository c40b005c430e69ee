"""The operator console in headless Chromium against the Procfile's processes: sign-in and
lock-out, another organisation's case by URL, her number revealed with a reason and audited
with the operator's name, a failed alert replayed from the case page and sent once, a POST
without the form token refused; keyboard only, at 375 px."""

from __future__ import annotations

import re
import time

import pytest
import redis
import requests

from config.settings import Settings
from gateway.compose import build
from gateway.jobs import SEND_ID
from testing.app import CONSOLE_PASSWORD, GROUP_1, add_operator, live_env
from testing.fakes import FakeAndroid, FakeTwilio
from testing.leaks import assert_no_clear
from testing.processes import Processes, wait_for
from testing.ussd import Help, http_help

expect = pytest.importorskip("playwright.sync_api").expect  # requirements-dev.txt

PASSWORD = CONSOLE_PASSWORD
SURVIVOR, NORTH = "+992900009731", "+992900009732"
WAIT = 30_000


@pytest.fixture(scope="module")
def gateway(redis_url, tmp_path_factory):
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    twilio, android = FakeTwilio(), FakeAndroid()
    var = tmp_path_factory.mktemp("console")
    env = live_env(
        redis_url,
        var,
        twilio.url,
        android.url,
        ESCALATE_AFTER="3600",
        ESCALATE_AFTER_URGENT="3600",
    )
    context = build(Settings.from_env(env))
    add_operator(context, "dilnoza", "nur")
    add_operator(context, "aziz", "sughd")
    running = Processes(env, var)
    running.context, running.twilio, running.android = context, twilio, android
    yield running
    running.stop()
    logs = running.log_text()  # her number was shown on a page: it must be in no log
    for phone in (SURVIVOR, NORTH):
        assert_no_clear(logs, phone)
    twilio.close()
    android.close()
    client.flushdb()
    client.close()


@pytest.fixture
def page(browser, gateway):
    context = browser.new_context(viewport={"width": 375, "height": 800}, locale="en-GB")
    page = context.new_page()
    yield page
    context.close()
    gateway.context.store.logins.unlock(None)  # the next test signs in from the same address


def ask(gateway, phone: str, district: str) -> str:
    with requests.Session() as http:
        url = f"{gateway.base}/ussd/africastalking?key={gateway.env['USSD_KEY']}"
        ref, _ = http_help(http, url, phone, Help(district=district))
    return ref


def sign_in(page, gateway, name: str, password: str = PASSWORD) -> None:
    page.goto(gateway.base + "/console/")
    expect(page).to_have_url(re.compile(r"/console/login"))
    page.get_by_label("Name").fill(name)
    page.get_by_label("Password").fill(password)
    with page.expect_navigation():
        page.keyboard.press("Enter")


def audited(gateway, event: str) -> list[dict[str, str]]:
    return [e for e in gateway.context.store.audit.trail() if e["event"] == event]


def test_sign_in_locks_out_after_repeated_failures(page, gateway):
    for n in range(5):
        sign_in(page, gateway, "dilnoza", f"wrong password {n}")
    expect(page.get_by_role("alert")).to_contain_text("Too many failed sign-ins")
    sign_in(page, gateway, "dilnoza")  # the right password waits too
    expect(page.get_by_role("alert")).to_contain_text("Too many failed sign-ins")
    assert {e["user"] for e in audited(gateway, "operator_login_failed")} == {"dilnoza"}
    gateway.context.store.logins.unlock(None)
    sign_in(page, gateway, "dilnoza")
    expect(page.get_by_text("Signed in as dilnoza")).to_be_visible()
    assert audited(gateway, "operator_login")[-1]["user"] == "dilnoza"


def test_another_organisations_case_by_url_is_not_found(page, gateway):
    mine, theirs = ask(gateway, SURVIVOR, "Vakhsh"), ask(gateway, NORTH, "Khujand")
    case_id = gateway.context.store.cases.by_ref(mine).id

    def opened() -> bool:
        return any(e.get("case") == case_id for e in audited(gateway, "case_opened"))

    wait_for(opened, 30, "the planning job")
    sign_in(page, gateway, "dilnoza")
    page.get_by_label("Reference").fill(mine)
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_contain_text(f"Case {mine}")
    expect(page.locator(".timeline")).to_contain_text("opened")
    expect(page.locator(".timeline")).to_contain_text("alert to Malika")
    response = page.goto(f"{gateway.base}/console/cases/{theirs}")
    assert response.status == 404
    expect(page.get_by_role("alert")).to_have_text("No such case.")
    overflow = page.evaluate("document.documentElement.scrollWidth")
    assert overflow <= 375  # nothing wider than the phone's screen


def test_her_number_is_revealed_with_a_reason_and_audited(page, gateway):
    ref = ask(gateway, SURVIVOR, "Vakhsh")
    sign_in(page, gateway, "dilnoza")
    page.goto(f"{gateway.base}/console/cases/{ref}")
    assert SURVIVOR not in page.content()
    page.get_by_label("Why you need it").fill("she asked to be called back")
    page.keyboard.press("Enter")
    expect(page.locator(".revealed")).to_have_text(SURVIVOR)
    entry = audited(gateway, "number_revealed")[-1]
    assert (entry["by"], entry["reason"]) == ("dilnoza", "she asked to be called back")


def test_a_post_without_the_form_token_is_refused(page, gateway):
    ref = ask(gateway, SURVIVOR, "Vakhsh")
    sign_in(page, gateway, "dilnoza")
    expect(page.get_by_text("Signed in as dilnoza")).to_be_visible()
    before = len(audited(gateway, "number_revealed"))
    answer = page.request.post(
        f"{gateway.base}/console/cases/{ref}/reveal", form={"reason": "no token with this"}
    )
    assert answer.status == 403 and SURVIVOR not in answer.text()
    assert len(audited(gateway, "number_revealed")) == before


def test_a_failed_alert_is_replayed_from_the_case_page_once(page, gateway):
    gateway.twilio.fail_next(503, times=100)
    gateway.android.fail_next(503, times=100)
    ref = ask(gateway, SURVIVOR, "Vakhsh")
    store, jobs = gateway.context.store, gateway.context.jobs
    case = store.cases.by_ref(ref)

    def failed() -> list[str]:
        ids = [m["id"] for m in store.messages.of_case(case.id)]
        return [i for i in ids if jobs.is_failed(SEND_ID.format(message=i))]

    wait_for(lambda: len(failed()) == 2, 60, "both alerts in the failed registry")
    gateway.twilio.failures.clear()
    gateway.android.failures.clear()
    sent_before = len(gateway.twilio.sent) + len(gateway.android.sent)
    sign_in(page, gateway, "dilnoza")
    page.goto(f"{gateway.base}/console/cases/{ref}")
    buttons = page.get_by_role("button", name="Send again")
    expect(buttons).to_have_count(2)
    buttons.first.focus()
    page.keyboard.press("Enter")
    expect(page.get_by_role("status")).to_contain_text("Replay: requeued")
    wait_for(lambda: len(failed()) == 1, 30, "the replayed alert to leave the failed registry")

    def alerts() -> list:
        sent = [*gateway.twilio.sent, *gateway.android.sent][sent_before:]
        return [m for m in sent if ref in m.body]

    wait_for(alerts, 30, "the replayed alert at a provider")
    time.sleep(5)  # a second send of it would come within this
    assert [m.to for m in alerts()] == [GROUP_1]  # once, and only the replayed one
    entry = [e for e in audited(gateway, "replayed") if e.get("case") == case.id][-1]
    assert entry["by"] == "dilnoza"
    page.reload()
    expect(page.get_by_role("button", name="Send again")).to_have_count(1)
    expect(page.get_by_text("replayed by dilnoza")).to_be_visible()
    timeline = page.locator(".timeline")
    expect(timeline).to_contain_text(
        re.compile(r"alert to Malika R\. \(group\): (queued|sent|delivered) via")
    )
