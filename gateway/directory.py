"""The directory of organisations, districts and responders, loaded from YAML and checked.

Coordinators edit the directory by hand, so `load` reports every problem at once, each as
FILE:LINE: message, and never shows more of a phone number than its masked form.
"""

from __future__ import annotations

import difflib
import hashlib
import os
import re
from collections.abc import Callable, Iterable
from copy import copy
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from gateway.phone import PhoneError, mask, normalise
from menus import languages

LANGUAGES = languages.CODES
ROLES = ("group", "mahalla", "police", "duty")


@dataclass(frozen=True)
class Organisation:
    id: str
    name: str
    duty_officer: str  # id of a responder with role "duty"
    default_district: str | None
    code_words: dict[str, tuple[str, ...]]  # language -> ordinary-looking phrases that mean help
    numbers: tuple[str, ...] = ()  # our inbound numbers (E.164) that women of this org text


@dataclass(frozen=True)
class District:
    id: str
    names: dict[str, str]  # a name in every one of LANGUAGES
    organisation: str
    mahallas: tuple[str, ...]


@dataclass(frozen=True)
class Responder:
    id: str
    name: str
    phone: str = field(repr=False)  # E.164; out of repr so logging a responder cannot leak it
    role: str  # one of ROLES
    tier: int  # 1 is alerted first
    languages: tuple[str, ...]
    districts: tuple[str, ...]  # may be empty for a duty officer


@dataclass(frozen=True)
class Directory:
    organisations: dict[str, Organisation]
    districts: dict[str, District]
    responders: dict[str, Responder]
    version: str  # first 12 hex digits of the file's sha256: which directory an alert came from

    def responders_for(
        self, district_id: str, roles: Iterable[str] | None = None, tier: int | None = None
    ) -> list[Responder]:
        """Return the responders listing the district, narrowed to roles and tier, in file order."""
        wanted = None if roles is None else {roles} if isinstance(roles, str) else set(roles)
        return [
            r
            for r in self.responders.values()
            if district_id in r.districts
            and (wanted is None or r.role in wanted)
            and (tier is None or r.tier == tier)
        ]

    def tiers(self, district_id: str) -> list[int]:
        """Return the district's escalation tiers in order; its duty officer follows the last."""
        return sorted({r.tier for r in self.responders_for(district_id) if r.role != "duty"})

    def duty_officer_for(self, district_id: str) -> Responder | None:
        """Return the duty officer of the organisation serving the district, None if unknown."""
        district = self.districts.get(district_id)
        if district is None:
            return None
        return self.responders[self.organisations[district.organisation].duty_officer]

    def by_phone(self, e164: str) -> Responder | None:
        """Return the responder with this E.164 phone number, or None."""
        return next((r for r in self.responders.values() if r.phone == e164), None)

    def district_names(self, lang: str) -> list[tuple[str, str]]:
        """Return (district id, name in lang) for every district, in file order."""
        if lang not in LANGUAGES:
            raise ValueError(f"unknown language {lang!r}; expected one of {', '.join(LANGUAGES)}")
        return [(d.id, d.names[lang]) for d in self.districts.values()]


@dataclass(frozen=True)
class Problem:
    file: str
    line: int | None  # None when the file could not be read at all
    message: str

    def __str__(self) -> str:
        return f"{self.file}{'' if self.line is None else f':{self.line}'}: {self.message}"


