"""One catalog per language: the SMS the gateway sends and the words people text are checked
with the USSD screens, so a language cannot ship with one of them missing or misfilled."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from gateway import keywords, templates
from menus import engine

HERE = Path(engine.__file__).resolve().parent


def copy_menus(tmp_path: Path) -> tuple[Path, Path]:
    flows, locales = tmp_path / "flows", tmp_path / "locales"
    shutil.copytree(HERE / "flows", flows)
    shutil.copytree(HERE / "locales", locales)
    return flows, locales


def test_a_missing_sms_text_and_a_changed_placeholder_are_named(tmp_path: Path) -> None:
    flows, locales = copy_menus(tmp_path)
    ru = locales / "ru.yaml"
    lines = ru.read_text(encoding="utf-8").splitlines(keepends=True)
    ru.write_text("".join(x for x in lines if not x.startswith("  taken:")), encoding="utf-8")
    uz = locales / "uz.yaml"
    text = uz.read_text(encoding="utf-8").replace(
        "Eslatma: #{ref} ({kind}", "Eslatma: #{ref} ({kin}"
    )
    uz.write_text(text, encoding="utf-8")
    with pytest.raises(engine.MenuError) as caught:
        engine.load(flows, locales)
    problems = "\n".join(caught.value.problems)
    assert f"{ru}:1: text 'messages.taken' is missing (tg.yaml has it)" in problems
    assert f"{uz}:" in problems and "'messages.reminder' has placeholders" in problems


def test_a_missing_keyword_is_named(tmp_path: Path) -> None:
    flows, locales = copy_menus(tmp_path)
    en = locales / "en.yaml"
    en.write_text(en.read_text(encoding="utf-8").replace('  done: "DONE"\n', ""), "utf-8")
    with pytest.raises(engine.MenuError, match="text 'keywords.done' is missing"):
        engine.load(flows, locales)


def test_the_gateway_reads_its_texts_and_words_from_the_catalogs() -> None:
    texts = engine.load().texts
    assert templates.TEXT["ru"]["taken"] == texts["ru"]["messages.taken"]
    assert templates.SURVIVOR_TEXT["uz"] == texts["uz"]["messages.acknowledgement"]
    assert templates.URGENT["en"] == texts["en"]["messages.urgent"] + " "
    assert keywords.parse("yordam") == keywords.Command("help", "uz")
    assert keywords.parse("ТАМОМ 4821") == keywords.Command("done", "tg", "4821")
