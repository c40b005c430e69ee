"""The case: what she asked for and who may know, its states, and its reference. Stdlib only."""

from __future__ import annotations

import math
import random
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, field, replace
from enum import StrEnum
from typing import Protocol

KINDS = ("danger", "legal", "shelter", "money", "talk", "callback")
CONSENTS = ("group", "mahalla", "police")  # each includes the ones before it
CALLS = ("any", "day", "none")
SMS = ("no", "yes")  # may we send her one neutral SMS
LOCAL_UTC_OFFSET = 5 * 3600  # Tajikistan: UTC+5 all year
DAYTIME = (9, 18)  # local hours when an SMS to her is least likely to be seen by others
CHANNELS = ("ussd", "sms")
# Kinds of aid a responder records (AID or DONE with codes; the console): what organisations
# report as "women who received legal, social and economic aid". Labels and SMS codes per
# language are in the catalogs (messages.aid, keywords.aid_codes).
AID_KINDS = (
    "legal",
    "police",
    "shelter",
    "medical",
    "psych",
    "economic",
    "debt",
    "referral",
    "peer",
)
URGENT_KINDS = frozenset({"danger", "callback"})
# Why a case is referred to another organisation: the aid it is referred for.
REFERRAL_REASONS = tuple(kind for kind in AID_KINDS if kind != "referral")


# Fields a case gains after it is taken; stored only once set (most cases never have them).
LATER_FIELDS = (
    "aid",
    "aid_at",
    "taken_at",
    "follow_up",
    "active_at",
    "org",
    "referral",
    "referral_from",
    "referral_to",
    "referral_reason",
    "referred_at",
)
_TIMES = frozenset({"aid_at", "taken_at", "follow_up", "active_at", "referred_at"})
FOLLOW_UP_DAYS = range(1, 91)  # LATER <ref> <days>: a follow-up within three months


class CaseState(StrEnum):
    """Where a case is: waiting for a responder, taken by one, or closed by the one who took it.

    The transitions that run in production are the store's Lua scripts (first OK wins);
    take() and close() below state the same rules, and a test holds the two together."""

    OPEN = "open"
    TAKEN = "taken"
    CLOSED = "closed"


# What a status check may say: a neutral word per state, nothing else.
STATUS_WORDS = {CaseState.OPEN: "open", CaseState.TAKEN: "taken", CaseState.CLOSED: "closed"}


class Referral(StrEnum):
    """A referral to another organisation: asked (its duty officer is alerted), accepted there
    (the case is that organisation's now), or returned to the sender (declined or unanswered).
    The store's Lua (store/cases.py) runs the same rules as refer() and accept_referral()."""

    ASKED = "asked"
    ACCEPTED = "accepted"
    RETURNED = "returned"


class CaseError(ValueError):
    """An answer is outside its vocabulary."""


