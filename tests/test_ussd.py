"""USSD intake over HTTP against a real Redis: every language, every kind of bad input."""

from __future__ import annotations

import logging
import re

import pytest
from rq import Queue

from config.settings import Settings
from gateway.app import create_app
from gateway.jobs import ALERTS_QUEUE
from gateway.localredis import free_port
from gateway.store.keys import OPEN_CASES
from testing.app import open_cases, store_of
from testing.env import make_env
from testing.leaks import assert_no_clear, redis_dump, stored_keys
from testing.ussd import flask_phone, form, ref_of

SURVIVOR = "+992900009101"
LANG_CHOICE = {"tg": "1", "ru": "2", "uz": "3", "en": "4"}
# The example directory's districts in file order; Vakhsh is the first.
DONE = {
    "tg": "Ташаккур",
    "ru": "Спасибо",
    "uz": "Rahmat",
    "en": "Thank you",
}


@pytest.fixture
def phone(client, settings):
    return flask_phone(client, settings.ussd_key, SURVIVOR)


@pytest.mark.parametrize("lang", ["tg", "ru", "uz", "en"])
def test_whole_help_flow_in_each_language(app, phone, redis_client, caplog, lang):
    with caplog.at_level(logging.DEBUG):
        assert phone.dial().startswith("CON ")
        phone.press(LANG_CHOICE[lang], "1", "2")  # language, ask for help, legal question
        phone.press("1")  # the first district
        phone.press("2")  # also the mahalla committee
        phone.press("2")  # only daytime calls
        end = phone.press("1")  # no SMS
    assert end.startswith("END ") and DONE[lang] in end
    ref = ref_of(end)
    [case] = open_cases(app)
    assert (case.ref, case.kind, case.urgency) == (ref, "legal", "normal")
    assert (case.district, case.consent, case.call) == ("vakhsh", "mahalla", "day")
    assert (case.channel, case.lang) == ("ussd", lang)
    assert Queue(ALERTS_QUEUE, connection=redis_client).job_ids == [f"plan-{case.id}"]
    assert store_of(app).cases.phone(case.id) == SURVIVOR
    inputs = ["*".join(phone.inputs), "*".join(phone.inputs[:4])]
    assert_no_clear(redis_dump(redis_client), SURVIVOR, inputs)
    assert_no_clear(caplog.text, SURVIVOR, inputs)
    for word in ("насилие", "violence", "zo'ravonlik", "Hamdam", "shelter"):
        assert all(word.lower() not in s.lower() for s in phone.screens)


def test_first_screen_offers_only_languages(phone):
    first = phone.dial()
    assert first.startswith("CON ")
    for name in ("Тоҷикӣ", "Русский", "O'zbekcha", "English"):
        assert name in first


def test_language_is_remembered_for_the_phone(app, phone):
    phone.dial()
    phone.press("2", "0")  # Russian, then exit
    second = phone.dial()
    assert "Тоҷикӣ" not in second  # straight to the menu, in Russian
    assert re.search("[а-я]", second)
    assert store_of(app).phones.profile(SURVIVOR)["lang"] == "ru"


def test_danger_now_skips_the_consent_question(app, phone):
    phone.dial()
    phone.press("4", "1", "1")  # English, help, urgent
    end = phone.press("1", "1", "1")  # district, call any time, no SMS
    assert end.startswith("END ")
    [case] = open_cases(app)
    assert (case.kind, case.urgency, case.consent, case.call) == (
        "danger",
        "urgent",
        "group",
        "any",
    )
    assert case.sms == "no"
    assert len(phone.inputs) == 6


def test_check_status_by_reference_only_from_her_phone(app, client, settings, phone):
    phone.dial()
    ref = ref_of(phone.press("4", "1", "2", "1", "1", "3", "1"))
    phone.dial()
    answer = phone.press("2", ref)  # remembered English: menu, check, reference
    assert answer.startswith("END ") and ref in answer and "received" in answer.lower()
    stranger = flask_phone(client, settings.ussd_key, "+992900009102")
    stranger.dial()
    other = stranger.press("4", "2", ref)
    assert other.startswith("END ") and "not found" in other.lower()