class DirectoryError(ValueError):
    """The directory cannot be used; `problems` lists every reason, one per line of str()."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


def load(path: str | os.PathLike[str]) -> Directory:
    """Return the directory in the YAML file at path, or raise DirectoryError with every problem."""
    file = str(path)
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        reason = "no such file" if isinstance(exc, FileNotFoundError) else exc.strerror
        raise _error(file, None, f"cannot read: {reason}") from None
    try:
        text = data.decode("utf-8-sig")  # -sig: editors on Windows start files with a BOM
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except UnicodeDecodeError as exc:
        raise _error(file, data.count(b"\n", 0, exc.start) + 1, "not UTF-8 text") from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        message = f"invalid YAML: {exc.problem or exc.context}"
        if exc.problem and exc.context and exc.context_mark:  # where the unfinished part began
            message += f" ({exc.context} on line {exc.context_mark.line + 1})"
        raise _error(file, mark and mark.line + 1, message) from None
    except yaml.reader.ReaderError as exc:  # a control character: a position but no mark
        line = text.count("\n", 0, exc.position) + 1
        raise _error(file, line, f"invalid YAML: {exc.reason} (#x{exc.character:04x})") from None
    checker = _Checker(file)
    entries = checker.run(root)
    if checker.problems or entries is None:
        raise DirectoryError(sorted(checker.problems, key=lambda p: p.line or 0))
    made = [{e.values["id"]: e.build(cls) for e in entries[cls]} for cls in _SECTIONS.values()]
    return Directory(*made, version=hashlib.sha256(data).hexdigest()[:12])


def _error(file: str, line: int | None, message: str) -> DirectoryError:
    return DirectoryError([Problem(file, line, message)])


# ----------------------------------------------------------------------------------------------
# Checking. Values are read from yaml.compose nodes rather than from yaml.safe_load data so that
# every problem can name the line of the entry or field it is about.

_SECTIONS = {"organisations": Organisation, "districts": District, "responders": Responder}
_OPTIONAL = {
    "default_district": None,
    "code_words": {},
    "mahallas": (),
    "districts": (),
    "numbers": (),
}
_LISTS = ("list", "mahallas", "districts", "languages")  # fields that are lists of text
_LANGS, _ROLES = (f"one of {', '.join(names)}" for names in (LANGUAGES, ROLES))
_DIGIT_RUN = re.compile(r"\+?\d(?:[\s().-]?\d){6,}")  # long enough to be a phone number
_BAD: Any = object()  # what a check returns after reporting its problem
_CONSTRUCTOR = SafeConstructor()


def _line(node: Node) -> int:
    return node.start_mark.line + 1


def _scalar(node: Node) -> Any:
    """Return the value yaml.safe_load would give a scalar node, or _BAD."""
    construct = SafeConstructor.yaml_constructors.get(node.tag)
    if not isinstance(node, ScalarNode) or construct is None:
        return _BAD
    try:
        return construct(_CONSTRUCTOR, node)
    except Exception:  # an explicit tag such as `!!int abc` can break any constructor
        return _BAD


def _describe(node: Node) -> str:
    if not isinstance(node, ScalarNode):
        return "a mapping" if isinstance(node, MappingNode) else "a list"
    kinds = {bool: "true/false", int: "a number", float: "a decimal number", str: "text"}
    return kinds.get(type(_scalar(node)), f"a {node.tag.rsplit(':', 1)[-1]} value")


class _Entry:
    """One organisation, district or responder as far as it could be read."""

    def __init__(self, checker: _Checker, label: str, line: int) -> None:
        self.checker, self.label, self.line = checker, label, line
        self.at: dict[str, int] = {}  # field -> line of its key
        self.values: dict[str, Any] = {}  # only fields that passed their checks
        self.items: dict[str, tuple[int, ...]] = {}  # list field -> line of each good item

    def bad(self, where: Node | int | str, message: str) -> Any:
        """Report a problem with this entry at a node, a line, or a field's key; return _BAD."""
        where = self.at[where] if isinstance(where, str) else where
        return self.checker.bad(where, f"{self.label} {message}")

    def build(self, cls: type) -> Any:
        names = [f.name for f in fields(cls)]
        return cls(**{n: self.values.get(n, copy(_OPTIONAL.get(n))) for n in names})