@dataclass(frozen=True)
class Case:
    """A help request: no phone number and no free text, those live encrypted in the store."""

    id: str
    ref: str
    kind: str
    urgency: str
    district: str
    consent: str
    call: str
    channel: str
    lang: str
    created: float
    sms: str = "no"
    state: str = CaseState.OPEN
    taken_by: str = ""
    closed_at: float = 0.0
    exclude: tuple[str, ...] = field(default=())
    aid: tuple[str, ...] = field(default=())  # kinds of aid given, in AID_KINDS order
    aid_at: float = 0.0  # when the first aid was recorded
    taken_at: float = 0.0  # when a responder took it
    follow_up: float = 0.0  # when its holder is next reminded to follow it up (LATER)
    active_at: float = 0.0  # the holder's last word on it (OK, AID, NOTE, LATER)
    org: str = ""  # the organisation holding it after a referral ('' for its district's)
    referral: str = ""  # the newest referral's state (Referral), '' if never referred
    referral_from: str = ""  # the organisation that referred it
    referral_to: str = ""  # the organisation it was referred to
    referral_reason: str = ""  # one of REFERRAL_REASONS
    referred_at: float = 0.0

    def to_fields(self) -> dict[str, str]:
        """The case as flat string fields for a Redis hash."""
        out = {k: str(v) for k, v in asdict(self).items() if k not in ("exclude", *LATER_FIELDS)}
        out["exclude"] = ",".join(self.exclude)
        if self.aid:
            out["aid"] = ",".join(self.aid)
        for name in LATER_FIELDS[1:]:
            if getattr(self, name):
                out[name] = str(getattr(self, name))
        return out

    @classmethod
    def from_fields(cls, fields: Mapping[str, str]) -> Case:
        """The case stored by to_fields()."""
        return cls(
            id=fields["id"],
            ref=fields["ref"],
            kind=fields["kind"],
            urgency=fields["urgency"],
            district=fields["district"],
            consent=fields["consent"],
            call=fields["call"],
            channel=fields["channel"],
            lang=fields["lang"],
            created=float(fields["created"]),
            sms=fields.get("sms", "no"),
            state=CaseState(fields.get("state", CaseState.OPEN)),
            taken_by=fields.get("taken_by", ""),
            closed_at=float(fields.get("closed_at") or 0.0),
            exclude=tuple(x for x in fields.get("exclude", "").split(",") if x),
            aid=tuple(x for x in fields.get("aid", "").split(",") if x),
            **{
                name: float(fields.get(name) or 0.0) if name in _TIMES else fields.get(name, "")
                for name in LATER_FIELDS[1:]
            },
        )

    def allows(self, role: str) -> bool:
        """True when her consent lets a responder of this role be told."""
        if role in ("group", "duty"):
            return True
        return CONSENTS.index(self.consent) >= CONSENTS.index(role)


def new_case(
    *, id: str, ref: str, answers: Mapping[str, str], channel: str, lang: str, now: float
) -> Case:
    """A new open case from her answers; raises CaseError for a value outside its vocabulary."""
    kind = answers.get("kind", "")
    consent = answers.get("consent", "group")
    call = answers.get("call", "none")
    sms = answers.get("sms", "no")
    for name, value, allowed in (
        ("sms", sms, SMS),
        ("kind", kind, KINDS),
        ("consent", consent, CONSENTS),
        ("call", call, CALLS),
        ("channel", channel, CHANNELS),
    ):
        if value not in allowed:
            raise CaseError(f"{name} {value!r} is not one of {', '.join(allowed)}")
    district = answers.get("district", "")
    if not district:
        raise CaseError("district is missing")
    urgency = "urgent" if kind in URGENT_KINDS else "normal"
    return Case(
        id=id,
        ref=ref,
        kind=kind,
        urgency=urgency,
        district=district,
        consent=consent,
        call=call,
        channel=channel,
        lang=lang,
        created=now,
        sms=sms,
    )


def status_word(case: Case | None) -> str:
    """The neutral status of a case for a status check; 'unknown' when there is none."""
    return STATUS_WORDS.get(case.state, "unknown") if case else "unknown"


def take(case: Case, responder_id: str) -> Case:
    """The case taken by a responder; only an open case can be taken."""
    if case.state != CaseState.OPEN:
        raise CaseError(f"case is {case.state}, not open")
    return replace(case, state=CaseState.TAKEN, taken_by=responder_id)


def close(case: Case, responder_id: str, now: float) -> Case:
    """The case closed by the responder who took it."""
    if case.state != CaseState.TAKEN or case.taken_by != responder_id:
        raise CaseError("only the responder who took the case can close it")
    return replace(case, state=CaseState.CLOSED, closed_at=now)


def close_for(case: Case, now: float) -> Case:
    """The case closed by an operator (with a reason, audited): open or taken, by anyone."""
    if case.state == CaseState.CLOSED:
        raise CaseError("case is closed already")
    return replace(case, state=CaseState.CLOSED, closed_at=now)


def hand_over(case: Case, responder_id: str) -> Case:
    """The case handed by an operator to a responder: open or taken by someone else."""
    if case.state == CaseState.CLOSED:
        raise CaseError("case is closed")
    if case.taken_by == responder_id:
        raise CaseError("the case is already theirs")
    return replace(case, state=CaseState.TAKEN, taken_by=responder_id)


