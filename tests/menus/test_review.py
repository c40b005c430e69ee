"""The native-speaker review list holds every text a survivor or a responder sees."""

from __future__ import annotations

import pytest

from gateway import templates
from menus import engine, review
from menus.languages import ERROR_END


def test_review_file_is_up_to_date():
    current = review.REVIEW_FILE.read_text(encoding="utf-8")
    assert current == review.markdown(), "menus/REVIEW.md is out of date: python -m menus.review"
    assert review.main(["--check"]) == 0


@pytest.mark.parametrize("lang", engine.LANGS)
def test_every_text_is_on_the_list_with_its_meaning_and_state(lang):
    listed = review.REVIEW_FILE.read_text(encoding="utf-8")
    section = listed.split(f"({lang})\n", 1)[1].split("\n## ", 1)[0]
    menus = engine.load()
    texts = [*menus.texts[lang].values(), templates.SURVIVOR_TEXT[lang], ERROR_END]
    texts += [*templates.TEXT[lang].values(), *templates.KIND[lang].values()]
    texts += [*templates.CONTACT[lang].values(), templates.URGENT[lang].strip()]
    rows = [line for line in section.splitlines() if line.startswith("| ")][2:]
    for text in texts:
        found = [r for r in rows if f" | {review._cell(text)} | " in r]
        assert found, f"{text!r} is not on the review list"
        _, _, meaning, where, state = (c.strip() for c in found[0].strip("| ").split(" | "))
        assert meaning and where and state == review.AWAITING, found[0]


def test_a_reviewed_text_that_changes_goes_back_in_the_queue(monkeypatch):
    key, text = "menus:exit", engine.load().texts["tg"]["exit"]
    monkeypatch.setitem(review.REVIEWED, ("tg", key), (text, "reviewed by F. Example, 2026-12"))
    assert review.state("tg", key, text) == "reviewed by F. Example, 2026-12"
    assert review.state("tg", key, text + "!") == review.CHANGED
    assert review.state("ru", key, text) == review.AWAITING
