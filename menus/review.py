"""The native-speaker review list: every text a survivor or a responder sees, per language.

    python -m menus.review          # rewrite menus/REVIEW.md from the catalogs
    python -m menus.review --check  # exit 1 when menus/REVIEW.md is out of date

tests/menus/test_review.py fails when REVIEW.md misses or misstates a text, so a text cannot
ship without being on the list. When a native speaker has reviewed a text, record it in
REVIEWED below (the text as reviewed, and by whom and when); a later change to the text puts it
back in the queue.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

from menus import engine
from menus.languages import ERROR_END

HERE = Path(__file__).resolve().parent
REVIEW_FILE = HERE / "REVIEW.md"
AWAITING = "machine-checked, awaiting native review"
CHANGED = "changed since review, awaiting native review"

# (language, key) -> (the text as reviewed, "reviewed by <name>, <date>")
REVIEWED: dict[tuple[str, str], tuple[str, str]] = {}

BUILTIN_WHERE = {
    "exit": "USSD: the END screen after 0 (exit) on any screen",
    "hint": "USSD: line above a screen after a wrong input",
    "again": "USSD: line above the first screen after a lost session",
    "nav.exit": "USSD: the 0 (exit) line of every screen",
    "nav.more": "USSD: the 00 (next page) line of a paged screen",
    "nav.back": "USSD: the # (back) line",
}
TEMPLATE_WHERE = {
    "alert": "SMS to responders: a new request",
    "details": "SMS to the responder who took a request: her number and when to call",
    "details_nocall": "SMS to the responder who took a request she asked not to be called on",
    "taken": "SMS to the other alerted responders: someone took it",
    "late": "SMS to a responder whose OK came after another's",
    "closed": "SMS to the responder who closed a request (DONE)",
    "declined": "SMS to a responder who answered NO",
    "reminder": "SMS to the duty officer while a request still waits",
    "unclear": "SMS to a responder whose reply was not understood",
}


def _menu_places(menus: engine.Menus) -> dict[str, list[str]]:
    places: dict[str, list[str]] = {}
    for sid, screen in menus.screens.items():
        if screen.type == "end":
            places.setdefault(screen.title or "", []).append(f"USSD: end screen '{sid}'")
            continue
        if screen.title:
            places.setdefault(screen.title, []).append(f"USSD: title of screen '{sid}'")
        for number, option in enumerate(screen.options, 1):
            places.setdefault(option.label, []).append(f"USSD: screen '{sid}' option {number}")
        if screen.hint != "hint":
            places.setdefault(screen.hint, []).append(f"USSD: screen '{sid}' after a wrong input")
        if screen.exit != "nav.exit":
            places.setdefault(screen.exit, []).append(f"USSD: the 0 (exit) line of '{sid}'")
    for key, where in BUILTIN_WHERE.items():
        places.setdefault(key, []).append(where)
    for key in menus.texts[engine.LANGS[0]]:
        if key.startswith("status."):
            places.setdefault(key, []).append("USSD: status word on the 'status' end screen")
    return places


def _message_place(name: str) -> str:
    """Where a text under `messages` (an SMS the gateway sends) appears."""
    if name in TEMPLATE_WHERE:
        return TEMPLATE_WHERE[name]
    group, _, item = name.partition(".")
    return {
        "acknowledgement": "SMS to her: the only one, and only if she asked for it",
        "kind": "SMS to responders: what the request is about, in {kind}",
        "contact": "SMS to responders: when to call, {contact}",
        "digest": "SMS to a responder: alerts held past the hourly limit, listed in one SMS",
        "notice": f"SMS to the duty officer: {item} notice",
        "urgent": "SMS to responders: before an urgent request",
    }.get(group, f"SMS (template '{name}')")


def rows(lang: str) -> Iterator[tuple[str, str, str, str]]:
    """(key, text, English meaning, where it appears) of every text in one language."""
    menus = engine.load()
    places = _menu_places(menus)
    for key, text in sorted(menus.texts[lang].items()):
        section, _, name = key.partition(".")
        if section == "messages":
            where = _message_place(name)
        elif section == "keywords":
            where = f"SMS people send: the words for '{name}' (space-separated)"
        else:
            where = "; ".join(places.get(key, ["not shown (kept for a flow)"]))
        yield key, text, menus.texts["en"][key], where
    yield (
        "ussd:error",
        ERROR_END,
        "Error. Please try again later. (Tajik / Russian)",
        ("USSD: END screen when something failed inside (every language)"),
    )


def state(lang: str, key: str, text: str) -> str:
    """The review state of one text."""
    reviewed = REVIEWED.get((lang, key))
    if reviewed is None:
        return AWAITING
    return reviewed[1] if reviewed[0] == text else CHANGED


def _cell(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", "<br>")


def markdown() -> str:
    """The whole review list, as REVIEW.md holds it."""
    lines = [
        "# Texts for native-speaker review",
        "",
        "Every text a survivor or a responder sees, per language: its key, the text, its English",
        "meaning, where it appears and its review state. Generated by `python -m menus.review`",
        "from menus/locales/*.yaml, menus/flows/help.yaml and gateway/templates.py; do not edit",
        "by hand (tests/menus/test_review.py fails when this file is out of date). Record a",
        "finished review in `REVIEWED` in menus/review.py.",
        "",
        "`{ref}` is her code (4-6 digits), `{status_word}` one of the status words, `{kind}`,",
        "`{district}`, `{contact}` and `{urgency}` the texts listed below, `{phone}` her number.",
        "District names come from the directory file and are reviewed with it.",
    ]
    names = {"tg": "Tajik", "ru": "Russian", "uz": "Uzbek (Latin)", "en": "English"}
    for lang in engine.LANGS:
        lines += ["", f"## {names[lang]} ({lang})", ""]
        lines += ["| Key | Text | English meaning | Where it appears | Review state |"]
        lines += ["| --- | --- | --- | --- | --- |"]
        for key, text, meaning, where in rows(lang):
            cells = (key, text, meaning, where, state(lang, key, text))
            lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    text = markdown()
    if "--check" in argv:
        current = REVIEW_FILE.read_text(encoding="utf-8") if REVIEW_FILE.exists() else ""
        if current != text:
            sys.stderr.write(f"{REVIEW_FILE} is out of date: run python -m menus.review\n")
            return 1
        return 0
    REVIEW_FILE.write_text(text, encoding="utf-8")
    sys.stdout.write(f"wrote {REVIEW_FILE}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
