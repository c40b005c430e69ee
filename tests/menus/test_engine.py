"""Tests for the USSD menu engine and the help flow; every screen a test sees must fit."""

from __future__ import annotations

import copy
import dataclasses
import json
import shutil
from pathlib import Path

import pytest

from gateway.text import fits_ussd, ussd_budget, ussd_length
from menus import engine
from menus.engine import LANGS, MenuError, Menus, Step

FLOWS = engine.HERE / "flows"
LOCALES = engine.HERE / "locales"


def _district(value: str, tg: str, ru: str, uz: str, en: str) -> tuple[str, dict[str, str]]:
    return value, {"tg": tg, "ru": ru, "uz": uz, "en": en}


DISTRICTS = {
    "districts": [
        _district("dushanbe", "Душанбе", "Душанбе", "Dushanbe", "Dushanbe"),
        _district("vakhsh", "Вахш", "Вахш", "Vaxsh", "Vakhsh"),
        _district("jami", "Ҷомӣ", "Джами", "Jomiy", "Jami"),
        _district("levakand", "Леваканд", "Леваканд", "Levakand", "Levakand"),
        _district("kushoniyon", "Кушониён", "Кушониён", "Qushoniyon", "Kushoniyon"),
        _district("khujand", "Хуҷанд", "Худжанд", "Xo'jand", "Khujand"),
        _district("bokhtar", "Бохтар", "Бохтар", "Bohtar", "Bokhtar"),
    ]
}
LONG_NAMES = [
    ("Ҷалолиддини Балхӣ", "Джалолиддин Балхи", "Jaloliddin Balxiy", "Jaloliddini Balkhi"),
    ("Абдураҳмони Ҷомӣ", "Абдурахмон Джами", "Abdurahmon Jomiy", "Abdurahmoni Jomi"),
    ("Носири Хусрав", "Носири Хусрав", "Nosiri Xusrav", "Nosiri Khusrav"),
    ("Мӯъминобод", "Муминабад", "Mo'minobod", "Muminobod"),
    ("Шаҳритус", "Шаартуз", "Shahrituz", "Shahritus"),
    ("Қубодиён", "Кабадиян", "Qabodiyon", "Qubodiyon"),
    ("Ҷайҳун", "Джайхун", "Jayhun", "Jayhun"),
    ("Фархор", "Фархор", "Farxor", "Farkhor"),
    ("Ховалинг", "Ховалинг", "Xovaling", "Khovaling"),
    ("Ҳамадонӣ", "Хамадони", "Hamadoniy", "Hamadoni"),
    ("Темурмалик", "Темурмалик", "Temurmalik", "Temurmalik"),
    ("Сарбанд", "Сарбанд", "Sarband", "Sarband"),
]
LONG_DISTRICTS = {
    "districts": [_district(f"d{n}", *names) for n, names in enumerate(LONG_NAMES, 1)]
}
# Words that must never appear on a survivor's screen; the police word only on the consent
# screen, where she chooses whether the police may be told.
FORBIDDEN = ("violence", "abuse", "shelter", "hamdam", "насили", "приют", "зӯровар", "zo'ravon")
POLICE = ("police", "полици", "милици", "милитси", "militsiya", "politsiya")
# Inputs to reach each non-end screen after picking the language (number of that language).
PATHS = {
    "main": [],
    "kind": ["1"],
    "district": ["1", "2"],
    "district_now": ["1", "1"],
    "consent": ["1", "2", "1"],
    "call": ["1", "2", "1", "1"],
    "sms": ["1", "2", "1", "1", "1"],
    "check": ["2"],
}


@pytest.fixture(scope="module")
def menus() -> Menus:
    return engine.load()


def pick_lang(lang: str) -> str:
    return str(LANGS.index(lang) + 1)


