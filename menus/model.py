"""The menu model: screens, options and where they lead, and the texts of every language."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

from menus import languages

LANGS = languages.CODES
# Locale keys the engine itself shows or the service looks up, needed in every language.
BUILTIN_KEYS = ("exit", "hint", "again", "nav.exit", "nav.more", "nav.back")
# Texts the gateway looks up by name rather than through a flow: the SMS it sends (their
# placeholders are filled like an end screen's) and the words people text. Every language
# must have every one that the first language has.
NAMED_SECTIONS = ("messages.", "keywords.")
STATUS_KEYS = ("status.open", "status.taken", "status.closed", "status.unknown")
# Placeholder values for check(), as long as real ones get, so that a passing check holds later.
SAMPLES = {"ref": "999999"}
SAMPLE_OTHER = "999999"
PLACEHOLDER = re.compile(r"\{([A-Za-z_]\w*)\}")

Sources = Mapping[str, Sequence[tuple[str, Mapping[str, str] | str]]]


class MenuError(ValueError):
    """The menus cannot be used as written, or were called wrongly; one problem per line."""

    def __init__(self, problems: Sequence[str] | str) -> None:
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("\n".join(self.problems))


@dataclass(frozen=True)
class Target:
    """Where an answer leads: a screen, an action and then an end screen, or a resume choice."""

    goto: str | None = None
    action: str | None = None
    then: str | None = None  # the end screen the service renders after running the action
    resume: str | None = None  # "continue" or "restart", on the resume screen


@dataclass(frozen=True)
class Option:
    label: str  # locale key
    target: Target
    sets: tuple[tuple[str, str], ...] = ()  # answers recorded when this option is chosen


@dataclass(frozen=True)
class Screen:
    id: str
    type: str  # choice | list | input | end
    title: str | None = None  # locale key; for an end screen, its text
    hint: str = "hint"  # locale key of the line shown after an invalid input
    exit: str = "nav.exit"  # locale key of the "0 Exit" line
    options: tuple[Option, ...] = ()
    source: str | None = None  # list: name of the dynamic source given at call time
    field: str | None = None  # list: set_field; input: field
    target: Target | None = None  # list and input: where the answer leads
    min: int = 1  # input: fewest and most digits
    max: int = 1

    def fields(self) -> frozenset[str]:
        """Return the answer fields this screen records (going back to it forgets them)."""
        sets = {name for option in self.options for name, _ in option.sets}
        return frozenset(sets | ({self.field} if self.field else set()))


@dataclass(frozen=True)
class Menus:
    """Screens by id, texts by language and key, and the id of the first screen."""

    screens: Mapping[str, Screen]
    texts: Mapping[str, Mapping[str, str]]
    start: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "screens", MappingProxyType(dict(self.screens)))
        texts = {lang: MappingProxyType(dict(t)) for lang, t in self.texts.items()}
        object.__setattr__(self, "texts", MappingProxyType(texts))