def with_aid(case: Case, kinds: Iterable[str], now: float) -> Case:
    """The case with these kinds of aid added (each once, in AID_KINDS order); only a taken or
    closed case has had aid."""
    unknown = set(kinds) - set(AID_KINDS)
    if unknown:
        raise CaseError(f"aid {', '.join(sorted(unknown))} is not one of {', '.join(AID_KINDS)}")
    if case.state == CaseState.OPEN:
        raise CaseError("nobody has taken the case yet")
    given = set(case.aid) | set(kinds)
    return replace(case, aid=tuple(k for k in AID_KINDS if k in given), aid_at=case.aid_at or now)


def refer(
    case: Case,
    to: str,
    sender: str,
    reason: str,
    agreed: bool,
    now: float,
    wait: float = math.inf,
) -> Case:
    """The case referred by organisation `sender` to organisation `to`, for a reason; only if
    she agreed (at intake, or on the phone with the one who holds it), only a taken case (its
    holder has spoken with her), and one referral at a time (one waiting longer than `wait`
    seconds, whose return never ran, may be replaced)."""
    if not agreed:
        raise CaseError("she must agree to be referred: confirm that she agreed")
    if reason not in REFERRAL_REASONS:
        raise CaseError(f"reason {reason!r} is not one of {', '.join(REFERRAL_REASONS)}")
    if to == sender:
        raise CaseError("the case is with that organisation already")
    if case.state != CaseState.TAKEN:
        raise CaseError("only a taken case can be referred: its holder speaks with her first")
    if referral_waits(case, now, wait):
        raise CaseError("the case is referred already and waits for an answer")
    return replace(
        case,
        referral=Referral.ASKED,
        referral_from=sender,
        referral_to=to,
        referral_reason=reason,
        referred_at=now,
    )


def referral_waits(case: Case, now: float, wait: float = math.inf) -> bool:
    """True while a referral of the case waits for an answer, and for no longer than `wait`
    seconds (past that, its return never ran: another may replace it)."""
    return case.referral == Referral.ASKED and now - case.referred_at < wait


def accept_referral(case: Case, responder_id: str, org: str) -> Case:
    """The referred case taken by a responder of the organisation it was referred to."""
    if case.referral != Referral.ASKED or case.referral_to != org:
        raise CaseError("the case is not referred to this organisation")
    if case.state != CaseState.TAKEN:
        raise CaseError(f"case is {case.state}")
    return replace(case, taken_by=responder_id, org=org, referral=Referral.ACCEPTED)


def candidate_refs(rng: random.Random | None = None) -> Iterator[list[str]]:
    """Random references to try, in batches each tried in one round trip: 4 digits first,
    longer ones when 4-digit ones collide (with thousands of cases open, most do)."""
    rng = rng or random.SystemRandom()
    for digits, tries in ((4, 20), (5, 20), (6, 60)):
        yield [str(rng.randrange(10 ** (digits - 1), 10**digits)) for _ in range(tries)]


class Contact(Protocol):
    """What routing needs of a responder (gateway.directory.Responder fits)."""

    id: str
    role: str
    tier: int


def plan_alerts(
    case: Case, responders: Iterable[Contact], duty: Contact | None
) -> list[tuple[Contact, ...]]:
    """Who to alert, tier by tier: her district's responders her consent allows, then duty."""
    allowed = [
        r
        for r in responders
        if r.role != "duty" and r.id not in case.exclude and case.allows(r.role)
    ]
    plan = [tuple(r for r in allowed if r.tier == t) for t in sorted({r.tier for r in allowed})]
    if duty is not None and duty.id not in case.exclude:
        plan.append((duty,))
    return plan


def deadline(case: Case, normal: int, urgent: int) -> int:
    """Seconds a tier has to accept this case before the next one is alerted."""
    return urgent if case.urgency == "urgent" else normal


def sms_time(case: Case, now: float) -> float:
    """When an SMS to her may go: now if she allows any time, else the next local daytime."""
    if case.call == "any":
        return now
    local = now + LOCAL_UTC_OFFSET
    day_start = local - local % 86400
    start, end = day_start + DAYTIME[0] * 3600, day_start + DAYTIME[1] * 3600
    if start <= local < end:
        return now
    nxt = start if local < start else start + 86400
    return nxt - LOCAL_UTC_OFFSET