class MenuTester:
    """Plays a conversation against the engine, keeping state as the service would (JSON).

    Every screen it is shown must fit its USSD budget, and the state it passes in must come
    back unchanged.
    """

    def __init__(
        self,
        menus: Menus,
        sources: dict | None = None,
        *,
        lang: str | None = None,
        first: Step | None = None,
    ) -> None:
        self.menus = menus
        self.sources = DISTRICTS if sources is None else sources
        self.seen: list[Step] = []
        self.see(first or engine.start(menus, lang, self.sources))

    def see(self, step: Step) -> Step:
        text = step.text
        assert fits_ussd(text), f"{ussd_length(text)} > {ussd_budget(text)}:\n{text}"
        assert step.end or text, "a continuing screen needs text"
        assert json.loads(json.dumps(step.state)) == step.state
        assert step.answers == step.state["answers"]
        if step.action:
            assert step.end and text == ""
            assert self.menus.screens[step.state["screen"]].type == "end"
        self.seen.append(step)
        return step

    @property
    def last(self) -> Step:
        return self.seen[-1]

    @property
    def screen(self) -> str:
        return self.last.state["screen"]

    def play(self, *inputs: object) -> Step:
        """Return the step after sending each input in turn."""
        for user_input in inputs:
            assert not self.last.end, f"the session ended before {user_input!r}"
            stored = json.loads(json.dumps(self.last.state))  # as kept in Redis
            before = copy.deepcopy(stored)
            step = engine.step(self.menus, stored, user_input, self.sources)
            assert stored == before, "the engine mutated the state it was given"
            self.see(step)
        return self.last

    def reach(self, lang: str, screen: str) -> Step:
        """Return the step showing screen, reached from the first screen in lang."""
        step = self.play(pick_lang(lang), *PATHS[screen])
        assert step.state["screen"] == screen
        return step


def hint_of(menus: Menus, screen: str, lang: str) -> str:
    return engine.word(menus, menus.screens[screen].hint, lang)


# ----------------------------------------------------------------------------------------------
# The help flow


def test_first_screen_lists_only_the_languages_each_in_its_own_language(menus: Menus) -> None:
    tester = MenuTester(menus)
    assert tester.screen == "lang"
    assert tester.last.text.splitlines() == [
        "1 Тоҷикӣ",
        "2 Русский",
        "3 O'zbekcha",
        "4 English",
        "0 Баромад/Выход/Chiqish/Exit",  # no language is chosen yet: exit reads in all four
    ]
    hinted = engine.step(menus, tester.last.state, "9").text.splitlines()
    assert hinted[0] == "1-4?" and hinted[-1] == "0 Баромад/Выход/Chiqish/Exit"
    for lang in LANGS:  # back on the picker from her language: still readable in every one
        back = engine.step(menus, engine.start(menus, lang).state, "#").text
        assert back.splitlines()[-1] == "0 Баромад/Выход/Chiqish/Exit"


@pytest.mark.parametrize("lang", LANGS)
def test_wrong_input_hint_means_the_same_in_every_language(menus: Menus, lang: str) -> None:
    meaning = {"tg": "Рақам занед.", "ru": "Введите число.", "uz": "Raqam kiriting."}
    assert engine.word(menus, "hint", lang) == meaning.get(lang, "Enter a number.")


@pytest.mark.parametrize("lang", LANGS)
def test_whole_help_flow(menus: Menus, lang: str) -> None:
    tester = MenuTester(menus)
    assert tester.play(pick_lang(lang)).state["screen"] == "main"
    assert tester.last.state["lang"] == lang
    assert engine.word(menus, "main.help", lang) in tester.last.text
    tester.play("1")  # ask for advice
    assert tester.screen == "kind"
    tester.play("2")  # legal
    assert tester.screen == "district"
    assert engine.word(menus, "district.title", lang) in tester.last.text
    tester.play("3")  # Jami
    assert tester.screen == "consent"
    tester.play("2")  # also the mahalla committee
    assert tester.screen == "call"
    tester.play("3")  # do not call
    assert tester.screen == "sms"
    step = tester.play("2")  # one neutral SMS is fine
    assert step.end and step.action == "submit"
    assert step.state["screen"] == "done"
    assert step.answers == {
        "lang": lang,
        "kind": "legal",
        "district": "jami",
        "consent": "mahalla",
        "call": "none",
        "sms": "yes",
    }
    done = engine.render_end(menus, step.state["screen"], lang, ref="4821")
    assert "4821" in done and fits_ussd(done)
    assert done == engine.word(menus, "done", lang).replace("{ref}", "4821")


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize(
    ("kind", "value"), [("2", "legal"), ("3", "shelter"), ("4", "money"), ("5", "talk")]
)
def test_every_kind_is_recorded(menus: Menus, lang: str, kind: str, value: str) -> None:
    step = MenuTester(menus).play(pick_lang(lang), "1", kind, "7", "1", "1", "1")
    assert step.action == "submit"
    assert step.answers["kind"] == value and step.answers["district"] == "bokhtar"
    assert step.answers["consent"] == "group" and step.answers["call"] == "any"
    assert step.answers["sms"] == "no"