def test_dropped_session_resumes_where_she_stopped(app, phone):
    phone.dial()
    phone.press("4", "1", "3", "1")  # English, help, a place to stay, district: now on consent
    resumed = phone.dial()  # the network dropped her; she dials again
    assert resumed.startswith("CON ") and "continue" in resumed.lower()
    consent_again = phone.press("1")
    assert "police" in consent_again.lower()
    end = phone.press("1", "3", "2")  # group only, do not call, but one SMS is fine
    assert end.startswith("END ")
    [case] = open_cases(app)
    assert (case.kind, case.district, case.consent) == ("shelter", "vakhsh", "group")
    assert (case.call, case.sms) == ("none", "yes")


def test_back_and_paging_and_hint(app, phone):
    phone.dial()
    kind = phone.press("1", "1")  # Tajik: the district list needs two pages
    district = phone.press("2")
    assert phone.press("#") == kind  # back to the kind question
    assert phone.press("2") == district
    page2 = phone.press("00")
    assert page2 != district and page2.startswith("CON ")
    hinted = phone.press("x")
    assert hinted.startswith("CON ") and hinted != page2
    phone.press("7")  # the last district, numbered across pages
    phone.press("1", "1")
    end = phone.press("1")
    [case] = open_cases(app)
    assert end.startswith("END ") and case.district == "dushanbe"


@pytest.mark.parametrize("lang", ["tg", "ru", "uz", "en"])
def test_zero_exits_from_every_screen(app, client, settings, lang):
    paths = [[], ["1"], ["1", "2"], ["1", "2", "1"], ["1", "2", "1", "1"], ["2"]]
    for n, path in enumerate(paths):
        phone = flask_phone(client, settings.ussd_key, f"+99290000920{n}")  # no remembered language
        phone.dial()
        phone.press(LANG_CHOICE[lang], *path)
        end = phone.press("0")
        assert end.startswith("END "), (path, end)
        assert not re.search(r"\d{4}", end)
    assert open_cases(app) == []


@pytest.mark.parametrize(
    "junk",
    ["x" * 5000, "\x00\xff\x01", "🙂🙂", "", "١٢", "1" * 200, "*" * 50],
    ids=["5kb", "binary", "emoji", "empty", "arabic-digits", "long-digits", "stars"],
)
def test_garbage_input_reshows_the_screen(app, phone, junk):
    phone.dial()
    before = phone.press("4")
    after = phone.press(junk)
    assert after.startswith("CON ")
    assert junk not in after or junk == ""
    assert before.splitlines()[-1] == after.splitlines()[-1]
    assert open_cases(app) == []


def test_duplicate_delivery_gets_same_screen_and_one_case(app, phone, redis_client):
    phone.dial()
    phone.press("4", "1", "2", "1", "1", "2")
    text = "*".join([*phone.inputs, "1"])
    first = phone.post(text)
    again = phone.post(text)
    assert first == again and first.startswith("END ")
    assert len(open_cases(app)) == 1
    assert len(Queue(ALERTS_QUEUE, connection=redis_client).job_ids) == 1


def test_lost_session_state_is_replayed_from_the_text(app, phone, redis_client):
    phone.dial()
    phone.press("4", "1", "2")
    for key in redis_client.scan_iter("hd:ussd:*"):
        redis_client.delete(key)  # as if Redis lost it
    phone.press("1", "1", "1")
    end = phone.press("1")
    assert end.startswith("END ")
    [case] = open_cases(app)
    assert case.kind == "legal"


def test_rate_limit_answers_neutrally(app, phone):
    for _ in range(6):
        phone.dial()
        end = phone.press("4", "1", "5", "1", "1", "3", "1")
    assert end.startswith("END ") and not re.search(r"\d{4}", end)
    assert len(open_cases(app)) == 5


def test_wrong_key_is_403_and_nothing_stored(client, redis_client):
    response = client.post(
        "/ussd/africastalking?key=not-the-key", data=form("ATUid_x", SURVIVOR, [])
    )
    assert response.status_code == 403
    assert response.get_data(as_text=True).startswith("END")
    assert stored_keys(redis_client) == []
    response = client.post("/ussd/africastalking", data={"sessionId": "s", "phoneNumber": "1"})
    assert response.status_code == 403


