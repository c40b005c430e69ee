"""The simulator page in headless Chromium against the Procfile's processes: one case played from
her USSD request in Tajik to a responder's OK, keyboard only, on a wide and a 360px screen."""

from __future__ import annotations

import re

import pytest
import redis

from config.settings import ROOT
from testing.env import make_env
from testing.processes import Processes

expect = pytest.importorskip("playwright.sync_api").expect  # requirements-dev.txt

ARTIFACTS = ROOT / "tests" / "artifacts"
SURVIVOR = "+992900009721"
GROUP_1, GROUP_2 = "vakhsh-group-1", "vakhsh-group-2"  # Malika R. and Zarina S., tier 1
WAIT = 20_000  # ms: the worker sends within a second or two; the page polls every second

# Her keys in Tajik, each with a piece of the screen it leads to.
PATH = [
    ("1", "Меню"),  # Тоҷикӣ
    ("1", "Мавзӯъ:"),  # Маслиҳат пурсидан
    ("2", "Ноҳия:"),  # Ҳуқуқӣ
    ("1", "Ба кӣ гӯем?"),  # Вахш
    ("1", "Занг занем?"),  # Танҳо гурӯҳам
    ("1", "Ба шумо SMS фиристем?"),  # Ҳар вақт
    ("1", "Ташаккур. Рамзи шумо:"),  # Не
]


@pytest.fixture(scope="module")
def gateway(redis_url, tmp_path_factory):
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    var = tmp_path_factory.mktemp("simulator")
    env = make_env(
        redis_url,
        var,
        SIMULATOR="1",
        ESCALATE_AFTER="3600",
        ESCALATE_AFTER_URGENT="3600",
        SEND_RATE="50",
        ANDROID_WEBHOOK_SECRET="simulator-test-signing-key",
    )
    running = Processes(env, var)
    yield running
    running.stop()
    client.flushdb()
    client.close()


@pytest.fixture
def page(browser, gateway):
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-GB")
    page = context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on(
        "response", lambda r: problems.append(f"{r.status} {r.url}") if r.status >= 400 else None
    )
    page.goto(gateway.base + "/simulator")
    yield page
    context.close()
    # The bad-number check answers 400 on purpose (seen as a response and as a console line).
    expected = re.compile(r"^400 .*/simulator/(ussd|inboxes)|status of 400")
    problems = [p for p in problems if not expected.search(p)]
    assert not problems, problems  # script errors, CSP refusals, failed requests


def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"simulator-{name}.png"), full_page=True)


def test_one_case_through_the_page(page):
    screen, answer = page.locator("#screen"), page.get_by_label("Reply", exact=True)
    phone = page.get_by_label("Phone number")
    phone.fill(SURVIVOR)
    phone.press("Enter")
    expect(screen).to_contain_text("Тоҷикӣ")
    expect(page.locator("#kind")).to_have_text("CON")
    expect(page.locator("#counter")).to_have_text(re.compile(r"^\d+/80 UCS-2$"))
    for key, shows in PATH:
        expect(answer).to_be_focused()
        page.keyboard.type(key)
        page.keyboard.press("Enter")
        expect(screen).to_contain_text(shows)
        if shows == "Ноҳия:":
            expect(screen).to_contain_text("Вахш")
            shot(page, "1-district")
            page.locator(".handset").screenshot(path=str(ARTIFACTS / "simulator-handset.png"))
    expect(page.locator("#kind")).to_have_text("END")
    expect(page.get_by_role("button", name=re.compile("^Dial"))).to_be_focused()
    expect(answer).to_be_disabled()
    ref = re.search(r"(\d{4,6})$", screen.inner_text().strip()).group(1)
    # The page guesses the language from the letters: "Ташаккур. Рамзи шумо" has no letter
    # that only Tajik uses, so it reads as Cyrillic, which is all the guess can tell.
    assert screen.get_attribute("lang") in ("tg", "ru")

    first, second = page.locator(f"#inbox-{GROUP_1}"), page.locator(f"#inbox-{GROUP_2}")
    expect(first).to_contain_text(f"OK {ref}", timeout=WAIT)
    expect(second).to_contain_text(f"OK {ref}", timeout=WAIT)
    assert SURVIVOR not in first.inner_text() + second.inner_text()  # an alert carries no number
    shot(page, "2-alerted")

    reply = page.get_by_label("Reply as Malika R.")
    reply.fill(f"OK {ref}")
    reply.press("Enter")
    expect(first.locator(".result")).to_have_text("Delivered to the gateway.")
    expect(second).to_contain_text(f"#{ref}-ро шахси дигар гирифт", timeout=WAIT)
    expect(first).to_contain_text(f"#{ref} аз они шумо", timeout=WAIT)
    expect(first).to_contain_text(SURVIVOR)  # she said calls are safe: the accepter gets it
    assert SURVIVOR not in second.inner_text()
    expect(page.locator("#own-empty")).to_be_visible()  # she asked for no SMS
    shot(page, "3-taken")

    page.set_viewport_size({"width": 360, "height": 740})
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    shot(page, "4-narrow")