@pytest.mark.parametrize("lang", LANGS)
def test_danger_now_skips_consent_and_records_group(menus: Menus, lang: str) -> None:
    tester = MenuTester(menus)
    tester.play(pick_lang(lang), "1", "1")
    assert tester.screen == "district_now"
    tester.play("1")
    assert tester.screen == "call"
    assert engine.word(menus, "call.title", lang) in tester.last.text
    step = tester.play("2", "1")
    assert step.action == "submit"
    assert step.answers == {
        "lang": lang,
        "kind": "danger",
        "district": "dushanbe",
        "consent": "group",
        "call": "day",
        "sms": "no",
    }
    assert "consent" not in [s.state["screen"] for s in tester.seen]


@pytest.mark.parametrize("lang", LANGS)
def test_check_path(menus: Menus, lang: str) -> None:
    tester = MenuTester(menus)
    tester.play(pick_lang(lang), "2")
    assert tester.screen == "check"
    for wrong in ("482", "4821234", "48a1", "48 21"):
        step = tester.play(wrong)
        assert step.state["screen"] == "check" and not step.end
        assert step.text.startswith(hint_of(menus, "check", lang) + "\n")
    step = tester.play(" 4821 ")
    assert step.end and step.action == "status"
    assert step.state["screen"] == "status"
    assert step.answers == {"lang": lang, "ref": "4821"}
    for key in ("status.open", "status.taken", "status.closed", "status.unknown"):
        word = engine.word(menus, key, lang)
        text = engine.render_end(menus, "status", lang, ref="4821", status_word=word)
        assert "4821" in text and word in text and fits_ussd(text)


@pytest.mark.parametrize("lang", LANGS)
def test_busy_end_screen_for_the_service(menus: Menus, lang: str) -> None:
    # The service shows it instead of `done` when it cannot open a case (a rate limit).
    text = engine.render_end(menus, "busy", lang, ref="-")
    assert text == engine.word(menus, "busy", lang) and fits_ussd(text)


def test_check_accepts_four_to_six_digits(menus: Menus) -> None:
    for ref in ("0042", "12345", "999999"):
        step = MenuTester(menus).play("4", "2", ref)
        assert step.action == "status" and step.answers["ref"] == ref


def test_start_with_a_known_language_skips_the_picker(menus: Menus) -> None:
    tester = MenuTester(menus, lang="ru")
    assert tester.screen == "main"
    assert tester.last.answers == {"lang": "ru"}
    assert engine.word(menus, "nav.back", "ru") in tester.last.text
    tester.play("#")
    assert tester.screen == "lang"
    assert tester.last.state["lang"] == "ru"  # the picker is still shown in her language


# ----------------------------------------------------------------------------------------------
# Navigation: back, exit, pages


@pytest.mark.parametrize("lang", LANGS)
def test_back_goes_one_screen_up_and_forgets_that_answer(menus: Menus, lang: str) -> None:
    tester = MenuTester(menus)
    first = tester.last.text
    assert tester.play("#").text == first  # the first screen: re-shown, no hint
    assert tester.screen == "lang"
    tester.play(pick_lang(lang))
    assert tester.play("#").state["screen"] == "lang"
    tester.play(pick_lang(lang), "1", "2", "3")
    assert tester.screen == "consent"
    assert tester.play("#").state["screen"] == "district"
    assert "district" not in tester.last.answers and tester.last.answers["kind"] == "legal"
    assert tester.play("#").state["screen"] == "kind"
    assert "kind" not in tester.last.answers
    assert tester.play("#").state["screen"] == "main"
    assert tester.last.answers == {"lang": lang}
    tester.play("2")
    assert tester.play("#").state["screen"] == "main"


