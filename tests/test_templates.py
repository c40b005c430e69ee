"""Responder texts: every one, in every language, fits two segments and carries nothing of hers."""

from __future__ import annotations

import itertools

import pytest

from config.settings import ROOT
from gateway import templates
from gateway.cases import AID_KINDS
from gateway.directory import load
from gateway.text import measure

DISTRICTS = load(ROOT / "config" / "directory.example.yaml").districts
LONGEST = {
    lang: max((d.names[lang] for d in DISTRICTS.values()), key=len) for lang in templates.LANGS
}


@pytest.mark.parametrize(
    ("lang", "name"), list(itertools.product(templates.LANGS, templates.TEXT["en"]))
)
def test_every_text_fits_two_segments(lang, name):
    for kind, call in itertools.product(templates.KIND["en"], templates.CONTACT["en"]):
        body = templates.render(
            name,
            lang,
            ref="999999",
            kind=kind,
            urgency="urgent",
            call=call,
            district=LONGEST[lang],
            phone="+992900009999",
            aid=templates.aid_codes(lang, AID_KINDS),  # every kind of aid at once
            date="2026-12-31",
            days="90",
            responder="Gulbahor Nazarmamadova-Sharipova",  # a long responder name
            code="999999",
            count="5000",
            segments="15000",
            when="2026-12-31 09:00",
        )
        assert measure(body).segments <= 2, (len(body), body)
        assert "{" not in body


def test_alert_carries_the_minimum():
    body = templates.render(
        "alert", "en", ref="4821", kind="legal", urgency="normal", call="day", district="Vakhsh"
    )
    assert body == "#4821: legal advice, Vakhsh. Call only in daytime. To take it reply OK 4821"


def test_every_language_has_every_text_and_word():
    for lang in templates.LANGS:
        assert templates.TEXT[lang].keys() == templates.TEXT["en"].keys()
        assert templates.KIND[lang].keys() == templates.KIND["en"].keys()
        assert templates.CONTACT[lang].keys() == templates.CONTACT["en"].keys()
        assert set(templates.AID[lang]) == set(templates.AID_CODES[lang]) == set(AID_KINDS)


@pytest.mark.parametrize("lang", templates.LANGS)
def test_her_acknowledgement_is_one_neutral_segment(lang):
    body = templates.acknowledgement(lang, "999999")
    assert measure(body).segments == 1
    for word in ("hamdam", "help", "violence", "police", "shelter", "помощь", "ёрдам", "yordam"):
        assert word not in body.casefold()


def test_no_call_details_say_she_asked_not_to_be_contacted():
    # "She did not ask for a call" reads like permission to call; every language says she asked
    # not to be called or texted.
    uz = templates.render("details_nocall", "uz", ref="4821")
    assert "so'ramadi" not in uz
    assert "qo'ng'iroq qilmaslik" in uz and "SMS yozmaslikni so'radi" in uz
    assert "asked not to be called or texted" in templates.render("details_nocall", "en", ref="1")


TERM = {"tg": "рамз", "ru": "код", "uz": "kod", "en": "code"}  # her reference, everywhere


@pytest.mark.parametrize("lang", templates.LANGS)
def test_her_reference_has_one_name_everywhere(lang):
    from menus import engine

    menus = engine.load()
    texts = [
        templates.acknowledgement(lang, "4821"),
        engine.render_end(menus, "done", lang, ref="4821"),
        engine.render_end(menus, "status", lang, ref="4821", status_word="-"),
        engine.word(menus, "check.title", lang),
        templates.render("unclear", lang),
    ]
    for text in texts:
        assert TERM[lang] in text.casefold(), text
    for word in ("номер", "рақам", "raqam", "number"):  # reads like her phone number
        assert all(word not in t.casefold() for t in texts[:3]), word  # check.title: "digits"


@pytest.mark.parametrize("lang", templates.LANGS)
def test_a_digest_lists_what_fits_two_segments(lang):
    body = templates.digest(lang, ["999999", "999998", "999997"])
    assert body.startswith("3 ") and "#999999 #999998 #999997" in body and "OK" in body
    assert measure(body).segments <= 2
    many = [str(900000 + n) for n in range(8)]  # a digest carries eight 6-digit references
    assert measure(templates.digest(lang, many)).segments <= 2, templates.digest(lang, many)


@pytest.mark.parametrize(
    ("lang", "name"), list(itertools.product(templates.LANGS, templates.NOTICE))
)
def test_duty_notices_fit_two_segments(lang, name):
    # The watch names at most WATCH_NAMED problems (the longest kinds), then "+N more".
    what = "android phone 0123456789abcdef, self-test twilio +3 more"
    params = {"district": LONGEST[lang], "what": what, "route": "android", "date": "2026-12-31"}
    body = templates.notice(name, lang, **params)
    assert measure(body).segments <= 2, (len(body), body)
    assert "{" not in body
