"""The menu data: reading and checking the YAML, turning a screen into text, the budget check.

Page layout of a choice or list screen, one line each: the hint (only after an invalid input;
a note such as "again" takes its place), the title, this page's options as "N Label", "00 More"
(only when there is more than one page), "0 Exit" (the screen's own `exit` text on the language
picker, which must read in every language), "# Back" (only when there is a screen to go back
to, so never on the first screen). Pages are cut so that each still fits with the hint and back
lines shown, so the page an option is on never depends on whether a hint is displayed, and the
hinted screen fits its budget.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from gateway.text import fits_ussd, ussd_budget, ussd_length
from menus import languages

LANGS = languages.CODES
# Locale keys the engine itself shows or the service looks up, needed in every language.
BUILTIN_KEYS = ("exit", "hint", "again", "nav.exit", "nav.more", "nav.back")
STATUS_KEYS = ("status.open", "status.taken", "status.closed", "status.unknown")
# Placeholder values for check(), as long as real ones get, so that a passing check holds later.
SAMPLES = {"ref": "999999"}
SAMPLE_OTHER = "999999"
_PLACEHOLDER = re.compile(r"\{([A-Za-z_]\w*)\}")

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
    missing = [name for name in _PLACEHOLDER.findall(text) if name not in params]
    if missing:
        raise MenuError(f"end screen '{screen_id}' needs {', '.join(missing)}")
    return _PLACEHOLDER.sub(lambda m: str(params[m.group(1)]), text)


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


def pages(menus: Menus, screen: Screen, lang: str, sources: Sources | None) -> list[list[str]]:
    """Return the option lines of each page of a screen (one empty page for an input screen)."""
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
                names = _PLACEHOLDER.findall(word(menus, screen.title or "", lang))
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


# ----------------------------------------------------------------------------------------------
# Reading. Flows are read from yaml.compose nodes, not yaml.safe_load data, so that a problem
# names its file and line like a compiler would, and so that a text such as `no` stays text.

_TYPES = {  # screen type -> (required keys, optional keys)
    "choice": (("options",), ("title", "hint", "exit")),
    "list": (("title", "source", "set_field"), ("hint", "exit", "goto", "action", "then")),
    "input": (("title", "field", "min", "max"), ("hint", "exit", "goto", "action", "then")),
    "end": (("text",), ()),
}
_OPTION_KEYS = ("label", "set", "goto", "action", "then", "resume")
_NONE: tuple[Any, Any] = (None, None)


def _line(node: Node) -> int:
    return node.start_mark.line + 1


def _text(node: Node | None) -> str | None:
    return (node.value.strip() or None) if isinstance(node, ScalarNode) else None


def read(
    flows_dir: Path, locales_dir: Path, actions: Sequence[str], fields: Sequence[str]
) -> Menus:
    """Return the menus in flows_dir/*.yaml and locales_dir/<lang>.yaml, or raise MenuError."""
    reader = _Reader(actions, fields)
    for path in sorted(flows_dir.glob("*.yaml")):
        reader.flow(path)
    texts = {lang: reader.locale(locales_dir / f"{lang}.yaml") for lang in LANGS}
    reader.cross_check(flows_dir, locales_dir, texts)
    if reader.problems:
        ordered = sorted(reader.problems, key=lambda p: (p[0], p[1]))
        raise MenuError([f"{f}:{n}: {m}" if n else f"{f}: {m}" for f, n, m in ordered])
    plain = {lang: {key: text for key, (text, _) in (t or {}).items()} for lang, t in texts.items()}
    return Menus(reader.screens, plain, reader.starts[0][2])


class _Reader:
    def __init__(self, actions: Sequence[str], fields: Sequence[str]) -> None:
        self.actions, self.fields = tuple(actions), tuple(fields)
        self.problems: list[tuple[str, int, str]] = []  # (file, line or 0, message)
        self.screens: dict[str, Screen] = {}
        self.where: dict[str, str] = {}  # screen id -> "file:line" of its definition
        self.starts: list[tuple[str, int, str]] = []  # (file, line, screen id)
        self.keys: list[tuple[str, int, str, bool]] = []  # (file, line, text key, is end text)
        self.links: list[tuple[str, int, str, str]] = []  # (file, line, goto|then, screen id)

    def bad(self, file: str | Path, at: Node | int | None, message: str) -> None:
        line = _line(at) if isinstance(at, Node) else at or 1
        self.problems.append((str(file), line, message))

    def compose(self, path: Path) -> Node | None:
        text = ""
        try:
            text = path.read_text(encoding="utf-8-sig")  # -sig: Windows editors add a BOM
            root = yaml.compose(text, Loader=yaml.SafeLoader)
        except OSError as exc:
            self.problems.append((str(path), 0, f"cannot read: {exc.strerror or exc}"))
        except UnicodeDecodeError:
            self.bad(path, 1, "not UTF-8 text")
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            self.bad(path, mark and mark.line + 1, f"invalid YAML: {exc.problem or exc.context}")
        except yaml.reader.ReaderError as exc:  # a control character: a position, no mark
            self.bad(path, text.count("\n", 0, exc.position) + 1, f"invalid YAML: {exc.reason}")
        else:
            if root is None:
                self.bad(path, 1, "the file is empty")
            return root
        return None

    def pairs(
        self, file: str, node: Node | None, what: str, at: Node | None = None
    ) -> dict[str, tuple[Node, Node]]:
        """Return key -> (key node, value node) of a mapping; report repeats and non-mappings."""
        if not isinstance(node, MappingNode):
            self.bad(file, node or at, f"{what} must be a mapping")
            return {}
        found: dict[str, tuple[Node, Node]] = {}
        for key, value in node.value:
            name = _text(key) or "?"
            if name in found:
                first = _line(found[name][0])
                self.bad(file, key, f"{what} has '{name}' twice (first on line {first})")
            found.setdefault(name, (key, value))
        return found

    def unknown(
        self, file: str, found: dict[str, tuple[Node, Node]], allowed: Sequence[str], what: str
    ) -> None:
        expected = ", ".join(allowed)
        for name, (key, _) in found.items():
            if name not in allowed:
                self.bad(file, key, f"{what} has unknown field '{name}' (expected {expected})")

    def key(self, file: str, node: Node, end: bool = False) -> str:
        self.keys.append((file, _line(node), _text(node) or "", end))
        return _text(node) or ""

    def field(self, file: str, node: Node, what: str) -> str:
        name, expected = _text(node) or "", ", ".join(self.fields)
        if name not in self.fields:
            self.bad(file, node, f"{what} records unknown field '{name}' (expected {expected})")
        return name

    def flow(self, path: Path) -> None:
        file, root = str(path), self.compose(path)
        found = self.pairs(file, root, "a flow file") if root is not None else {}
        self.unknown(file, found, ("start", "screens"), "the flow file")
        if "start" in found:
            self.starts.append((file, _line(found["start"][1]), _text(found["start"][1]) or ""))
        if root is not None and "screens" not in found:
            self.bad(file, root, "the flow file has no 'screens'")
        screens = found.get("screens", _NONE)[1]
        for sid, (key, node) in self.pairs(file, screens, "'screens'").items() if screens else ():
            if sid in self.where:
                self.bad(file, key, f"screen '{sid}' is already defined at {self.where[sid]}")
                continue
            self.where[sid] = f"{file}:{_line(key)}"
            self.screen(file, sid, key, node)

    def screen(self, file: str, sid: str, key: Node, node: Node) -> None:
        what = f"screen '{sid}'"
        found = self.pairs(file, node, what, key)
        kind = _text(found.get("type", _NONE)[1])
        if kind not in _TYPES:
            shown, at = f"unknown type '{kind}'" if kind else "no type", found.get("type", _NONE)[1]
            self.bad(file, at or key, f"{what} has {shown} (expected {', '.join(_TYPES)})")
            return
        required, optional = _TYPES[kind]
        self.unknown(file, found, ("type", *required, *optional), what)
        for name in required:
            if name not in found:
                self.bad(file, key, f"{what} is missing '{name}'")

        def value(name: str) -> Node | None:
            return found.get(name, _NONE)[1]

        title = value("text" if kind == "end" else "title")
        field = value("set_field" if kind == "list" else "field")
        lo, hi = (self.digits(file, value(n), what, n) for n in ("min", "max"))
        if kind == "input" and lo > hi:
            self.bad(file, value("min"), f"{what} has min {lo} above max {hi}")
        self.screens[sid] = Screen(
            sid,
            kind,
            title=self.key(file, title, end=kind == "end") if title is not None else None,
            hint=self.key(file, value("hint")) if "hint" in found else "hint",
            exit=self.key(file, value("exit")) if "exit" in found else "nav.exit",
            options=self.options(file, what, value("options"), key) if kind == "choice" else (),
            source=_text(value("source")),
            field=self.field(file, field, what) if field is not None else None,
            target=self.target(file, found, what, key) if kind in ("list", "input") else None,
            min=lo,
            max=hi,
        )

    def digits(self, file: str, node: Node | None, what: str, name: str) -> int:
        text = _text(node)
        if node is not None and not (text and text.isascii() and text.isdigit() and int(text)):
            self.bad(file, node, f"{what} needs a whole number of at least 1 for '{name}'")
        return int(text) if text and text.isascii() and text.isdigit() else 1

    def options(self, file: str, what: str, node: Node | None, key: Node) -> tuple[Option, ...]:
        if not isinstance(node, SequenceNode) or not node.value:
            if node is not None:
                self.bad(file, node, f"{what} needs a list of options")
            return ()
        options = []
        for number, item in enumerate(node.value, 1):
            label = f"{what} option {number}"
            found = self.pairs(file, item, label)
            self.unknown(file, found, _OPTION_KEYS, label)
            if "label" not in found and found:
                self.bad(file, item, f"{label} has no 'label'")
            sets = []
            pairs = self.pairs(file, found["set"][1], f"{label} 'set'") if "set" in found else {}
            for name, (k, v) in pairs.items():
                self.field(file, k, label)
                if (value := _text(v)) is None or (name == "lang" and value not in LANGS):
                    self.bad(file, v, f"{label} sets '{name}' to an unknown value {value!r}")
                sets.append((name, value or ""))
            text = self.key(file, found["label"][1]) if "label" in found else ""
            options.append(Option(text, self.target(file, found, label, item), tuple(sets)))
        return tuple(options)

    def target(self, file: str, found: dict[str, tuple[Node, Node]], what: str, at: Node) -> Target:
        names = ("goto", "action", "then", "resume")
        goto, action, then, resume = (_text(found.get(n, _NONE)[1]) for n in names)
        if sum(n in found for n in ("goto", "action", "resume")) != 1:
            self.bad(file, at, f"{what} needs exactly one of 'goto' or 'action'")
        if action is not None and action not in self.actions:
            expected = ", ".join(self.actions)
            self.bad(
                file,
                found["action"][1],
                f"{what} has unknown action '{action}' (expected {expected})",
            )
        if (action is None) != (then is None):
            self.bad(file, at, f"{what}: an 'action' needs 'then' (its end screen), and only it")
        if "resume" in found and resume not in ("continue", "restart"):
            wanted = "expected continue or restart"
            self.bad(file, found["resume"][1], f"{what} has resume '{resume}' ({wanted})")
        for kind, sid in (("goto", goto), ("then", then)):
            if sid is not None:
                self.links.append((file, _line(found[kind][1]), kind, sid))
        return Target(goto, action, then, resume)

    def locale(self, path: Path) -> dict[str, tuple[str, int]] | None:
        """Return key -> (text, line), nested mappings giving dotted keys; None if unreadable."""
        root, texts = self.compose(path), {}
        if root is None:
            return None

        def walk(node: Node, prefix: str) -> None:
            for name, (_, value) in self.pairs(str(path), node, f"'{prefix[:-1]}'").items():
                if isinstance(value, MappingNode):
                    walk(value, f"{prefix}{name}.")
                elif (text := _text(value)) is None:
                    self.bad(path, value, f"'{prefix}{name}' must be text")
                else:
                    texts[prefix + name] = (text, _line(value))

        walk(root, "")
        return texts

    def cross_check(
        self,
        flows_dir: Path,
        locales_dir: Path,
        texts: dict[str, dict[str, tuple[str, int]] | None],
    ) -> None:
        """Report links to missing screens, missing texts and misused placeholders."""
        if not self.starts:
            self.problems.append((str(flows_dir), 0, "no flow file says 'start: <first screen>'"))
        for file, line, _ in self.starts[1:]:
            self.bad(file, line, f"a second 'start' (the first is in {self.starts[0][0]})")
        for file, line, sid in self.starts[:1]:
            if sid not in self.screens:
                self.bad(file, line, f"start at missing screen '{sid}'")
            elif self.screens[sid].type == "end":
                self.bad(file, line, f"start at end screen '{sid}'")
        for file, line, kind, sid in self.links:
            screen = self.screens.get(sid)
            if screen is None:
                self.bad(file, line, f"{kind} to missing screen '{sid}'")
            elif (kind == "then") != (screen.type == "end"):
                why = "only 'then', after an action, leads to an end screen"
                self.bad(file, line, f"{kind} to {screen.type} screen '{sid}' ({why})")
        usable = {lang: t for lang, t in texts.items() if t is not None}
        for file, line, key, _ in self.keys:
            if missing := [f"{lang}.yaml" for lang, t in usable.items() if key not in t]:
                self.bad(file, line, f"text '{key}' is missing in {', '.join(missing)}")
        ends = {key for *_, key, end in self.keys if end}
        shown = {key for *_, key, end in self.keys if not end} | set(BUILTIN_KEYS + STATUS_KEYS)
        for lang, t in usable.items():
            path = locales_dir / f"{lang}.yaml"
            for key in (k for k in BUILTIN_KEYS + STATUS_KEYS if k not in t):
                self.bad(path, 1, f"text '{key}' is missing (the engine needs it)")
            for key, (text, line) in t.items():
                names, rest = _PLACEHOLDER.findall(text), _PLACEHOLDER.sub("", text)
                first = _PLACEHOLDER.findall(usable.get(LANGS[0], {}).get(key, ("", 0))[0])
                if "{" in rest or "}" in rest:
                    self.bad(path, line, f"'{key}' has a brace that is not a {{name}} placeholder")
                elif names and key in shown:
                    why = "only end screens fill placeholders"
                    self.bad(path, line, f"'{key}' has {{{names[0]}}}, but {why}")
                elif key in ends and lang != LANGS[0] and set(names) != set(first):
                    also = f"{LANGS[0]}.yaml has {sorted(first)}"
                    self.bad(path, line, f"'{key}' has placeholders {sorted(names)}, but {also}")