def test_back_from_the_danger_path_forgets_the_default_consent(menus: Menus) -> None:
    tester = MenuTester(menus)
    tester.play("4", "1", "1")
    assert tester.last.answers["consent"] == "group"
    tester.play("#")
    assert tester.screen == "kind" and "consent" not in tester.last.answers
    step = tester.play("3", "1", "3", "1", "1")  # shelter, then consent asked: police
    assert step.action == "submit" and step.answers["consent"] == "police"


@pytest.mark.parametrize("lang", LANGS)
def test_zero_exits_every_screen_with_a_neutral_end(menus: Menus, lang: str) -> None:
    reached = {"lang"}
    exit_text = engine.word(menus, "exit", lang)
    step = MenuTester(menus, lang=None).play("0")
    assert step.end and step.action is None
    for screen in PATHS:
        tester = MenuTester(menus)
        tester.reach(lang, screen)
        reached.add(screen)
        step = tester.play("0")
        assert step.end and step.action is None and step.text == exit_text
    saved = MenuTester(menus).reach(lang, "consent").state
    step = MenuTester(menus, first=engine.resume_screen(menus, saved)).play("0")
    assert step.end and step.text == exit_text
    reached.add("resume")
    non_end = {sid for sid, s in menus.screens.items() if s.type != "end"}
    assert reached == non_end, "a new screen needs a path in PATHS"
    assert not any(word in exit_text.casefold() for word in FORBIDDEN + POLICE)


@pytest.mark.parametrize("lang", LANGS)
def test_long_district_list_is_paged_with_global_numbers(menus: Menus, lang: str) -> None:
    tester = MenuTester(menus, LONG_DISTRICTS)
    tester.play(pick_lang(lang), "1", "2")
    more = engine.word(menus, "nav.more", lang)
    numbers: list[list[int]] = []
    for _ in range(12):
        lines = tester.last.text.splitlines()
        assert more in lines
        firsts = [line.split()[0] for line in lines]
        numbers.append([int(n) for n in firsts if n.isdigit() and not n.startswith("0")])
        if tester.play("00").state["page"] == 0:
            break
    assert len(numbers) >= 2, "twelve long names must need more than one page"
    assert sum(numbers, []) == list(range(1, 13))  # numbered 1..12 across pages, each once
    assert tester.screen == "district" and tester.last.state["page"] == 0  # wrapped
    tester.play("00")
    second = numbers[1][0]
    step = tester.play(str(second))
    assert step.state["screen"] == "consent"
    assert step.answers["district"] == f"d{second}"


def test_a_number_from_another_page_is_accepted(menus: Menus) -> None:
    tester = MenuTester(menus, LONG_DISTRICTS)
    tester.play("1", "1", "2", "00")
    assert tester.last.state["page"] == 1
    assert "\n1 " not in "\n" + tester.last.text
    step = tester.play("1")
    assert step.state["screen"] == "consent" and step.answers["district"] == "d1"
    tester = MenuTester(menus, LONG_DISTRICTS)
    tester.play("1", "1", "2")
    assert tester.play("13").text.startswith(hint_of(menus, "district", "tg") + "\n")
    assert tester.play("12").answers["district"] == "d12"


@pytest.mark.parametrize("lang", ["1", "2", "3", "4"])
def test_more_on_a_single_page_screen_shows_it_again(menus: Menus, lang: str) -> None:
    tester = MenuTester(menus)
    shown = tester.play(lang)
    assert shown.state["screen"] == "main"
    assert len(engine.pages(menus, menus.screens["main"], shown.state["lang"], None)) == 1
    step = tester.play("00")
    assert step.state == shown.state and step.text == shown.text  # no hint: she typed "00"
    assert tester.play("1").state["screen"] == "kind"  # and the screen still works


JUNK = [
    "abc",
    "",
    "   ",
    "🙂",
    "🙂🙂",
    "x" * 5000,
    "1" * 5000,
    "\x00\xff",
    "9",
    "01",
    "-1",
    "1.0",
    "1 2",
    "٣",
    "²",
    "#0",
    "000",
    "**",
    "\n",
]


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("screen", ["lang", "kind", "district", "check"])
def test_invalid_input_reshows_the_screen_with_a_hint(menus: Menus, lang: str, screen: str) -> None:
    tester = MenuTester(menus)
    if screen != "lang":
        tester.reach(lang, screen)
    shown = tester.last
    hint = hint_of(menus, screen, shown.state["lang"])
    for junk in [*JUNK, None, b"1", 1]:
        step = tester.play(junk)
        assert not step.end and step.action is None
        assert step.state == shown.state
        assert step.text == hint + "\n" + shown.text
        assert "x" * 10 not in step.text and "\x00" not in step.text  # input is never echoed


