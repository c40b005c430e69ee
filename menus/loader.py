"""Reading the menus: flow files and locale catalogs, every problem with its file and line."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from yaml.nodes import MappingNode, Node, SequenceNode

from gateway.yamlcheck import Pairs, Problem, Report
from gateway.yamlcheck import line as _line
from gateway.yamlcheck import text as _text
from menus.model import (
    BUILTIN_KEYS,
    LANGS,
    NAMED_SECTIONS,
    PLACEHOLDER,
    STATUS_KEYS,
    MenuError,
    Menus,
    Option,
    Screen,
    Target,
)

_TYPES = {  # screen type -> (required keys, optional keys)
    "choice": (("options",), ("title", "hint", "exit")),
    "list": (("title", "source", "set_field"), ("hint", "exit", "goto", "action", "then")),
    "input": (("title", "field", "min", "max"), ("hint", "exit", "goto", "action", "then")),
    "end": (("text",), ()),
}
_OPTION_KEYS = ("label", "set", "goto", "action", "then", "resume")
_NONE: tuple[Any, Any] = (None, None)


def read(
    flows_dir: Path, locales_dir: Path, actions: Sequence[str], fields: Sequence[str]
) -> Menus:
    """Return the menus in flows_dir/*.yaml and locales_dir/<lang>.yaml, or raise MenuError."""
    reader = _Reader(actions, fields)
    for path in sorted(flows_dir.glob("*.yaml")):
        reader.flow(path)
    texts = {lang: reader.locale(locales_dir / f"{lang}.yaml") for lang in LANGS}
    reader.cross_check(flows_dir, locales_dir, texts)
    if reader.report.problems:
        ordered = sorted(reader.report.problems, key=lambda p: (p.file, p.line or 0))
        raise MenuError([str(p) for p in ordered])
    plain = {lang: {key: text for key, (text, _) in (t or {}).items()} for lang, t in texts.items()}
    return Menus(reader.screens, plain, reader.starts[0][2])


class _Reader:
    def __init__(self, actions: Sequence[str], fields: Sequence[str]) -> None:
        self.actions, self.fields = tuple(actions), tuple(fields)
        self.report = Report()
        self.screens: dict[str, Screen] = {}
        self.where: dict[str, str] = {}  # screen id -> "file:line" of its definition
        self.starts: list[tuple[str, int, str]] = []  # (file, line, screen id)
        self.keys: list[tuple[str, int, str, bool]] = []  # (file, line, text key, is end text)
        self.links: list[tuple[str, int, str, str]] = []  # (file, line, goto|then, screen id)

    def bad(self, file: str | Path, at: Node | int | None, message: str) -> None:
        self.report.bad(file, at if at is not None else 1, message)

    def compose(self, path: Path) -> Node | None:
        return self.report.read(path)

    def pairs(self, file: str, node: Node | None, what: str, at: Node | None = None) -> Pairs:
        """Return key -> (key node, value node) of a mapping; report repeats and non-mappings."""
        return self.report.keys(file, node, what, what="", at=at)

    def unknown(self, file: str, found: Pairs, allowed: Sequence[str], what: str) -> None:
        for name, (key, _) in found.items():
            if name not in allowed:
                self.report.unknown(file, key, what, allowed, listed=True)

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

    def target(self, file: str, found: Pairs, what: str, at: Node) -> Target:
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
            self.report.problems.append(
                Problem(str(flows_dir), None, "no flow file says 'start: <first screen>'")
            )
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

        def filled(key: str) -> bool:  # a text whose {placeholders} the gateway fills
            return key in ends or key.startswith(NAMED_SECTIONS[0])

        shown = {key for *_, key, end in self.keys if not end} | set(BUILTIN_KEYS + STATUS_KEYS)
        for lang, t in usable.items():
            path = locales_dir / f"{lang}.yaml"
            for key in (k for k in BUILTIN_KEYS + STATUS_KEYS if k not in t):
                self.bad(path, 1, f"text '{key}' is missing (the engine needs it)")
            named = (k for k in usable.get(LANGS[0], {}) if k.startswith(NAMED_SECTIONS))
            for key in (k for k in named if k not in t):
                self.bad(path, 1, f"text '{key}' is missing ({LANGS[0]}.yaml has it)")
            for key, (text, line) in t.items():
                names, rest = PLACEHOLDER.findall(text), PLACEHOLDER.sub("", text)
                first = PLACEHOLDER.findall(usable.get(LANGS[0], {}).get(key, ("", 0))[0])
                if "{" in rest or "}" in rest:
                    self.bad(path, line, f"'{key}' has a brace that is not a {{name}} placeholder")
                elif names and key in shown:
                    why = "only end screens fill placeholders"
                    self.bad(path, line, f"'{key}' has {{{names[0]}}}, but {why}")
                elif filled(key) and lang != LANGS[0] and set(names) != set(first):
                    also = f"{LANGS[0]}.yaml has {sorted(first)}"
                    self.bad(path, line, f"'{key}' has placeholders {sorted(names)}, but {also}")
