"""Every text of every language, from menus/locales/<lang>.yaml: USSD screens, SMS templates
and the keywords people text. One catalog per language; `flask menus check` checks them all."""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache

from menus import engine


@cache
def texts() -> Mapping[str, Mapping[str, str]]:
    """language -> dotted key -> text, as checked by the menus loader (MenuError if broken)."""
    return engine.load().texts


def section(prefix: str) -> dict[str, dict[str, str]]:
    """language -> the texts under `prefix` (e.g. "sms.kind"), keyed by the rest of their key."""
    start = prefix + "."
    return {
        lang: {key[len(start) :]: text for key, text in t.items() if key.startswith(start)}
        for lang, t in texts().items()
    }
