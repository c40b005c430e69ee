"""Keyword and command vocabularies per language, matched after Tajik letter folding."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from gateway.text import fold

# command -> {lang: words}. Words are written as people type them; they are folded on load.
# Twilio itself reserves STOP/END/CANCEL/QUIT... on long codes, so responder commands avoid them.
KEYWORDS: dict[str, dict[str, tuple[str, ...]]] = {
    "help": {
        "en": ("HELP",),
        "tg": ("ЁРДАМ", "ЁРӢ", "КӮМАК"),
        "ru": ("ПОМОЩЬ", "ПОМОГИТЕ"),
        "uz": ("YORDAM",),
    },
    "stop": {
        "en": ("STOP",),
        "tg": ("БАС", "ИСТ"),
        "ru": ("СТОП",),
        "uz": ("TOXTA", "TO'XTA"),
    },
    "delete": {
        "en": ("DELETE",),
        "tg": ("НЕСТ", "ҲАЗФ"),
        "ru": ("УДАЛИТЬ",),
        "uz": ("OCHIR", "O'CHIR"),
    },
}
RESPONDER_COMMANDS: dict[str, dict[str, tuple[str, ...]]] = {
    "accept": {"en": ("OK", "YES"), "tg": ("ОК", "ХОП", "ҲА"), "ru": ("ОК", "ДА"), "uz": ("HA",)},
    "decline": {"en": ("NO",), "tg": ("НЕ",), "ru": ("НЕТ",), "uz": ("YOQ", "YO'Q")},
    "done": {"en": ("DONE",), "tg": ("ТАМОМ",), "ru": ("ГОТОВО",), "uz": ("TAYYOR",)},
}
_REF = re.compile(r"^\d{4,6}$")


@dataclass(frozen=True)
class Command:
    """What an SMS asks for: a survivor keyword, a responder command with its ref, or nothing."""

    name: str  # help, code, stop, delete, accept, decline, done, unclear, or text
    lang: str = ""
    ref: str = ""
    owner: str = ""  # code: the id of the organisation whose code word it is


def _table(vocab: Mapping[str, Mapping[str, Iterable[str]]]) -> dict[str, tuple[str, str]]:
    return {
        fold(w): (cmd, lang)
        for cmd, langs in vocab.items()
        for lang, ws in langs.items()
        for w in ws
    }


_KEYWORDS = _table(KEYWORDS)
_RESPONDER = _table(RESPONDER_COMMANDS)


def parse(text: str, code_words: Mapping[str, tuple[str, str]] | None = None) -> Command:
    """The command an SMS body carries; code_words maps folded code phrases to their language
    and owner (fold_code_words)."""
    folded = fold(text[:500])
    if folded in _KEYWORDS:
        name, lang = _KEYWORDS[folded]
        return Command(name, lang)
    if code_words and folded in code_words:
        lang, owner = code_words[folded]
        return Command("code", lang, owner=owner)
    word, _, rest = folded.partition(" ")
    rest = rest.strip().lstrip("#")
    if word in _RESPONDER and _REF.match(rest):
        name, lang = _RESPONDER[word]
        return Command(name, lang, rest)
    return Command("text")


def fold_code_words(
    by_lang: Mapping[str, Iterable[str]], owner: str = ""
) -> dict[str, tuple[str, str]]:
    """Code phrases of an organisation (owner: its id), folded for parse()."""
    return {fold(w): (lang, owner) for lang, words in by_lang.items() for w in words}
