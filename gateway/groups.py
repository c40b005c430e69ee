"""What a mutual aid group may be sent: approved templates only (a meeting, a change, a
cancellation, a course), each one SMS segment in every language and free of the words that must
never reach a member's phone; the days they name; free text for admins, checked against the
same words; and the hours a member may receive in. Stdlib and the catalogs only.

A member's phone may be read by others: every text here is one a relative could read without
harm. The texts are in each language's catalog (menus/locales/<lang>.yaml, under `group`)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from gateway.cases import LOCAL_UTC_OFFSET
from gateway.text import fold, measure
from menus import catalog, languages

TEMPLATES = ("meeting", "changed", "cancelled", "course")
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
FREE = "free"  # an admin's own words, checked against NEVER
FREE_MAX = 160  # characters of free text (one segment in GSM-7; fewer in Cyrillic)
# The purposes of messages to members: a broadcast, and the one confirmation of joining. Each
# goes only while its recipient is still a member of the group.
BROADCAST, JOINED = "broadcast", "group_joined"
TO_MEMBERS = (BROADCAST, JOINED)
_TIME = re.compile(r"^([01]?\d|2[0-3])[:.]([0-5]\d)$")

_TEXTS = catalog.section("group")
DAY_NAMES = catalog.section("day")
# Words no group message may hold, in every language (folded), whichever language it is in.
NEVER = frozenset(fold(w) for t in _TEXTS.values() for w in t["never"].split())


class GroupError(ValueError):
    """A group message cannot be sent as asked (the message says why)."""


@dataclass(frozen=True)
class Draft:
    """What a coordinator asks to send: a template and its day and time, or an admin's text."""

    template: str
    day: str = ""
    time: str = ""
    text: str = ""  # FREE only


def draft(template: str, day: str = "", at: str = "", text: str = "", extra=()) -> Draft:
    """A checked draft; GroupError names what is wrong. `extra`: more words that must never
    appear (the organisations' names)."""
    if template == FREE:
        words = " ".join(text.split())
        if not words:
            raise GroupError("write the message")
        if len(words) > FREE_MAX:
            raise GroupError(f"a message is at most {FREE_MAX} characters")
        found = forbidden(words, extra)
        if found:
            raise GroupError(f"a group message must not name: {', '.join(found)}")
        return Draft(FREE, text=words)
    if template not in TEMPLATES:
        raise GroupError(f"template {template!r} is not one of {', '.join((*TEMPLATES, FREE))}")
    if day not in DAYS:
        raise GroupError(f"day {day!r} is not one of {', '.join(DAYS)}")
    if template == "cancelled":
        return Draft(template, day)
    if not (time := clock_time(at)):
        raise GroupError("time is HH:MM, e.g. 14:00")
    return Draft(template, day, time)


def clock_time(text: str) -> str:
    """A time of day as HH:MM ("9.30" is "09:30"), or '' when it is none."""
    found = _TIME.match(text.strip())
    return f"{int(found[1]):02d}:{found[2]}" if found else ""


def render(item: Draft, lang: str) -> str:
    """The draft as one member reads it, in her language."""
    lang = languages.or_default(lang)
    if item.template == FREE:
        return item.text
    return _TEXTS[lang][item.template].format(day=DAY_NAMES[lang][item.day], time=item.time)


def confirmation(lang: str) -> str:
    """The one confirmation of joining, in her language."""
    return _TEXTS[languages.or_default(lang)]["joined"]


def forbidden(text: str, extra=()) -> list[str]:
    """The words of NEVER (and `extra`) that the text holds, folded and sorted. A word of four
    letters or more also matches its inflections ("приют" in "приюте")."""
    words = re.findall(r"[\w']+", fold(text))
    never = NEVER | {fold(w) for phrase in extra for w in phrase.split()}
    return sorted({n for w in words for n in never if w == n or (len(n) >= 4 and w.startswith(n))})


def problems() -> list[str]:
    """Every template in every language: one segment, with the longest day name, and free of
    NEVER; what `flask menus check` reports."""
    found = []
    for lang in languages.CODES:
        longest = max(DAYS, key=lambda d: len(DAY_NAMES[lang][d]))
        for name in (*TEMPLATES, "joined"):
            body = _TEXTS[lang][name]
            if name in TEMPLATES:
                body = render(Draft(name, longest, "23:59"), lang)
            if measure(body).segments > 1:
                found.append(f"group.{name} ({lang}) needs {measure(body).segments} segments")
            if held := forbidden(body):
                found.append(f"group.{name} ({lang}) holds {', '.join(held)}")
    return found


def next_window(now: float, hours: tuple[int, ...]) -> float:
    """When a member may next receive (now if within the group's local hours, UTC+5)."""
    local = now + LOCAL_UTC_OFFSET
    day = local - local % 86400
    start, end = day + hours[0] * 3600, day + hours[1] * 3600
    if start <= local < end:
        return now
    return (start if local < start else start + 86400) - LOCAL_UTC_OFFSET
