"""Reading YAML that people edit by hand: every problem with its file and line, like a compiler.

Menus, locale catalogs and the directory are read from ``yaml.compose`` nodes rather than
``yaml.safe_load`` data, so that a problem names the line of the entry or field it is about, a
repeated key is reported rather than silently overwritten, and a text such as ``no`` stays text.
One `Report` collects every problem of a file so that an editor sees them all at once.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode

BAD: Any = object()  # what a check returns after reporting its problem
Pairs = dict[str, tuple[Node, Node]]  # key -> (key node, value node)
_CONSTRUCTOR = SafeConstructor()


@dataclass(frozen=True)
class Problem:
    file: str
    line: int | None  # None when the file could not be read at all
    message: str

    def __str__(self) -> str:
        return f"{self.file}{'' if self.line is None else f':{self.line}'}: {self.message}"


def line(node: Node) -> int:
    return node.start_mark.line + 1


def text(node: Node | None) -> str | None:
    """A scalar's text, stripped; None for an empty scalar, a mapping or a list."""
    return (node.value.strip() or None) if isinstance(node, ScalarNode) else None


def scalar(node: Node) -> Any:
    """Return the value yaml.safe_load would give a scalar node, or BAD."""
    construct = SafeConstructor.yaml_constructors.get(node.tag)
    if not isinstance(node, ScalarNode) or construct is None:
        return BAD
    try:
        return construct(_CONSTRUCTOR, node)
    except Exception:  # an explicit tag such as `!!int abc` can break any constructor
        return BAD


def describe(node: Node) -> str:
    """What a node is, in the words of a problem: "a mapping", "a list", "a number"…"""
    if not isinstance(node, ScalarNode):
        return "a mapping" if isinstance(node, MappingNode) else "a list"
    kinds = {bool: "true/false", int: "a number", float: "a decimal number", str: "text"}
    return kinds.get(type(scalar(node)), f"a {node.tag.rsplit(':', 1)[-1]} value")


def compose(path: str | Path) -> tuple[Node | None, bytes, Problem | None]:
    """Return (root node, the file's bytes, None), or (None, bytes read, the problem)."""
    file = str(path)
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        reason = "no such file" if isinstance(exc, FileNotFoundError) else exc.strerror
        return None, b"", Problem(file, None, f"cannot read: {reason or exc}")
    content = ""
    try:
        content = data.decode("utf-8-sig")  # -sig: editors on Windows start files with a BOM
        return yaml.compose(content, Loader=yaml.SafeLoader), data, None
    except UnicodeDecodeError as exc:
        return None, data, Problem(file, data.count(b"\n", 0, exc.start) + 1, "not UTF-8 text")
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        message = f"invalid YAML: {exc.problem or exc.context}"
        if exc.problem and exc.context and exc.context_mark:  # where the unfinished part began
            message += f" ({exc.context} on line {exc.context_mark.line + 1})"
        return None, data, Problem(file, mark and mark.line + 1, message)
    except yaml.reader.ReaderError as exc:  # a control character: a position but no mark
        where = content.count("\n", 0, exc.position) + 1
        return (
            None,
            data,
            Problem(file, where, f"invalid YAML: {exc.reason} (#x{exc.character:04x})"),
        )


class Report:
    """The problems found so far, and the checks every hand-edited YAML file needs.

    `redact` rewrites each message before it is kept (the directory masks anything that looks
    like a phone number typed into the wrong field).
    """

    def __init__(self, redact: Callable[[str], str] | None = None) -> None:
        self.problems: list[Problem] = []
        self.redact = redact

    def bad(self, file: str | Path, where: Node | int | None, message: str) -> Any:
        """Report a problem at a node or a line (None: the whole file); return BAD."""
        at = line(where) if isinstance(where, Node) else where
        message = self.redact(message) if self.redact else message
        self.problems.append(Problem(str(file), at, message))
        return BAD

    def read(self, path: str | Path) -> Node | None:
        """The root node of a file, or None after reporting why it cannot be read or is empty."""
        root, _, problem = compose(path)
        if problem:
            self.problems.append(problem)
        elif root is None:
            self.bad(path, 1, "the file is empty")
        return root

    def keys(
        self,
        file: str | Path,
        node: Node | None,
        label: str,
        allowed: Iterable[str] | None = None,
        *,
        what: str = "field",
        where: str = "",
        listed: bool = False,
        at: Node | None = None,
    ) -> Pairs:
        """Return name -> (key node, value node) of a mapping's keys.

        Reports a node that is not a mapping, a key given twice (naming it as `what` when that
        is not empty) and, when `allowed` is given, an unknown key (see `unknown`).
        """
        if not isinstance(node, MappingNode):
            self.bad(file, node or at, f"{label} must be a mapping")
            return {}
        names = tuple(allowed) if allowed is not None else None
        found: Pairs = {}
        for key, value in node.value:
            name = str(key.value).strip() if isinstance(key, ScalarNode) else describe(key)
            name = name or "?"
            if name in found:
                first = line(found[name][0])
                said = f"{what} '{name}'" if what else f"'{name}'"
                self.bad(file, key, f"{label} has {said} twice{where} (first on line {first})")
            elif names is not None and name not in names:
                self.unknown(file, key, label, names, what=what, where=where, listed=listed)
            else:
                found[name] = (key, value)
        return found

    def unknown(
        self,
        file: str | Path,
        key: Node,
        label: str,
        allowed: Iterable[str],
        *,
        what: str = "field",
        where: str = "",
        listed: bool = False,
    ) -> None:
        """Report a key that is not allowed: "did you mean" for a near miss, else (if `listed`)
        the keys that are."""
        names = tuple(allowed)
        name = text(key) or describe(key)
        close = difflib.get_close_matches(name, names, n=1)  # typos are the usual cause
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        hint = hint or (f" (expected {', '.join(names)})" if listed else "")
        self.bad(file, key, f"{label} has unknown {what or 'field'} '{name}'{where}{hint}")