class _Checker:
    def __init__(self, file: str) -> None:
        self.file = file
        self.problems: list[Problem] = []

    def bad(self, where: Node | int, message: str) -> Any:
        line = where if isinstance(where, int) else _line(where)
        # Any value can be a phone number typed into the wrong field: messages show it masked.
        message = _DIGIT_RUN.sub(lambda m: mask(m.group()), message)
        self.problems.append(Problem(self.file, line, message))
        return _BAD

    def keys(self, node: MappingNode, label: str, allowed: Iterable[str], what: str = "field",
             where: str = "") -> dict[str, tuple[Node, Node]]:  # fmt: skip
        """Return name -> (key node, value node) for the allowed keys, reporting the others."""
        allowed, found = tuple(allowed), {}
        for key, value in node.value:
            name = str(key.value) if isinstance(key, ScalarNode) else _describe(key)
            if name in found:
                first = _line(found[name][0])
                self.bad(key, f"{label} has {what} '{name}' twice{where} (first on line {first})")
            elif name not in allowed:
                close = difflib.get_close_matches(name, allowed, n=1)  # typos are the usual cause
                hint = f" (did you mean '{close[0]}'?)" if close else ""
                self.bad(key, f"{label} has unknown {what} '{name}'{where}{hint}")
            else:
                found[name] = (key, value)
        return found

    def value(self, e: _Entry, name: str, node: Node, how: str = "", what: str = "") -> Any:
        """Return the checked value of a field, or _BAD after reporting why it is unusable."""
        how, what = how or name, what or f"for '{name}'"
        if how == "phone" and isinstance(node, ScalarNode):
            raw = node.value  # as written, so an unquoted +992... keeps its plus sign
            try:
                return normalise(raw)
            except PhoneError as exc:
                return e.bad(node, f"has an invalid phone {mask(raw)}: {exc}")
        if how == "tier":
            value = _scalar(node)
            if type(value) is int and value >= 1:  # not isinstance: YAML's yes/no are bools
                return value
            shown = value if type(value) is int else _describe(node)
            return e.bad(node, f"has {shown} for 'tier', expected a whole number of at least 1")
        if how in ("names", "code_words"):
            if not isinstance(node, MappingNode):
                return e.bad(node, f"has {_describe(node)} {what}, expected a mapping of languages")
            found = self.keys(node, e.label, LANGUAGES, "language", f" in '{name}'")
            missing = [lang for lang in LANGUAGES if lang not in found]
            if how == "names" and missing:
                e.bad(name, f"has no name in {', '.join(missing)}")
            each = "text" if how == "names" else "list"
            checked = {k: self.value(e, f"{name}.{k}", v, each) for k, (_, v) in found.items()}
            return {k: value for k, value in checked.items() if value is not _BAD}
        if how == "numbers":
            if not isinstance(node, SequenceNode):
                return e.bad(node, f"has {_describe(node)} {what}, expected a list of phones")
            phones = [self.value(e, name, item, "phone") for item in node.value]
            return tuple(p for p in phones if p is not _BAD)
        if how in _LISTS:
            if not isinstance(node, SequenceNode):
                return e.bad(node, f"has {_describe(node)} {what}, expected a list")
            if how == "languages" and not node.value:
                return e.bad(node, "lists no languages")
            good = []
            for item in node.value:
                value = self.value(e, name, item, "text", f"in '{name}'")
                if value is not _BAD and how == "languages" and value not in LANGUAGES:
                    e.bad(item, f"lists unknown language '{value}', expected {_LANGS}")
                elif value is not _BAD:
                    good.append((value, _line(item)))
            e.items[name] = tuple(line for _, line in good)
            return tuple(value for value, _ in good)
        value = _scalar(node)  # text, a role, or a phone that is a list or mapping
        if value is None or (isinstance(value, str) and not value.strip()):
            return e.bad(node, f"has an empty value {what}")
        if not isinstance(value, str):
            return e.bad(node, f"has {_describe(node)} {what}, expected text")
        if how == "role" and value.strip() not in ROLES:
            return e.bad(node, f"has unknown role '{value.strip()}', expected {_ROLES}")
        return value.strip()

    def entry(self, cls: type, index: int, node: MappingNode) -> _Entry:
        kind = cls.__name__.lower()
        ident = next((_scalar(v) for k, v in node.value if _scalar(k) == "id"), None)
        named = isinstance(ident, str) and ident.strip()
        e = _Entry(self, f"{kind} {ident.strip()}" if named else f"{kind} #{index}", _line(node))
        found = self.keys(node, e.label, [f.name for f in fields(cls)])
        for name in (f.name for f in fields(cls)):
            key, value = found.get(name, (node, None))
            if value is None or _scalar(value) is None:  # absent, or present with nothing after it
                if name not in _OPTIONAL:
                    e.bad(key, f"is missing '{name}'")
                continue
            e.at[name] = _line(key)
            checked = self.value(e, name, value)
            if checked is not _BAD:
                e.values[name] = checked
        return e

    def run(self, root: Node | None) -> dict[type, list[_Entry]] | None:
        """Return the entries of each kind, having reported every problem found in them."""
        if not isinstance(root, MappingNode):
            shape = "the file is empty" if root is None else f"not {_describe(root)}"
            wanted = "expected a mapping with 'organisations', 'districts' and 'responders'"
            self.bad(1 if root is None else root, f"{wanted}; {shape}")
            return None
        found = self.keys(root, "the file", _SECTIONS, "section")
        entries: dict[type, list[_Entry]] = {}
        for section, cls in _SECTIONS.items():
            node = found.get(section, (None, None))[1]
            entries[cls] = []
            if node is None:
                self.bad(root, f"the file has no '{section}' section")
            elif not isinstance(node, SequenceNode) and _scalar(node) is not None:
                self.bad(node, f"'{section}' must be a list, not {_describe(node)}")
            for index, item in enumerate(node.value if isinstance(node, SequenceNode) else (), 1):
                if isinstance(item, MappingNode):
                    entries[cls].append(self.entry(cls, index, item))
                else:
                    self.bad(item, f"'{section}' item #{index} is {_describe(item)}, not a mapping")
        self.cross_check(*entries.values())
        return entries

    def unique(self, entries: list[_Entry]) -> dict[str, _Entry]:
        seen: dict[str, _Entry] = {}
        for e in entries:
            ident = e.values.get("id")
            if ident in seen:
                kind = e.label.split()[0]
                first = seen[ident].line
                self.bad(e.at["id"], f"duplicate {kind} id '{ident}' (first on line {first})")
            elif ident is not None:
                seen[ident] = e
        return seen

    def cross_check(self, orgs: list[_Entry], dists: list[_Entry], resps: list[_Entry]) -> None:
        """Report unknown references, duplicates, and districts nobody could be alerted for."""
        org, dist, resp = self.unique(orgs), self.unique(dists), self.unique(resps)
        for e in dists:
            if (owner := e.values.get("organisation")) is not None and owner not in org:
                e.bad("organisation", f"belongs to unknown organisation '{owner}'")
        for e in orgs:
            officer_id = e.values.get("duty_officer")
            officer = resp.get(officer_id) if officer_id is not None else None
            if officer_id is not None and officer is None:
                e.bad("duty_officer", f"has duty officer '{officer_id}', who is not a responder")
            elif officer and (role := officer.values.get("role", "duty")) != "duty":
                e.bad(
                    "duty_officer",
                    f"has duty officer '{officer_id}' whose role is '{role}', not 'duty'",
                )
            if (default := e.values.get("default_district")) is not None and default not in dist:
                e.bad("default_district", f"has unknown default district '{default}'")
        phones: dict[str, _Entry] = {}
        ladders: dict[str, set[int]] = {d: set() for d in dist}
        unsure: set[str] = set()  # districts with a broken responder, where a tier gap is noise
        for e in resps:
            role = e.values.get("role")
            lines = e.items.get("districts", ())
            for d, line in zip(e.values.get("districts", ()), lines, strict=True):
                if d not in dist:
                    e.bad(line, f"lists unknown district '{d}'")
                elif role is None or "tier" not in e.values:
                    unsure.add(d)
                elif role != "duty":  # the duty officer follows the last tier, whatever it is
                    ladders[d].add(e.values["tier"])
            listed = e.values.get("districts", None if "districts" in e.at else ())
            if listed is None:  # unreadable: any district might be missing this responder's tier
                unsure.update(dist)
            if role not in (None, "duty") and listed == ():  # None: broken, reported already
                e.bad(e.at.get("districts", e.line), "lists no districts")
            if (phone := e.values.get("phone")) in phones:
                first = phones[phone]
                where = f"{first.label} on line {first.at['phone']}"
                e.bad("phone", f"has the same phone {mask(phone)} as {where}")
            elif phone is not None:
                phones[phone] = e
        for d, tiers in ladders.items():
            gaps = ", ".join(str(t) for t in range(2, max(tiers, default=0)) if t not in tiers)
            present, e = ", ".join(str(t) for t in sorted(tiers)), dist[d]
            if d not in unsure and 1 not in tiers:
                e.bad(e.line, "has no tier-1 responder")
            elif d not in unsure and gaps:
                e.bad(e.line, f"has responders at tiers {present} but none at tier {gaps}")