@pytest.mark.parametrize(
    ("form", "reason"),
    [
        ({"phoneNumber": SURVIVOR, "text": ""}, "sessionId is missing"),
        ({"sessionId": "abc", "text": ""}, "phoneNumber is missing"),
        ({"sessionId": "a" * 500, "phoneNumber": SURVIVOR}, "sessionId is not a plausible"),
    ],
)
def test_malformed_form_is_400_with_valid_end(client, settings, form, reason):
    response = client.post(f"/ussd/africastalking?key={settings.ussd_key}", data=form)
    assert response.status_code == 400
    body = response.get_data(as_text=True)
    assert body.startswith("END ") and reason in body


def test_unusable_phone_number_gets_neutral_end(client, settings):
    data = form("ATUid_y", "not a phone", [])
    body = client.post(f"/ussd/africastalking?key={settings.ussd_key}", data=data).get_data(
        as_text=True
    )
    assert body.startswith("END ")


def test_internal_error_still_answers_end_and_logs_no_number(tmp_path, caplog):
    dead = f"redis://127.0.0.1:{free_port()}/0"
    (tmp_path / "spool").write_text("")  # no Redis, and no spool to answer without it either
    app = create_app(Settings.from_env(make_env(dead, tmp_path)))
    phone = flask_phone(app.test_client(), app.extensions["hamdam"].settings.ussd_key, SURVIVOR)
    with caplog.at_level(logging.ERROR):
        body = phone.dial()
    assert body.startswith("END ")
    assert "ussd: step failed" in caplog.text
    assert_no_clear(caplog.text, SURVIVOR)


# Her whole path: help, legal, Levakand (third district), mahalla, call any time, no SMS.
LOST_PATH = ["1", "2", "3", "2", "1", "1"]
LOST_CHOICE = ("legal", "normal", "levakand", "mahalla", "any", "no")


def chosen(case) -> tuple[str, ...]:
    return (case.kind, case.urgency, case.district, case.consent, case.call, case.sms)


def lose_sessions(redis_client, resume_too: bool = False) -> None:
    """As if our session records expired (or, with resume_too, Redis lost them altogether)."""
    for key in [*redis_client.scan_iter("hd:ussd:*"), *redis_client.scan_iter("hd:resume:*")]:
        if resume_too or key.startswith(b"hd:ussd:"):
            redis_client.delete(key)


def first_call_path(phone, lang: str, remembered: bool) -> list[str]:
    """Dial; with a remembered language her first screen is the menu, else the picker."""
    if remembered:
        phone.dial()
        phone.press(LANG_CHOICE[lang], "0")  # an earlier call chose the language, then exit
        phone.dial()
        return list(LOST_PATH)
    phone.dial()
    return [LANG_CHOICE[lang], *LOST_PATH]


@pytest.mark.parametrize("remembered", [False, True], ids=["first-call", "remembered"])
@pytest.mark.parametrize("lang", ["tg", "ru", "uz", "en"])
def test_an_expired_session_replays_exactly_the_screens_she_saw(
    app, client, settings, redis_client, lang, remembered
):
    phone = flask_phone(client, settings.ussd_key, "+992900009400")
    path = first_call_path(phone, lang, remembered)
    seen = [phone.press(key) for key in path]  # the screens of an unbroken session
    assert seen[-1].startswith("END ")
    for lost_at in range(len(path)):  # the session expires just before this input
        phone = flask_phone(client, settings.ussd_key, f"+9929000094{lost_at + 1:02d}")
        first_call_path(phone, lang, remembered)
        replayed = [phone.press(key) for key in path[:lost_at]]
        lose_sessions(redis_client)
        replayed += [phone.press(key) for key in path[lost_at:]]
        assert replayed == seen[: len(path) - 1] + [replayed[-1]], lost_at
        assert replayed[-1].startswith("END ") and DONE[lang] in replayed[-1]
        cases = [c for c in open_cases(app) if store_of(app).cases.phone(c.id) == phone.number]
        assert [chosen(c) for c in cases] == [LOST_CHOICE], lost_at


