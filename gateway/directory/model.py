"""The directory's model: organisations, districts and responders, as the gateway uses them."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

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
class Group:
    """A mutual aid group whose members joined by consent (JOIN <code>)."""

    id: str
    name: str
    organisation: str
    code: str  # 3 to 6 digits: JOIN 4107
    hours: tuple[int, ...] = (9, 18)  # local hours (UTC+5) its members receive in, [from, to)
    senders: tuple[str, ...] = ()  # responders who may write to it by SMS (MEET)


@dataclass(frozen=True)
class Directory:
    organisations: dict[str, Organisation]
    districts: dict[str, District]
    responders: dict[str, Responder]
    version: str  # first 12 hex digits of the file's sha256: which directory an alert came from
    groups: dict[str, Group] = field(default_factory=dict)

    def group_by_code(self, code: str) -> Group | None:
        """The group whose JOIN code this is, or None."""
        return next((g for g in self.groups.values() if g.code == code), None)

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

    def place(self, district_id: str, lang: str) -> str:
        """A district's name in a language, as an SMS names it (its id when it is unknown)."""
        district = self.districts.get(district_id)
        return district.names.get(lang, district_id) if district else district_id

    def districts_of(self, organisation: str) -> set[str]:
        """The ids of the districts an organisation serves."""
        return {d.id for d in self.districts.values() if d.organisation == organisation}

    def responders_of(self, organisation: str) -> list[Responder]:
        """Its duty officer and every responder listing one of its districts, in file order."""
        districts = self.districts_of(organisation)
        duty = self.organisations[organisation].duty_officer
        return [r for r in self.responders.values() if r.id == duty or districts & set(r.districts)]

    def holder(self, district_id: str, org: str = "") -> str:
        """The organisation a case of the district is with: `org` when a referral moved it
        there, else the one serving the district ('' when the directory lost it: then only an
        admin sees the case, never the organisation it came from)."""
        if org:
            return org if org in self.organisations else ""
        district = self.districts.get(district_id)
        return district.organisation if district else ""

    def duty_officer_for(self, district_id: str, org: str = "") -> Responder | None:
        """Return the duty officer of the organisation holding a case of the district (see
        holder), None if unknown."""
        holder = self.holder(district_id, org)
        return self.responders[self.organisations[holder].duty_officer] if holder else None

    def by_phone(self, e164: str) -> Responder | None:
        """Return the responder with this E.164 phone number, or None."""
        return next((r for r in self.responders.values() if r.phone == e164), None)

    def district_names(self, lang: str) -> list[tuple[str, str]]:
        """Return (district id, name in lang) for every district, in file order."""
        if lang not in LANGUAGES:
            raise ValueError(f"unknown language {lang!r}; expected one of {', '.join(LANGUAGES)}")
        return [(d.id, d.names[lang]) for d in self.districts.values()]
