"""Keyword and command vocabularies per language, matched after Tajik letter folding."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from gateway.cases import AID_KINDS, FOLLOW_UP_DAYS
from gateway.groups import DAYS, clock_time
from gateway.text import fold
from menus import catalog

# command -> {lang: words}, from each language's catalog (menus/locales/<lang>.yaml, under
# `keywords`, space-separated). Words are written as people type them; they are folded on load.
_WORDS = catalog.section("keywords")


def _vocabulary(*commands: str) -> dict[str, dict[str, tuple[str, ...]]]:
    return {c: {lang: tuple(words[c].split()) for lang, words in _WORDS.items()} for c in commands}


KEYWORDS = _vocabulary("help", "stop", "delete")
RESPONDER_COMMANDS = _vocabulary("accept", "decline", "done", "aid", "later", "note", "refer")
# Anyone's: JOIN <group code> a mutual aid group, LEAVE [<group code>] it (or every group).
GROUP_COMMANDS = _vocabulary("join", "leave")
# A group's sender: MEET <group code> <day> <time>, answered with a preview; MEET <code> YES sends.
MEET = _vocabulary("meet")
# The days a MEET may name, in any language (folded), or as their English three letters.
_DAY = {fold(name): day for names in catalog.section("day").values() for day, name in names.items()}
_DAY.update({day: day for day in DAYS})
_GROUP_CODE = re.compile(r"^\d{3,6}$")
# Commands that may carry codes of aid after the reference: "AID 4821 LEGAL ECON".
WITH_AID = ("aid", "done")
# kind -> {lang: codes}, and the folded code -> kind of every language (a responder may write
# the codes of any language, in any case, with or without Tajik letters).
AID_CODES = {
    kind: {lang: tuple(words[f"aid_codes.{kind}"].split()) for lang, words in _WORDS.items()}
    for kind in AID_KINDS
}
# A command word, then what follows it: "OK 3521", "OK3521", "OK-3521", "Ok, 3521", "OK #3521".
_COMMAND = re.compile(r"^(?P<word>[^\W\d_]+(?:'[^\W\d_]+)?)(?P<rest>(?:[\W_\d].*)?)$", re.S)
_SEPARATORS = " ,.:;#-\u2013\u2014"  # what people put between the word and the ref
_BETWEEN = re.compile(f"[{re.escape(_SEPARATORS)}]+")  # and between the ref and what follows
_REF = re.compile(r"^\d{4,6}$")
# NOTE <ref> <text>, on the text as written.
_NOTE = re.compile(
    r"^\s*\S+?[\s,.:;#\-\u2013\u2014]*(?P<ref>\d{4,6})(?:[\s,.:;\-]+(?P<note>.*))?$", re.S
)
NOTE_MAX = 500  # characters of a note kept


@dataclass(frozen=True)
class Command:
    """What an SMS asks for: a survivor keyword, a responder command with its ref, or nothing."""

    # help, code, stop, delete, accept, decline, done, aid, later, note, unclear, aid_unclear
    # (AID or DONE with a code that names no aid, or AID without one), join, leave, meet,
    # meet_yes, meet_unclear, refer, refer_unclear, or text
    name: str
    lang: str = ""
    ref: str = ""
    owner: str = ""  # code: the id of the organisation whose code word it is
    aid: tuple[str, ...] = ()  # aid, done: the kinds of aid its codes name
    days: int = 0  # later: in how many days
    note: str = field(default="", repr=False)  # note: the text as written (never in a log)
    agreed: bool = False  # refer: ends with a YES word (she agreed to be referred)
    day: str = ""  # meet: one of groups.DAYS
    time: str = ""  # meet: HH:MM


def _table(vocab: Mapping[str, Mapping[str, Iterable[str]]]) -> dict[str, tuple[str, str]]:
    return {
        fold(w): (cmd, lang)
        for cmd, langs in vocab.items()
        for lang, ws in langs.items()
        for w in ws
    }


_KEYWORDS = _table(KEYWORDS)
_RESPONDER = _table(RESPONDER_COMMANDS)
_GROUPS = _table(GROUP_COMMANDS)
_MEET = _table(MEET)
_AID = {code: kind for code, (kind, _) in _table(AID_CODES).items()}


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
    found = _COMMAND.match(folded)
    if found is not None and found["word"] in _GROUPS:
        name, lang = _GROUPS[found["word"]]
        code = found["rest"].strip(_SEPARATORS + " ")
        if _GROUP_CODE.match(code) or (name == "leave" and code == ""):
            return Command(name, lang, code)  # the group's code in `ref`
        return Command("text")  # her own words that happen to start so
    if found is not None and found["word"] in _MEET:
        return _meet(_MEET[found["word"]][1], found["rest"].split())
    if found is None or found["word"] not in _RESPONDER:
        return Command("text")
    name, lang = _RESPONDER[found["word"]]
    rest = found["rest"].lstrip(_SEPARATORS)
    words = [w for w in _BETWEEN.split(rest) if w]  # the reference and what follows it
    if name == "later":
        if len(words) == 2 and _REF.match(words[0]) and words[1].isdigit():
            if int(words[1]) in FOLLOW_UP_DAYS:
                return Command(name, lang, words[0], days=int(words[1]))
        return Command("unclear", lang)  # answered with how to write a command
    if name == "note":
        # The note as she wrote it (not folded): everything after the reference.
        found_note = _NOTE.match(text[: NOTE_MAX + 40])
        if found_note and (found_note["note"] or "").strip():
            return Command(
                name, lang, found_note["ref"], note=found_note["note"].strip()[:NOTE_MAX]
            )
        return Command("unclear", lang)
    if name == "refer":
        return _refer(lang, words)
    if name in WITH_AID:
        if words and _REF.match(words[0]):
            return _with_aid(name, lang, words[0], words[1:])
    if rest == "" or _REF.match(rest):
        return Command(name, lang, rest)  # no ref: a plain OK, which SMS intake may resolve
    # A command word with something that is not a reference: it looks like a command, so the
    # sender, if a responder, is told how to write one.
    return Command("unclear", lang)


def _refer(lang: str, words: list[str]) -> Command:
    """REFER <ref> <organisation> <aid code> [YES]: the holder refers the case, saying that she
    agreed with the YES (else it is refused); refer_unclear when it cannot be read."""
    if len(words) in (3, 4) and _REF.match(words[0]) and words[2] in _AID:
        agreed = len(words) == 4 and _is_yes(words[3])
        if len(words) == 3 or agreed:
            return Command(
                "refer", lang, words[0], owner=words[1], aid=(_AID[words[2]],), agreed=agreed
            )
    return Command("refer_unclear", lang, words[0] if words and _REF.match(words[0]) else "")


def _is_yes(word: str) -> bool:
    """True for a folded word that accepts (OK, YES, ДА, ҲА, HA...) in any language."""
    return _RESPONDER.get(word, ("",))[0] == "accept"


def _meet(lang: str, words: list[str]) -> Command:
    """MEET <code> <day> <time>: a meeting for a group; MEET <code> YES: send the one just
    previewed (its own command, so a group's code is never read as a case's reference); else
    meet_unclear (how to write it)."""
    if len(words) == 2 and _GROUP_CODE.match(words[0]) and _is_yes(words[1]):
        return Command("meet_yes", lang, words[0])
    if len(words) == 3 and _GROUP_CODE.match(words[0]) and words[1] in _DAY:
        if at := clock_time(words[2]):
            return Command("meet", lang, words[0], day=_DAY[words[1]], time=at)
    return Command("meet_unclear", lang)


def _with_aid(name: str, lang: str, ref: str, codes: list[str]) -> Command:
    kinds = [_AID.get(code) for code in codes]
    if None in kinds or (name == "aid" and not kinds):
        return Command("aid_unclear", lang, ref)  # answered with the codes of their language
    return Command(name, lang, ref, aid=tuple(k for k in AID_KINDS if k in kinds))


def fold_code_words(
    by_lang: Mapping[str, Iterable[str]], owner: str = ""
) -> dict[str, tuple[str, str]]:
    """Code phrases of an organisation (owner: its id), folded for parse()."""
    return {fold(w): (lang, owner) for lang, words in by_lang.items() for w in words}