# ----------------------------------------------------------------------------------------------
# Resume, state


@pytest.mark.parametrize("lang", LANGS)
def test_resume_continue_returns_to_the_saved_screen(menus: Menus, lang: str) -> None:
    before = MenuTester(menus)
    saved = before.reach(lang, "consent")
    offer = engine.resume_screen(menus, saved.state)
    assert offer.state["screen"] == "resume" and offer.state["lang"] == lang
    assert engine.word(menus, "resume.title", lang) in offer.text
    tester = MenuTester(menus, first=offer)
    step = tester.play("1")
    assert step.state == saved.state
    assert step.text == saved.text
    assert tester.play("1", "1").answers == {
        "lang": lang,
        "kind": "legal",
        "district": "dushanbe",
        "consent": "group",
        "call": "any",
    }


@pytest.mark.parametrize("lang", LANGS)
def test_resume_start_again_begins_in_the_saved_language(menus: Menus, lang: str) -> None:
    saved = MenuTester(menus).reach(lang, "call").state
    tester = MenuTester(menus, first=engine.resume_screen(menus, saved))
    step = tester.play("2")
    assert step.state["screen"] == "main" and step.answers == {"lang": lang}
    assert step.text == engine.start(menus, lang).text


@pytest.mark.parametrize("lang", LANGS)
def test_restart_after_a_lost_session_decides_nothing(menus: Menus, lang: str) -> None:
    picker = engine.restart(menus, None, None, DISTRICTS)
    assert picker == engine.start(menus, None, DISTRICTS)  # the picker explains itself
    again = engine.restart(menus, lang, None, DISTRICTS)
    lines = again.text.splitlines()
    assert lines[0] == engine.word(menus, "again", lang) and not again.end
    assert again.state == engine.start(menus, lang, DISTRICTS).state and again.action is None
    saved = MenuTester(menus).play(pick_lang(lang), "1", "2").state
    offer = engine.restart(menus, "tg", saved, DISTRICTS)
    assert offer.state["screen"] == "resume" and offer.state["lang"] == lang
    assert offer.text.splitlines()[0] == engine.word(menus, "again", lang)
    assert engine.step(menus, offer.state, "1", DISTRICTS).state["screen"] == "district"


def test_check_measures_the_restart_screens(tmp_path: Path) -> None:
    flows, locales = copy_menus(tmp_path)
    ru = locales / "ru.yaml"
    ru.write_text(
        ru.read_text(encoding="utf-8").replace('again: "Снова с начала:"', f"again: {'я' * 30}"),
        encoding="utf-8",
    )
    problems = engine.check(engine.load(flows, locales), DISTRICTS)
    assert problems == ["ru: screen 'main' after a lost session: 87 characters, budget 80 (UCS-2)"]


def test_resume_screen_handles_navigation_and_junk(menus: Menus) -> None:
    saved = MenuTester(menus).reach("tg", "district").state
    tester = MenuTester(menus, first=engine.resume_screen(menus, saved))
    assert tester.play("#").state["screen"] == "resume"
    assert tester.play("7").text.startswith(hint_of(menus, "resume", "tg") + "\n")
    assert tester.play("1").state == saved


@pytest.mark.parametrize(
    "saved",
    [
        {},
        None,
        {"screen": "gone", "lang": "tg"},
        {"screen": "done", "lang": "uz", "page": 0, "answers": {}, "history": []},
    ],
)
def test_resume_of_an_unusable_state_starts_again(menus: Menus, saved: object) -> None:
    step = engine.resume_screen(menus, saved)  # type: ignore[arg-type]
    assert step.state["screen"] in ("lang", "main") and not step.end