def test_keyboard_order_and_visible_focus(page):
    phone = page.get_by_label("Phone number")
    phone.focus()
    page.keyboard.press("Tab")
    dial = page.get_by_role("button", name=re.compile("^Dial"))
    expect(dial).to_be_focused()
    outline = dial.evaluate("b => getComputedStyle(b).outlineStyle")
    assert outline not in ("", "none"), "focused controls must show it"
    page.keyboard.press("Enter")
    expect(page.get_by_label("Reply", exact=True)).to_be_focused()
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    hang_up = page.get_by_role("button", name="Hang up")
    expect(hang_up).to_be_focused()
    page.keyboard.press("Enter")
    expect(dial).to_be_focused()
    expect(page.locator("#screen")).to_have_text("Call ended.")
    sms = page.get_by_label("Send SMS as this phone")
    sms.fill("Салом")  # unknown text: the gateway takes it and answers nothing
    sms.press("Enter")
    expect(page.locator("#sms-result")).to_have_text("Delivered to the gateway.")
    bad = page.get_by_label("Phone number")
    bad.fill("12ab")
    bad.press("Enter")
    expect(page.locator("#ussd-error")).to_contain_text("phone: contains letters")


def play(page, phone: str) -> str:
    """Her USSD request through PATH from `phone`; the reference it ends with."""
    screen = page.locator("#screen")
    number = page.get_by_label("Phone number")
    number.fill(phone)
    number.press("Enter")
    expect(screen).to_contain_text("Тоҷикӣ")
    for key, shows in PATH:
        page.get_by_label("Reply", exact=True).fill(key)
        page.get_by_label("Reply", exact=True).press("Enter")
        expect(screen).to_contain_text(shows)
    return re.search(r"(\d{4,6})$", screen.inner_text().strip()).group(1)


def reset(page) -> None:
    page.get_by_role("button", name="Reset simulator").click()
    expect(page.locator("#tools-result")).to_contain_text("Reset:")
    expect(page.locator("#inboxes .message")).to_have_count(0, timeout=WAIT)


def synthetic_responders() -> list[str]:
    from gateway.directory import load
    from gateway.phone import synthetic

    found = load(ROOT / "config" / "directory.example.yaml").responders.values()
    return sorted(r.id for r in found if synthetic(r.phone))


def test_every_responder_from_the_start_and_reset(page):
    reset(page)
    cards = page.locator("#inboxes .inbox.responder")
    expected = synthetic_responders()
    expect(cards).to_have_count(len(expected))
    assert sorted(c.get_attribute("id")[len("inbox-") :] for c in cards.all()) == expected
    # A responder nobody alerted can still be played.
    police = page.locator("#inbox-vakhsh-police")
    reply = page.get_by_label("Reply as", exact=False).and_(police.locator("input"))
    reply.fill("OK 1234")
    reply.press("Enter")
    expect(police.locator(".result")).to_have_text("Delivered to the gateway.")
    expect(police.locator(".message.out")).to_contain_text("OK 1234", timeout=WAIT)
    expect(police.locator(".message.out")).to_contain_text("Sent SMS")
    expect(cards.first).to_have_id("inbox-vakhsh-police")  # moved up: it has a transcript
    expect(reply).to_be_focused()  # and whoever played it can type on
    reset(page)
    expect(police.locator(".message")).to_have_count(0, timeout=WAIT)
    expect(page.locator("#screen")).to_have_text("Dial *384# to start.")


def test_her_transcript_newest_first(page):
    reset(page)
    ref = play(page, "+992900009731")
    sms = page.get_by_label("Send SMS as this phone")
    sms.fill("Салом")
    sms.press("Enter")
    expect(page.locator("#sms-result")).to_have_text("Delivered to the gateway.")
    typed = page.locator("#own-transcript .message.out")
    expect(typed).to_have_count(len(PATH) + 2, timeout=WAIT)  # dial, each key, the SMS
    expect(typed.first).to_contain_text("Салом")
    expect(typed.nth(1)).to_contain_text(f"Typed 1\n→ END Ташаккур. Рамзи шумо: {ref}")
    expect(typed.last).to_contain_text("Typed *384#")
    expect(page.locator("#typed-empty")).to_be_hidden()
    # Newest first in a responder's inbox too: the alert of a second case above the first.
    second = play(page, "+992900009732")
    first_card = page.locator(f"#inbox-{GROUP_1} .message.in")
    expect(first_card.first).to_contain_text(f"OK {second}", timeout=WAIT)
    expect(first_card.last).to_contain_text(f"OK {ref}")