def snapshot(found: Directory, digest: Callable[[str], str]) -> dict:
    """The directory as plain data for change history: phones only as keyed hashes."""
    return {
        "responders": {
            r.id: {
                "phone": digest(r.phone),
                "role": r.role,
                "tier": r.tier,
                "languages": list(r.languages),
                "districts": list(r.districts),
            }
            for r in found.responders.values()
        },
        "districts": {
            d.id: {"organisation": d.organisation, "names": dict(d.names)}
            for d in found.districts.values()
        },
    }


def changes(before: dict | None, after: dict) -> list[tuple[str, str, str]]:
    """(event, id, changed fields) between two snapshots, for the audit trail."""
    before = before or {"responders": {}, "districts": {}}
    out = []
    for section in ("responders", "districts"):
        kind = section[:-1]
        old, new = before.get(section, {}), after[section]
        for item in sorted(new.keys() - old.keys()):
            out.append((f"{kind}_added", item, ""))
        for item in sorted(old.keys() - new.keys()):
            out.append((f"{kind}_removed", item, ""))
        for item in sorted(old.keys() & new.keys()):
            changed = sorted(k for k in new[item] if new[item][k] != old[item].get(k))
            if changed:
                out.append((f"{kind}_changed", item, ",".join(changed)))
    return out