def test_state_from_an_older_flow_or_a_finished_session_starts_again(menus: Menus) -> None:
    assert engine.step(menus, {"screen": "removed", "lang": "ru"}, "1").state["screen"] == "main"
    assert engine.step(menus, "junk", "1").state["screen"] == "lang"  # type: ignore[arg-type]
    done = MenuTester(menus).play("2", "2", "1234").state
    step = engine.step(menus, done, "1")
    assert step.state["screen"] == "main" and step.state["lang"] == "ru" and not step.end


def test_state_shape_and_immutability(menus: Menus) -> None:
    tester = MenuTester(menus)
    state = tester.reach("uz", "district").state
    assert set(state) == {"screen", "page", "lang", "answers", "history"}
    assert state["history"] == ["lang", "main", "kind"]
    frozen = copy.deepcopy(state)
    for user_input in ("1", "#", "00", "0", "abc", "99"):
        step = engine.step(menus, state, user_input, DISTRICTS)
        assert state == frozen
        step.state["answers"]["kind"] = "changed"
        step.answers["district"] = "changed"
        assert state == frozen
    with pytest.raises(dataclasses.FrozenInstanceError):
        step.text = "x"  # type: ignore[misc]


def test_a_source_missing_a_language_falls_back_to_english(menus: Menus) -> None:
    sources = {"districts": [("x", {"en": "Xland"}), ("y", "Yland")]}
    tester = MenuTester(menus, sources)
    assert "1 Xland\n2 Yland" in tester.play("2", "1", "2").text


def test_a_missing_source_is_a_caller_error(menus: Menus) -> None:
    state = MenuTester(menus).play("4", "1").state
    with pytest.raises(MenuError, match="districts"):
        engine.step(menus, state, "2", {})


def test_render_end_and_word_errors(menus: Menus) -> None:
    with pytest.raises(MenuError, match="ref"):
        engine.render_end(menus, "done", "en")
    with pytest.raises(MenuError, match="not an end screen"):
        engine.render_end(menus, "kind", "en", ref="1")
    with pytest.raises(MenuError):
        engine.word(menus, "status.open", "fr")
    with pytest.raises(MenuError):
        engine.word(menus, "status.nothing", "en")


# ----------------------------------------------------------------------------------------------
# Texts and budgets


def test_texts_are_neutral(menus: Menus) -> None:
    for lang in LANGS:
        for key, text in menus.texts[lang].items():
            if key == "group.never":
                continue  # the words a group message must never hold: the list itself
            folded = text.casefold()
            assert not any(word in folded for word in FORBIDDEN), (lang, key)
            if key != "consent.police":
                assert not any(word in folded for word in POLICE), (lang, key)
    assert menus.screens["lang"].title is None  # the first screen has no title at all


def test_every_screen_fits_with_real_districts(menus: Menus) -> None:
    assert engine.check(menus, DISTRICTS) == []
    assert engine.check(menus, LONG_DISTRICTS) == []


def copy_menus(tmp_path: Path) -> tuple[Path, Path]:
    flows, locales = tmp_path / "flows", tmp_path / "locales"
    shutil.copytree(FLOWS, flows)
    shutil.copytree(LOCALES, locales)
    return flows, locales


def test_check_reports_an_over_long_text(tmp_path: Path) -> None:
    flows, locales = copy_menus(tmp_path)
    ru = locales / "ru.yaml"
    ru.write_text(
        ru.read_text(encoding="utf-8").replace('"Тема:"', "Пожалуйста, выберите " * 3),
        encoding="utf-8",
    )
    problems = engine.check(engine.load(flows, locales), DISTRICTS)
    assert problems
    assert all(p.startswith("ru: screen 'kind' page ") for p in problems)
    assert "budget 80" in problems[0]


def test_check_fills_placeholders_with_long_samples(tmp_path: Path) -> None:
    flows, locales = copy_menus(tmp_path)
    en = locales / "en.yaml"
    done = "Thank you. " + "x" * 166 + " {ref}"  # 183 as written, 184 with a six-digit ref
    en.write_text(
        en.read_text(encoding="utf-8").replace(
            '"Thank you. Your code: {ref}"', f'"{done[:-6]}{{ref}}"'
        ),
        encoding="utf-8",
    )
    menus = engine.load(flows, locales)
    assert fits_ussd(engine.render_end(menus, "done", "en", ref="1"))
    assert engine.check(menus, DISTRICTS) == [
        "en: screen 'done': 183 characters, budget 182 (GSM-7)"
    ]