def test_filter_by_reference_and_fast_forward(page):
    reset(page)
    first = play(page, "+992900009741")
    second = play(page, "+992900009742")
    inbox = page.locator(f"#inbox-{GROUP_1}")
    expect(inbox).to_contain_text(f"OK {second}", timeout=WAIT)
    expect(inbox).to_contain_text(f"OK {first}", timeout=WAIT)
    page.get_by_label("Case reference").fill(first)
    expect(inbox).not_to_contain_text(f"OK {second}")
    expect(inbox).to_contain_text(f"OK {first}")
    coordinator = page.locator("#inbox-nur-coordinator")  # tier 2, alerted after an hour
    expect(coordinator.locator(".message")).to_have_count(0)
    page.get_by_role("button", name="Run its next timer now").click()
    expect(page.locator("#tools-result")).to_contain_text(f"Case {first}: its next timer")
    expect(coordinator).to_contain_text(f"OK {first}", timeout=WAIT)
    page.get_by_label("Case reference").fill("")
    expect(inbox).to_contain_text(f"OK {second}", timeout=WAIT)
    expect(coordinator).not_to_contain_text(f"OK {second}")  # the other case was left alone


def test_she_writes_to_the_organisation_she_picks(page):
    reset(page)
    page.get_by_label("Phone number").fill("+992900009751")
    page.get_by_label("Number she writes to").select_option(
        label="Sughd women's circle (+992900000200)"
    )
    sms = page.get_by_label("Send SMS as this phone")
    sms.fill("HELP")
    sms.press("Enter")
    expect(page.locator("#sms-result")).to_have_text("Delivered to the gateway.")
    expect(page.locator("#inbox-khujand-group-1 .message.in")).to_have_count(1, timeout=WAIT)
    expect(page.locator(f"#inbox-{GROUP_1} .message.in")).to_have_count(0)
    expect(page.locator("#own-transcript")).to_contain_text("to +992900000200")


def test_an_error_clears_the_screen(page):
    number = page.get_by_label("Phone number")
    number.fill("+992900009761")
    number.press("Enter")
    expect(page.locator("#screen")).to_contain_text("Тоҷикӣ")
    number.fill("12ab")
    number.press("Enter")
    expect(page.locator("#ussd-error")).to_contain_text("phone: contains letters")
    expect(page.locator("#screen")).to_have_text("")
    expect(page.locator("#kind")).to_have_text("error")
    expect(page.locator("#counter")).to_have_text("")
    expect(page.get_by_label("Reply", exact=True)).to_be_disabled()


def test_tabs_at_375_px(browser, gateway):
    context = browser.new_context(viewport={"width": 375, "height": 740}, locale="en-GB")
    page = context.new_page()
    page.goto(gateway.base + "/simulator")
    her, responders = page.locator("#her"), page.locator("#responders")
    expect(page.locator("#inboxes .inbox.responder").first).to_be_attached()
    expect(page.get_by_role("tab", name="Her phone")).to_have_attribute("aria-selected", "true")
    expect(her).to_be_visible()
    expect(responders).to_be_hidden()
    height = page.evaluate("document.documentElement.scrollHeight")
    assert height <= 1600, f"her phone's tab is {height}px tall at 375px"
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    shot(page, "5-375-her")
    page.get_by_role("tab", name="Responders").click()
    expect(responders).to_be_visible()
    expect(her).to_be_hidden()
    reset(page)  # every responder listed, none with a message yet: one line and a reply box each
    cards = page.locator("#inboxes .inbox.responder")
    tall = page.evaluate("document.documentElement.scrollHeight")
    print("375px heights: her phone", height, "responders", tall, "cards", cards.count())
    assert tall <= 130 * cards.count() + 600, f"the responders' tab is {tall}px tall at 375px"
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    shot(page, "6-375-responders")
    page.get_by_role("tab", name="Responders").focus()
    page.keyboard.press("ArrowLeft")
    expect(her).to_be_visible()
    expect(page.get_by_role("tab", name="Her phone")).to_be_focused()
    page.set_viewport_size({"width": 1280, "height": 900})
    expect(page.get_by_role("tab", name="Her phone")).to_be_hidden()
    expect(responders).to_be_visible()  # both side by side where they fit
    context.close()
