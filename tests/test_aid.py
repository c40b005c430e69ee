"""Aid given after OK: codes in every language (AID, DONE with codes), recorded on the case by
its holder only, confirmed to them, shown on the case page, counted in the reports."""

from __future__ import annotations

import re

import pytest

from gateway import keywords, templates
from gateway.cases import AID_KINDS
from gateway.text import fold
from testing.app import (
    GROUP_1,
    GROUP_2,
    ask_for_help,
    coordinator_client,
    form_token,
    sms_from,
    taken,
    texts_to,
    work,
)

pytestmark = pytest.mark.live


@pytest.mark.parametrize(
    ("text", "name", "aid"),
    [
        ("AID 4821 LEGAL ECON", "aid", ("legal", "economic")),
        ("aid 4821 econ, legal", "aid", ("legal", "economic")),
        ("DONE 4821 MED", "done", ("medical",)),
        ("DONE 4821", "done", ()),
        ("ДОДА 4821 ҲУҚ ИҚТ", "aid", ("legal", "economic")),
        ("дода 4821 хук икт", "aid", ("legal", "economic")),  # without Tajik letters
        ("ОКАЗАНО 4821 ЮР ПСИ", "aid", ("legal", "psych")),
        ("BERILDI 4821 huq", "aid", ("legal",)),
        ("ТАМОМ 4821 ПАНОҲ", "done", ("shelter",)),
        ("AID 4821 LEGAL ЮР", "aid", ("legal",)),  # codes of another language too
        ("AID 4821 FOOD", "aid_unclear", ()),
        ("AID 4821", "aid_unclear", ()),
        ("DONE 4821 LEGAL FOOD", "aid_unclear", ()),
    ],
)
def test_aid_codes_are_read_in_every_language(text, name, aid):
    command = keywords.parse(text)
    assert (command.name, command.ref, command.aid) == (name, "4821", aid)


def test_no_code_means_two_kinds_and_none_is_a_command_word():
    seen: dict[str, str] = {}
    commands = {fold(w) for langs in keywords.RESPONDER_COMMANDS.values() for ws in langs.values()
                for w in ws}  # fmt: skip
    for kind, langs in keywords.AID_CODES.items():
        for code in (fold(c) for codes in langs.values() for c in codes):
            assert seen.setdefault(code, kind) == kind, (code, kind, seen[code])
            assert code not in commands, code
    assert set(seen.values()) == set(AID_KINDS)


def test_the_holder_records_aid_and_done_with_codes_closes(app, twilio_fake):
    ref = taken(app)
    store = app.extensions["hamdam"].store
    sms_from(app, GROUP_1, f"AID {ref} LEGAL ECON")
    work(app)
    case = store.cases.by_ref(ref)
    assert case.aid == ("legal", "economic") and case.aid_at > 0
    # In her first language, Tajik: the codes as she would type them.
    assert any(f"#{ref}: ёрӣ сабт шуд: ҲУҚ ИҚТ" in t for t in texts_to(twilio_fake, GROUP_1))
    sms_from(app, GROUP_2, f"AID {ref} SAFE")  # alerted, but not the holder
    sms_from(app, GROUP_1, f"AID {ref} FOOD")
    work(app)
    assert store.cases.by_ref(ref).aid == ("legal", "economic")
    assert any(templates.render("unclear", "tg") == t for t in texts_to(twilio_fake, GROUP_2))
    codes = templates.render("aid_codes", "tg", ref=ref)
    assert codes in texts_to(twilio_fake, GROUP_1) and "ДОДА" in codes
    sms_from(app, GROUP_1, f"DONE {ref} MED")
    work(app)
    case = store.cases.get(case.id)
    assert case.state == "closed" and case.aid == ("legal", "medical", "economic")
    assert templates.render("closed", "tg", ref=ref) in texts_to(twilio_fake, GROUP_1)
    entries = [e for e in store.audit.trail() if e["event"] == "aid_recorded"]
    assert [e["aid"] for e in entries] == ["legal,economic", "medical"]
    assert all(
        set(e) - {"prev", "hash"} <= {"event", "at", "case", "responder", "aid"} for e in entries
    )


def test_aid_shows_on_the_case_page_and_is_recorded_there(app):
    ref = taken(app)
    client = coordinator_client(app)
    page = client.get(f"/console/cases/{ref}").get_data(as_text=True)
    token = form_token(page)
    bad = client.post(f"/console/cases/{ref}/aid", data={"csrf": token, "aid": "food"})
    assert bad.status_code == 400
    done = client.post(f"/console/cases/{ref}/aid", data={"csrf": token, "aid": ["peer", "debt"]})
    assert done.status_code == 302 and "said=aid" in done.headers["Location"]
    page = client.get(f"/console/cases/{ref}").get_data(as_text=True)
    assert "debt or loan advice, peer support" in page
    assert (
        "aid recorded by dilnoza: debt,peer" in page or "aid recorded by dilnoza: peer,debt" in page
    )


def test_reports_count_the_women_who_received_each_kind_of_aid(app):
    store = app.extensions["hamdam"].store
    for n in range(6):
        ref = ask_for_help(app, f"+99290000950{n}", district="Vakhsh")
        work(app)
        sms_from(app, GROUP_1, f"OK {ref}")
        work(app)
        sms_from(app, GROUP_1, f"AID {ref} LEGAL" + (" ECON" if n < 5 else ""))
    work(app)
    assert sum(1 for c in store.cases.iter() if c.get("aid")) == 6
    out = app.test_cli_runner().invoke(args=["report", "--format", "csv"]).output
    assert "aid given,women who received legal aid,6" in out
    assert "aid given,women who received economic aid,5" in out
    assert "aid given,women who received shelter aid,0" in out
    assert "aid given,women who received more than one kind,5" in out
    assert re.search(r"aid given,median days from opening to the first aid,0\.0", out)
    assert "Vakhsh / " in out and "/ legal,6" in out


def test_the_confirmation_of_every_kind_at_once_fits_two_segments():
    for lang in templates.LANGS:
        body = templates.render(
            "aid_recorded", lang, ref="999999", aid=templates.aid_codes(lang, AID_KINDS)
        )
        assert len(body) <= 134, body