@pytest.mark.parametrize("remembered", [False, True], ids=["first-call", "remembered"])
@pytest.mark.parametrize("lang", ["tg", "ru", "uz", "en"])
def test_a_session_lost_with_its_resume_point_never_opens_a_case(
    app, client, settings, redis_client, lang, remembered
):
    for done in range(len(LOST_PATH) + (0 if remembered else 1)):  # inputs before the loss
        phone = flask_phone(client, settings.ussd_key, f"+9929000095{done:02d}")
        path = first_call_path(phone, lang, remembered)
        phone.press(*path[:done])
        lose_sessions(redis_client, resume_too=True)
        # Whatever she types next, on a screen we can no longer know: no case, ever.
        again = phone.press(path[done])
        assert again.startswith("CON "), (done, again)
        assert open_cases(app) == []
        # She is shown a screen to start again from, in her language once known, and what she
        # chooses on the screens she sees from then on is what is sent.
        if remembered or done > 0:
            assert again.splitlines()[0][4:] == RESTART[lang], again
            rest = LOST_PATH
        else:
            assert "English" in again  # the language picker, which explains itself
            rest = [LANG_CHOICE[lang], *LOST_PATH]
        end = phone.press(*rest)
        assert end.startswith("END ") and DONE[lang] in end
        [case] = open_cases(app)
        assert chosen(case) == LOST_CHOICE
        store_of(app).redis.zrem(OPEN_CASES, case.id)


RESTART = {
    "tg": "Боз аз аввал:",
    "ru": "Снова с начала:",
    "uz": "Yana boshidan:",
    "en": "Again from the start:",
}


@pytest.mark.parametrize("lang", ["tg", "ru", "uz", "en"])
def test_a_session_expiring_on_the_resume_offer_replays_exactly(app, phone, redis_client, lang):
    phone.dial()
    phone.press(LANG_CHOICE[lang], "1", "2")  # dropped by the network on the district list
    offer = phone.dial()  # she dials again: continue where she stopped?
    assert offer.startswith("CON ") and "2 " in offer
    lose_sessions(redis_client)  # the record of this new session expires on the offer
    district = phone.press("1")  # continue
    assert district.startswith("CON ")
    assert "Levakand" in district or "Леваканд" in district
    lose_sessions(redis_client)
    end = phone.press("3", "2", "1", "1")
    assert end.startswith("END ")
    [case] = open_cases(app)
    assert chosen(case) == LOST_CHOICE


def test_sessions_written_by_the_previous_version_continue(app, phone, redis_client):
    """An upgrade mid-session: her hop state and resume point as Fernet text, as the version
    before sealed state wrote them, are still read."""
    vault = store_of(app).vault

    def as_before(key, field=None):
        token = redis_client.hget(key, field) if field else redis_client.get(key)
        assert token.startswith(b"\xa1")  # sealed, as this version writes it
        older = vault.encrypt_json(vault.decrypt_json(token))
        if field:
            redis_client.hset(key, field, older)
        else:
            redis_client.set(key, older, keepttl=True)

    phone.dial()
    phone.press("4", "1", "3")  # English, help, a place to stay: on the district list
    [session] = redis_client.scan_iter("hd:ussd:*")
    as_before(session, "enc:hop")
    assert "police" in phone.press("1").lower()  # Vakhsh: on to the consent question
    [resume] = redis_client.scan_iter("hd:resume:*")
    as_before(resume)
    assert "continue" in phone.dial().lower()  # dropped: her resume point is offered
    assert "police" in phone.press("1").lower()
    assert phone.press("1", "3", "2").startswith("END ")
    [case] = open_cases(app)
    assert (case.kind, case.district) == ("shelter", "vakhsh")


def test_a_session_whose_state_no_longer_decrypts_goes_on_and_is_not_left_locked(
    phone, redis_client, caplog
):
    """A session written under a DATA_KEY removed since (or damaged): her next hop goes on as a
    lost session would, at once, instead of failing and leaving the session locked."""
    from gateway.store.keys import HOP_FIELD, RESUME, USSD_LOCK, USSD_SESSION

    assert phone.dial().startswith("CON ")
    assert "Ask for advice" in phone.press("4")
    key = USSD_SESSION.format(session=phone.session)
    redis_client.hset(key, HOP_FIELD, b"\x01" + b"\x00" * 40)  # sealed, under no key of ours
    for resume in redis_client.keys(RESUME.format(digest="*")):
        redis_client.set(resume, b"\x01" + b"\x00" * 40)
    with caplog.at_level(logging.WARNING):
        for _ in range(2):
            body = phone.post("4*1")
            assert body.startswith("CON ") and "busy" not in body
    assert "state is unreadable" in caplog.text and "resume point is unreadable" in caplog.text
    assert not redis_client.exists(USSD_LOCK.format(session=phone.session))
