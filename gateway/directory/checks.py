"""Checking a directory file: every problem at once, each with its line, phones masked."""

from __future__ import annotations

import re
from collections.abc import Iterable
from copy import copy
from dataclasses import fields
from typing import Any

from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from gateway.directory.model import LANGUAGES, ROLES, District, Group, Organisation, Responder
from gateway.phone import PhoneError, mask, normalise
from gateway.yamlcheck import BAD, Pairs, Problem, Report, describe, line, scalar

SECTIONS = {
    "organisations": Organisation,
    "districts": District,
    "responders": Responder,
    "groups": Group,
}
_OPTIONAL_SECTIONS = ("groups",)
_OPTIONAL = {
    "default_district": None,
    "code_words": {},
    "mahallas": (),
    "districts": (),
    "numbers": (),
    "hours": (9, 18),
    "senders": (),
}
_LISTS = ("list", "mahallas", "districts", "languages", "senders")  # fields: lists of text
_GROUP_CODE = re.compile(r"^\d{3,6}$")
_LANGS, _ROLES = (f"one of {', '.join(names)}" for names in (LANGUAGES, ROLES))
_DIGIT_RUN = re.compile(r"\+?\d(?:[\s().-]?\d){6,}")  # long enough to be a phone number


class _Entry:
    """One organisation, district or responder as far as it could be read."""

    def __init__(self, checker: Checker, label: str, line: int) -> None:
        self.checker, self.label, self.line = checker, label, line
        self.at: dict[str, int] = {}  # field -> line of its key
        self.values: dict[str, Any] = {}  # only fields that passed their checks
        self.items: dict[str, tuple[int, ...]] = {}  # list field -> line of each good item

    def bad(self, where: Node | int | str, message: str) -> Any:
        """Report a problem with this entry at a node, a line, or a field's key; return BAD."""
        where = self.at[where] if isinstance(where, str) else where
        return self.checker.bad(where, f"{self.label} {message}")

    def build(self, cls: type) -> Any:
        names = [f.name for f in fields(cls)]
        return cls(**{n: self.values.get(n, copy(_OPTIONAL.get(n))) for n in names})