# ----------------------------------------------------------------------------------------------
# Loading errors

BROKEN = """\
start: first
screens:
  first:
    type: choice
    options:
      - {label: main.help, goto: nowhere}
      - {label: main.check, action: launch, then: done}
      - {label: no.such.key, goto: first}
  odd:
    type: carousel
  done:
    type: end
    text: done
    colour: red
  ask:
    type: input
    title: check.title
    field: secret
    min: 4
    max: 6
    action: status
    then: done
"""


def test_load_names_file_and_line_of_every_problem(tmp_path: Path) -> None:
    _, locales = copy_menus(tmp_path)
    flows = tmp_path / "broken"
    flows.mkdir()
    path = flows / "broken.yaml"
    path.write_text(BROKEN, encoding="utf-8")
    with pytest.raises(MenuError) as caught:
        engine.load(flows, locales)
    problems = caught.value.problems
    expected = {
        6: "goto to missing screen 'nowhere'",
        7: "unknown action 'launch'",
        8: "text 'no.such.key' is missing in tg.yaml, ru.yaml, uz.yaml, en.yaml",
        10: "unknown type 'carousel'",
        14: "unknown field 'colour'",
        18: "unknown field 'secret'",
    }
    for line, message in expected.items():
        assert any(p.startswith(f"{path}:{line}: ") and message in p for p in problems), (
            line,
            problems,
        )
    assert len(problems) == len(expected)
    assert str(caught.value) == "\n".join(problems)


def test_load_names_the_flow_line_of_a_text_missing_in_one_locale(tmp_path: Path) -> None:
    flows, locales = copy_menus(tmp_path)
    uz = locales / "uz.yaml"
    uz.write_text(
        uz.read_text(encoding="utf-8").replace("  talk: Suhbatdosh\n", ""), encoding="utf-8"
    )
    line = 1 + FLOWS.joinpath("help.yaml").read_text(encoding="utf-8").splitlines().index(
        "      - {label: kind.talk, set: {kind: talk}, goto: district}"
    )
    with pytest.raises(MenuError) as caught:
        engine.load(flows, locales)
    assert caught.value.problems == [
        f"{flows / 'help.yaml'}:{line}: text 'kind.talk' is missing in uz.yaml"
    ]


def test_load_reports_yaml_syntax_and_locale_problems(tmp_path: Path) -> None:
    flows, locales = copy_menus(tmp_path)
    (flows / "extra.yaml").write_text("screens:\n  x: [unclosed\n", encoding="utf-8")
    ru = locales / "ru.yaml"
    text = ru.read_text(encoding="utf-8").replace("  more: 00 Ещё\n", "")
    ru.write_text(text.replace("Ваш код: {ref}", "Ваш код: {number}"), encoding="utf-8")
    with pytest.raises(MenuError) as caught:
        engine.load(flows, locales)
    problems = caught.value.problems
    assert any(p.startswith(f"{flows / 'extra.yaml'}:3: invalid YAML") for p in problems)
    assert f"{ru}:1: text 'nav.more' is missing (the engine needs it)" in problems
    assert any(
        p.startswith(f"{ru}:") and "'done' has placeholders ['number']" in p for p in problems
    )


def test_load_reports_a_screen_defined_twice_and_a_repeated_key(tmp_path: Path) -> None:
    flows, locales = copy_menus(tmp_path)
    (flows / "more.yaml").write_text(
        "screens:\n  main:\n    type: end\n    text: done\n"
        "  other:\n    type: end\n    text: done\n    text: exit\n",
        encoding="utf-8",
    )
    with pytest.raises(MenuError) as caught:
        engine.load(flows, locales)
    more = flows / "more.yaml"
    assert any(
        p.startswith(f"{more}:2: screen 'main' is already defined at ")
        for p in caught.value.problems
    )
    assert f"{more}:8: screen 'other' has 'text' twice (first on line 7)" in caught.value.problems


def test_a_session_dropped_on_the_first_screen_is_not_offered_to_continue() -> None:
    menus = engine.load()
    first = engine.start(menus)
    again = engine.resume_screen(menus, first.state)
    assert again.state["screen"] == menus.start and again.text == first.text
