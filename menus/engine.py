"""The USSD menu engine: flows and texts are data (YAML), navigation is a pure function of state.

The engine never runs actions, reads settings or touches Redis. The service passes the session
state, the user's last input and the dynamic lists (e.g. districts, as (value, names by
language) pairs) and gets back the text to show, the new state, and the name of an action to run
once a path is complete.

Rules a caller relies on:

* Every non-end screen takes ``0`` (a neutral END, locale key ``exit``), ``#`` (back one screen,
  forgetting the answers that screen recorded; on the first screen it re-shows it) and ``00``
  (next page; the last page wraps to the first, so a screen of one page is shown again as it
  was, with no hint: she typed what it offers). Anything else that is not valid re-shows the
  screen with a hint line. The user's input is never echoed.
* Options are numbered 1..n across all pages of a screen, never restarting, and every valid
  number is accepted on every page, also one that is not on the page shown.
* A session whose earlier screens are unknown is never replayed from a guessed first screen:
  ``restart`` offers to continue a saved state, or the first screen, and decides nothing.
* State is ``{"screen", "page", "lang", "answers", "history"}`` (plus ``"saved"`` on the resume
  screen), JSON-serialisable; the engine never mutates the state it is given. A state it cannot
  use (a screen that no longer exists after a deploy) starts the flow again.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from menus.loader import read
from menus.model import LANGS, MenuError, Menus, Screen, Sources, Target
from menus.render import (
    budget_problem,
    items,
    option_count,
    pages,
    render,
    render_end,
    word,
)
from menus.render import check as check_screens

__all__ = [
    "ACTIONS",
    "FIELDS",
    "LANGS",
    "MenuError",
    "Menus",
    "Step",
    "check",
    "load",
    "render_end",
    "restart",
    "resume_screen",
    "start",
    "step",
    "word",
]

ACTIONS = ("submit", "status")  # names the service maps to functions; the engine never runs them
FIELDS = ("lang", "kind", "district", "consent", "call", "sms", "ref")  # answers a flow may record
HERE = Path(__file__).resolve().parent
HISTORY_MAX = 20  # flows are shallow: the cap only keeps a looping flow's state small
INPUT_MAX = 64  # longer input is junk whatever it says, so it is not even stripped


@dataclass(frozen=True)
class Step:
    """A screen to show: body text without the CON/END prefix, whether it ends, the new state."""

    text: str
    end: bool
    state: dict[str, Any]
    action: str | None = None  # a completed path: run it, then render_end(state["screen"])
    answers: dict[str, str] = field(default_factory=dict)


def load(
    flows_dir: str | Path = HERE / "flows", locales_dir: str | Path = HERE / "locales"
) -> Menus:
    """Return the menus in flows_dir/*.yaml and locales_dir/<lang>.yaml, or raise MenuError."""
    return read(Path(flows_dir), Path(locales_dir), ACTIONS, FIELDS)


def start(menus: Menus, lang: str | None = None, sources: Sources | None = None) -> Step:
    """Return the first screen; with a known lang, the screen after picking that language."""
    state = _fresh(menus, lang)
    first = menus.screens[menus.start]
    for option in first.options if lang in LANGS else ():
        if ("lang", lang) in option.sets and option.target.goto:
            return _choose(menus, state, first, option.sets, option.target, sources)
    return _show(menus, state, sources)


def step(
    menus: Menus, state: Mapping[str, Any], user_input: Any, sources: Sources | None = None
) -> Step:
    """Return the screen that follows the user's input on the screen the state records."""
    current = _clean(menus, state)
    if current is None or menus.screens[current["screen"]].type == "end":
        # A state from an older flow, or a finished session: begin again in her language.
        lang = state.get("lang") if isinstance(state, Mapping) else None
        return start(menus, lang if lang in LANGS else None, sources)
    screen, lang = menus.screens[current["screen"]], current["lang"]
    short = isinstance(user_input, str) and len(user_input) <= INPUT_MAX
    typed = user_input.strip() if short else ""
    if typed == "0":
        return Step(word(menus, "exit", lang), True, current, None, dict(current["answers"]))
    if typed == "#":
        return _back(menus, current, sources)
    if typed == "00":
        count = len(pages(menus, screen, lang, sources))
        return _show(menus, {**current, "page": (current["page"] + 1) % count}, sources)
    if screen.type == "input" and _digits(typed) and screen.min <= len(typed) <= screen.max:
        assert screen.field and screen.target  # load guarantees both
        return _choose(menus, current, screen, ((screen.field, typed),), screen.target, sources)
    elif screen.type in ("choice", "list") and _digits(typed) and not typed.startswith("0"):
        if int(typed) <= option_count(screen, sources):
            return _pick(menus, current, screen, int(typed) - 1, sources)
    return _show(menus, current, sources, hint=True)


def resume_screen(menus: Menus, saved_state: Mapping[str, Any]) -> Step:
    """Return the screen offering to continue saved_state or start again, in its language."""
    saved = _clean(menus, saved_state)
    if saved is not None and saved["screen"] == "resume":  # dropped while offered a resume
        saved = _clean(menus, saved.get("saved"))
    if saved is None or menus.screens[saved["screen"]].type == "end":
        return start(menus, saved and saved["lang"])
    if saved["screen"] == menus.start:  # dropped on the first screen: nothing to continue
        return start(menus)
    if "resume" not in menus.screens:
        raise MenuError("the flows have no 'resume' screen")
    saved.pop("saved", None)  # a resume offered from the resume screen must not nest states
    return _show(menus, {**_fresh(menus, saved["lang"]), "screen": "resume", "saved": saved}, None)


def restart(
    menus: Menus,
    lang: str | None,
    saved_state: Mapping[str, Any] | None = None,
    sources: Sources | None = None,
) -> Step:
    """Return the screen for a session whose earlier screens are unknown (its record was lost).

    Her inputs so far cannot be replayed: the first screen she saw may have been the language
    picker, the menu or the resume offer. So nothing is decided from them: she is offered to
    continue saved_state (when it can be continued), else the first screen, in lang when known,
    headed by the ``again`` line (the language picker explains itself and has no room for it).
    """
    first = resume_screen(menus, saved_state) if saved_state else start(menus, lang, sources)
    if first.state["screen"] == menus.start:
        return first
    return _show(menus, first.state, sources, note="again")


def check(
    menus: Menus, sources: Sources | None, samples: Mapping[str, str] | None = None
) -> list[str]:
    """Return one line per screen, page and language that is over its USSD budget; [] if none.

    Besides every screen (render.check), the screens a lost session restarts on, with their
    ``again`` line.
    """
    problems = check_screens(menus, sources, samples)
    for lang in LANGS:
        saved = {"screen": menus.start, "page": 0, "lang": lang, "answers": {}, "history": []}
        offers = [start(menus, lang, sources).state]
        if "resume" in menus.screens:
            offers.append({**saved, "screen": "resume", "saved": saved})
        for state in offers:
            text = _show(menus, state, sources, note="again").text
            where = f"screen '{state['screen']}' after a lost session"
            problems += [found] if (found := budget_problem(text, lang, where)) else []
    return problems


def _fresh(menus: Menus, lang: str | None) -> dict[str, Any]:
    lang = lang if lang in LANGS else LANGS[0]
    return {"screen": menus.start, "page": 0, "lang": lang, "answers": {}, "history": []}


def _digits(typed: str) -> bool:
    # isascii: str.isdigit() is also true for "²" and Arabic-Indic digits.
    return typed.isascii() and typed.isdigit()


def _clean(menus: Menus, state: Any) -> dict[str, Any] | None:
    """Return a checked deep copy of a state, or None when this flow cannot use it."""
    if not isinstance(state, Mapping):
        return None
    screen, lang, page = state.get("screen"), state.get("lang"), state.get("page", 0)
    answers, history = state.get("answers") or {}, state.get("history") or []
    if not isinstance(screen, str) or screen not in menus.screens or lang not in LANGS:
        return None
    if not isinstance(answers, Mapping) or not isinstance(history, list):
        return None
    clean = {
        "screen": screen,
        "page": page if type(page) is int and page >= 0 else 0,
        "lang": lang,
        "answers": {str(k): str(v) for k, v in answers.items()},
        "history": [s for s in history if isinstance(s, str) and s in menus.screens],
    }
    if "saved" in state:
        clean["saved"] = copy.deepcopy(state["saved"])
    return clean


def _show(
    menus: Menus,
    state: dict[str, Any],
    sources: Sources | None,
    hint: bool = False,
    note: str | None = None,
) -> Step:
    screen, lang = menus.screens[state["screen"]], state["lang"]
    count = len(pages(menus, screen, lang, sources))
    state = {**state, "page": min(state["page"], count - 1)}  # a source may have shrunk
    back = bool(state["history"])
    text = render(menus, screen, lang, sources, state["page"], hint=hint, back=back, note=note)
    return Step(text, False, state, None, dict(state["answers"]))


def _back(menus: Menus, state: dict[str, Any], sources: Sources | None) -> Step:
    if not state["history"]:
        return _show(menus, state, sources)
    previous = state["history"][-1]
    forget = menus.screens[previous].fields() - {"lang"}  # her screens stay in her language
    answers = {k: v for k, v in state["answers"].items() if k not in forget}
    moved = {**state, "screen": previous, "page": 0, "answers": answers}
    return _show(menus, {**moved, "history": state["history"][:-1]}, sources)


def _pick(
    menus: Menus, state: dict[str, Any], screen: Screen, index: int, sources: Sources | None
) -> Step:
    if screen.type == "choice":
        option = screen.options[index]
        return _choose(menus, state, screen, option.sets, option.target, sources)
    assert screen.field and screen.target  # load guarantees both
    value = str(items(screen, sources)[index][0])
    return _choose(menus, state, screen, ((screen.field, value),), screen.target, sources)


def _choose(
    menus: Menus,
    state: dict[str, Any],
    screen: Screen,
    sets: tuple[tuple[str, str], ...],
    target: Target,
    sources: Sources | None,
) -> Step:
    answers = {**state["answers"], **dict(sets)}
    lang = dict(sets).get("lang", state["lang"])
    if target.resume == "continue":
        saved = _clean(menus, state.get("saved"))
        if saved is not None and menus.screens[saved["screen"]].type != "end":
            return _show(menus, saved, sources)
    if target.resume:  # start again, or a saved state this flow can no longer continue
        return start(menus, lang, sources)
    history = (state["history"] + [screen.id])[-HISTORY_MAX:]
    screen_id = target.then if target.action else target.goto
    moved = {"screen": screen_id, "page": 0, "lang": lang, "answers": answers, "history": history}
    if target.action:
        return Step("", True, moved, target.action, dict(answers))
    return _show(menus, moved, sources)
