"""Turning a screen into text, and the budget check of every screen, page and language.

Page layout of a choice or list screen, one line each: the hint (only after an invalid input;
a note such as "again" takes its place), the title, this page's options as "N Label", "00 More"
(only when there is more than one page), "0 Exit" (the screen's own `exit` text on the language
picker, which must read in every language), "# Back" (only when there is a screen to go back
to, so never on the first screen). Pages are cut so that each still fits with the hint and back
lines shown, so the page an option is on never depends on whether a hint is displayed, and the
hinted screen fits its budget.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from gateway.text import fits_ussd, ussd_budget, ussd_length
from menus.model import (
    LANGS,
    PLACEHOLDER,
    SAMPLE_OTHER,
    SAMPLES,
    STATUS_KEYS,
    MenuError,
    Menus,
    Screen,
    Sources,
)


def word(menus: Menus, key: str, lang: str) -> str:
    """Return the text for a locale key in lang, e.g. the status word for "status.open"."""
    if lang not in menus.texts:
        raise MenuError(f"unknown language {lang!r} (expected one of {', '.join(LANGS)})")
    try:
        return menus.texts[lang][key]
    except KeyError:
        raise MenuError(f"no text '{key}' in language {lang}") from None


def render_end(menus: Menus, screen_id: str, lang: str, **params: Any) -> str:
    """Return the text of an end screen with its {placeholders} filled from params."""
    screen = menus.screens.get(screen_id)
    if screen is None or screen.type != "end":
        raise MenuError(f"'{screen_id}' is not an end screen")
    text = word(menus, screen.title or "", lang)
    missing = [name for name in PLACEHOLDER.findall(text) if name not in params]
    if missing:
        raise MenuError(f"end screen '{screen_id}' needs {', '.join(missing)}")
    return PLACEHOLDER.sub(lambda m: str(params[m.group(1)]), text)


def items(screen: Screen, sources: Sources | None) -> Sequence[tuple[str, Any]]:
    """Return the (value, labels by language) items of a list screen's source."""
    found = (sources or {}).get(screen.source or "")
    if found is None:
        raise MenuError(f"screen '{screen.id}' needs the source '{screen.source}'")
    return found


def option_count(screen: Screen, sources: Sources | None) -> int:
    """Return how many options a choice or list screen offers."""
    return len(screen.options) if screen.type == "choice" else len(items(screen, sources))


def _label(labels: Mapping[str, str] | str, lang: str) -> str:
    # A district added in a hurry may lack a language: English, then any name, beats a crash.
    if not isinstance(labels, str):
        labels = labels.get(lang) or labels.get("en") or next(iter(labels.values()), "?")
    return " ".join(labels.split())  # a stray newline in a name would look like an option


def _compose(
    menus: Menus,
    screen: Screen,
    lang: str,
    body: list[str],
    *,
    more: bool,
    hint: bool,
    back: bool,
    note: str | None = None,
) -> str:
    lines = [word(menus, note, lang)] if note else [word(menus, screen.hint, lang)] if hint else []
    lines += [word(menus, screen.title, lang)] if screen.title else []
    lines += body + ([word(menus, "nav.more", lang)] if more else [])
    lines.append(word(menus, screen.exit, lang))
    lines += [word(menus, "nav.back", lang)] if back else []
    return "\n".join(lines)


# pages() of the screens shown lately: the cut is the same for the same menus, sources, screen
# and language, and finding it measures the screen's text again and again. Keyed by identity;
# the value keeps the menus and sources alive, so an id is not reused while its entry stands.
_CUT: dict[tuple[int, int, str, str], tuple[Menus, Sources | None, list[list[str]]]] = {}
_CUT_MAX = 512


def pages(menus: Menus, screen: Screen, lang: str, sources: Sources | None) -> list[list[str]]:
    """Return the option lines of each page of a screen (one empty page for an input screen)."""
    key = (id(menus), id(sources), screen.id, lang)
    found = _CUT.get(key)
    if found is not None and found[0] is menus and found[1] is sources:
        return [list(page) for page in found[2]]
    cut = _pages(menus, screen, lang, sources)
    if len(_CUT) >= _CUT_MAX:
        _CUT.clear()
    _CUT[key] = (menus, sources, cut)
    return [list(page) for page in cut]


def _pages(menus: Menus, screen: Screen, lang: str, sources: Sources | None) -> list[list[str]]:
    if screen.type == "choice":
        labels = [word(menus, option.label, lang) for option in screen.options]
    elif screen.type == "list":
        labels = [_label(labels, lang) for _, labels in items(screen, sources)]
    else:
        return [[]]
    lines = [f"{number} {label}" for number, label in enumerate(labels, 1)]
    back = screen.id != menus.start  # nothing comes before the first screen

    def fits(body: list[str], more: bool) -> bool:
        return fits_ussd(_compose(menus, screen, lang, body, more=more, hint=True, back=back))

    if fits(lines, more=False):
        return [lines]
    cut: list[list[str]] = []
    while lines:
        size = 1  # at least one option a page, even one too long: check() reports that page
        while size < len(lines) and fits(lines[: size + 1], more=True):
            size += 1
        cut.append(lines[:size])
        lines = lines[size:]
    return cut


def render(
    menus: Menus,
    screen: Screen,
    lang: str,
    sources: Sources | None,
    page: int = 0,
    *,
    hint: bool = False,
    back: bool = False,
    note: str | None = None,
) -> str:
    """Return the text of one page of a choice, list or input screen; note, a locale key, is
    shown in the hint's place."""
    cut = pages(menus, screen, lang, sources)
    body = cut[min(page, len(cut) - 1)]
    more = len(cut) > 1
    return _compose(menus, screen, lang, body, more=more, hint=hint, back=back, note=note)


def budget_problem(text: str, lang: str, where: str) -> str | None:
    """Return why text is over its USSD budget, or None when it fits."""
    if fits_ussd(text):
        return None
    length, budget = ussd_length(text), ussd_budget(text)
    kind = "UCS-2" if budget < ussd_budget("") else "GSM-7"
    return f"{lang}: {where}: {length} characters, budget {budget} ({kind})"


def check(
    menus: Menus,
    sources: Sources | None,
    samples: Mapping[str, str] | None = None,
) -> list[str]:
    """Return one line per screen, page and language that is over its USSD budget; [] if none."""
    problems: list[str] = []

    def measure(text: str, lang: str, where: str) -> None:
        if found := budget_problem(text, lang, where):
            problems.append(found)

    for lang in LANGS:
        status = max((word(menus, key, lang) for key in STATUS_KEYS), key=len)
        filled = {"status_word": status, **SAMPLES, **(samples or {})}
        for sid, screen in menus.screens.items():
            if screen.type == "end":
                names = PLACEHOLDER.findall(word(menus, screen.title or "", lang))
                values = {name: filled.get(name, SAMPLE_OTHER) for name in names}
                measure(render_end(menus, sid, lang, **values), lang, f"screen '{sid}'")
                continue
            count = len(pages(menus, screen, lang, sources))
            back = sid != menus.start  # nothing comes before the first screen
            for page in range(count):
                text = render(menus, screen, lang, sources, page, hint=True, back=back)
                measure(text, lang, f"screen '{sid}' page {page + 1} of {count} with hint")
        measure(word(menus, "exit", lang), lang, "exit text")
    return problems