class Checker:
    """Every problem of one directory file; `run` returns what could be read of its entries."""

    def __init__(self, file: str) -> None:
        self.file = file
        # Any value can be a phone number typed into the wrong field: messages show it masked.
        self.report = Report(
            redact=lambda message: _DIGIT_RUN.sub(lambda m: mask(m.group()), message)
        )

    @property
    def problems(self) -> list[Problem]:
        return self.report.problems

    def bad(self, where: Node | int, message: str) -> Any:
        return self.report.bad(self.file, where, message)

    def keys(self, node: MappingNode, label: str, allowed: Iterable[str], what: str = "field",
             where: str = "") -> Pairs:  # fmt: skip
        """Return name -> (key node, value node) for the allowed keys, reporting the others."""
        return self.report.keys(self.file, node, label, allowed, what=what, where=where)

    def value(self, e: _Entry, name: str, node: Node, how: str = "", what: str = "") -> Any:
        """Return the checked value of a field, or BAD after reporting why it is unusable."""
        how, what = how or name, what or f"for '{name}'"
        if how == "phone" and isinstance(node, ScalarNode):
            raw = node.value  # as written, so an unquoted +992... keeps its plus sign
            try:
                return normalise(raw)
            except PhoneError as exc:
                return e.bad(node, f"has an invalid phone {mask(raw)}: {exc}")
        if how == "tier":
            value = scalar(node)
            if type(value) is int and value >= 1:  # not isinstance: YAML's yes/no are bools
                return value
            shown = value if type(value) is int else describe(node)
            return e.bad(node, f"has {shown} for 'tier', expected a whole number of at least 1")
        if how == "hours":
            hours = [scalar(v) for v in node.value] if isinstance(node, SequenceNode) else []
            if (
                len(hours) == 2
                and all(type(h) is int for h in hours)
                and 0 <= hours[0] < hours[1] <= 24
            ):
                return tuple(hours)
            return e.bad(
                node, "has 'hours' that are not [from, to]: whole hours, 0 to 24, from < to"
            )
        if how == "code":
            value = scalar(node)
            text = str(value) if type(value) is int else value
            if isinstance(text, str) and _GROUP_CODE.match(text.strip()):
                return text.strip()
            shown = repr(text.strip()) if isinstance(text, str) else describe(node)
            return e.bad(node, f"has {shown} for 'code', expected 3 to 6 digits (JOIN 4107)")
        if how in ("names", "code_words"):
            if not isinstance(node, MappingNode):
                return e.bad(node, f"has {describe(node)} {what}, expected a mapping of languages")
            found = self.keys(node, e.label, LANGUAGES, "language", f" in '{name}'")
            missing = [lang for lang in LANGUAGES if lang not in found]
            if how == "names" and missing:
                e.bad(name, f"has no name in {', '.join(missing)}")
            each = "text" if how == "names" else "list"
            checked = {k: self.value(e, f"{name}.{k}", v, each) for k, (_, v) in found.items()}
            return {k: value for k, value in checked.items() if value is not BAD}
        if how == "numbers":
            if not isinstance(node, SequenceNode):
                return e.bad(node, f"has {describe(node)} {what}, expected a list of phones")
            phones = [self.value(e, name, item, "phone") for item in node.value]
            return tuple(p for p in phones if p is not BAD)
        if how in _LISTS:
            if not isinstance(node, SequenceNode):
                return e.bad(node, f"has {describe(node)} {what}, expected a list")
            if how == "languages" and not node.value:
                return e.bad(node, "lists no languages")
            good = []
            for item in node.value:
                value = self.value(e, name, item, "text", f"in '{name}'")
                if value is not BAD and how == "languages" and value not in LANGUAGES:
                    e.bad(item, f"lists unknown language '{value}', expected {_LANGS}")
                elif value is not BAD:
                    good.append((value, line(item)))
            e.items[name] = tuple(line for _, line in good)
            return tuple(value for value, _ in good)
        value = scalar(node)  # text, a role, or a phone that is a list or mapping
        if value is None or (isinstance(value, str) and not value.strip()):
            return e.bad(node, f"has an empty value {what}")
        if not isinstance(value, str):
            return e.bad(node, f"has {describe(node)} {what}, expected text")
        if how == "role" and value.strip() not in ROLES:
            return e.bad(node, f"has unknown role '{value.strip()}', expected {_ROLES}")
        return value.strip()

    def entry(self, cls: type, index: int, node: MappingNode) -> _Entry:
        kind = cls.__name__.lower()
        ident = next((scalar(v) for k, v in node.value if scalar(k) == "id"), None)
        named = isinstance(ident, str) and ident.strip()
        e = _Entry(self, f"{kind} {ident.strip()}" if named else f"{kind} #{index}", line(node))
        found = self.keys(node, e.label, [f.name for f in fields(cls)])
        for name in (f.name for f in fields(cls)):
            key, value = found.get(name, (node, None))
            if value is None or scalar(value) is None:  # absent, or present with nothing after it
                if name not in _OPTIONAL:
                    e.bad(key, f"is missing '{name}'")
                continue
            e.at[name] = line(key)
            checked = self.value(e, name, value)
            if checked is not BAD:
                e.values[name] = checked
        return e

    def run(self, root: Node | None) -> dict[type, list[_Entry]] | None:
        """Return the entries of each kind, having reported every problem found in them."""
        if not isinstance(root, MappingNode):
            shape = "the file is empty" if root is None else f"not {describe(root)}"
            wanted = "expected a mapping with 'organisations', 'districts' and 'responders'"
            self.bad(1 if root is None else root, f"{wanted}; {shape}")
            return None
        found = self.keys(root, "the file", SECTIONS, "section")
        entries: dict[type, list[_Entry]] = {}
        for section, cls in SECTIONS.items():
            node = found.get(section, (None, None))[1]
            entries[cls] = []
            if node is None:
                if section not in _OPTIONAL_SECTIONS:
                    self.bad(root, f"the file has no '{section}' section")
            elif not isinstance(node, SequenceNode) and scalar(node) is not None:
                self.bad(node, f"'{section}' must be a list, not {describe(node)}")
            for index, item in enumerate(node.value if isinstance(node, SequenceNode) else (), 1):
                if isinstance(item, MappingNode):
                    entries[cls].append(self.entry(cls, index, item))
                else:
                    self.bad(item, f"'{section}' item #{index} is {describe(item)}, not a mapping")
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

    def cross_check(
        self, orgs: list[_Entry], dists: list[_Entry], resps: list[_Entry], groups: list[_Entry]
    ) -> None:
        """Report unknown references, duplicates, and districts nobody could be alerted for."""
        org, dist, resp = self.unique(orgs), self.unique(dists), self.unique(resps)
        self.check_groups(groups, org, dist, resp)
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
            for d, at in zip(e.values.get("districts", ()), lines, strict=True):
                if d not in dist:
                    e.bad(at, f"lists unknown district '{d}'")
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

    def check_groups(
        self,
        groups: list[_Entry],
        org: dict[str, _Entry],
        dist: dict[str, _Entry],
        resp: dict[str, _Entry],
    ) -> None:
        """A group's organisation and senders exist (its own organisation's responders), and
        no two groups share a JOIN code."""
        self.unique(groups)
        codes: dict[str, _Entry] = {}
        for e in groups:
            if (owner := e.values.get("organisation")) is not None and owner not in org:
                e.bad("organisation", f"belongs to unknown organisation '{owner}'")
            lines = e.items.get("senders", ())
            owner = e.values.get("organisation")
            for sender, at in zip(e.values.get("senders", ()), lines, strict=True):
                if sender not in resp:
                    e.bad(at, f"lists sender '{sender}', who is not a responder")
                elif owner in org and not _serves(resp[sender], owner, org[owner], dist):
                    e.bad(at, f"lists sender '{sender}', who is not a responder of '{owner}'")
            if (code := e.values.get("code")) in codes:
                e.bad("code", f"has the same code {code} as {codes[code].label}")
            elif code is not None:
                codes[code] = e


def _serves(responder: _Entry, owner: str, organisation: _Entry, dist: dict[str, _Entry]) -> bool:
    """True when the responder is the organisation's duty officer or lists one of its districts."""
    if organisation.values.get("duty_officer") == responder.values.get("id"):
        return True
    mine = {d for d, e in dist.items() if e.values.get("organisation") == owner}
    return bool(mine & set(responder.values.get("districts", ())))
