"""A case as an operator sees it: the list of their organisation's cases, one case's story,
revealing her number with a reason, replaying a failed message. Every look that shows her
number and every change is audited with the operator's name."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from gateway import reports
from gateway.accounts import EVERY_ORG, Operator
from gateway.cases import (
    AID_KINDS,
    FOLLOW_UP_DAYS,
    Case,
    CaseError,
    CaseState,
    Referral,
    deadline,
    referral_waits,
    with_aid,
)
from gateway.directory import Directory, Responder
from gateway.jobs import SEND_ID, Jobs
from gateway.logs import holds_number, redact
from gateway.reports import Report
from gateway.store import Store
from gateway.usecases.answers import Answers
from gateway.usecases.followup import FollowUp
from gateway.usecases.referrals import Referrals
from gateway.usecases.replay import Replay
from gateway.usecases.roster import Roster
from gateway.usecases.timing import Timing

# Audit events that belong on a case's timeline, with the words the console shows for them.
EVENTS = {
    "case_opened": "opened",
    "escalated": "tier {tier} had its time: the next one is alerted",
    "duty_notified": "the duty officer was told",
    "alert_covered": "an alert was held for a digest",
    "accepted": "accepted by {responder}",
    "declined": "declined by {responder}",
    "closed": "closed by {responder}",
    "replayed": "message {message} replayed by {by} ({why})",
    "replay_refused": "replay of message {message} refused ({why})",
    "number_revealed": "her number shown to {by}: {reason}",
    "closed_by_operator": "closed by {by}: {reason}",
    "handed_over": "handed to {responder} by {by}",
    "aid_recorded": "aid recorded by {who}: {aid}",
    "follow_up_set": "follow-up in {days} days, set by {who}",
    "follow_up_due": "follow-up reminder to {responder}",
    "follow_up_missed": "no answer from {responder} to the follow-up: the duty officer was told",
    "note_added": "a note by {responder}",
    "referred": "referred by {org} to {to} ({reason}) by {by}: {consent}",
    "referral_accepted": "taken by {org}: accepted by {responder}",
    "referral_returned": "back from {org}: {why}",
}
# The events a referring organisation still sees once the case is another's (its stub).
REFERRAL_EVENTS = frozenset({"referred", "referral_accepted", "referral_returned", "closed"})
AUDIT_LOOKBACK = 20_000  # audit entries searched for a case's events, newest first
MIN_REASON = 5


class NotFound(LookupError):
    """No such case for this operator (another organisation's is not found either)."""


class Invalid(ValueError):
    """What the operator entered cannot be used (the message says why)."""


class Refused(PermissionError):
    """The operator's role does not allow this (the message names what)."""


@dataclass(frozen=True)
class Row:
    case: Case
    org: str
    overdue: bool
    waiting: float  # seconds since it was opened
    quiet: bool = False  # taken, and no word from its holder for the quiet period
    referred_out: bool = False  # another organisation's now, after this one referred it


@dataclass(frozen=True)
class Event:
    at: float
    text: str
    kind: str  # "audit" or "message"


@dataclass(frozen=True)
class Story:
    case: Case
    org: str
    overdue: bool
    events: list[Event]
    messages: list[dict[str, str]]
    replayable: set[str] = field(default_factory=set)  # message ids with a failed send job
    notes: list[str] = field(default_factory=list)  # its holder's (NOTE), numbers masked
    # The operator's organisation referred the case to another, which took it: only that the
    # case was referred, where and when, its state and aid, and the referral's events are
    # shown (`messages` and `notes` stay empty).
    stub: bool = False


@dataclass(frozen=True)
class Filters:
    state: str = ""
    district: str = ""
    kind: str = ""
    urgency: str = ""
    overdue: bool = False
    older_than_hours: float = 0.0
    ref: str = ""
    quiet: bool = False

    def passes(self, row: Row) -> bool:
        """True when the row is one these filters keep."""
        case = row.case
        return (
            (not self.state or case.state == self.state)
            and (not self.district or case.district == self.district)
            and (not self.kind or case.kind == self.kind)
            and (not self.urgency or case.urgency == self.urgency)
            and (not self.overdue or row.overdue)
            and (not self.older_than_hours or row.waiting >= self.older_than_hours * 3600)
            and (not self.ref or case.ref == self.ref)
            and (not self.quiet or row.quiet)
        )


class CaseFile:
    """An operator's view of cases, limited to their organisation."""

    def __init__(
        self,
        store: Store,
        jobs: Jobs,
        roster: Roster,
        replay: Replay,
        answers: Answers,
        followup: FollowUp,
        referrals: Referrals,
        timing: Timing,
        clock: Callable[[], float],
    ):
        self.store = store
        self.jobs = jobs
        self.roster = roster
        self._replay = replay
        self.answers = answers
        self.followup = followup
        self.referrals = referrals
        self.timing = timing
        self.clock = clock

    # ---- reading -------------------------------------------------------------------------------
    def org_of(self, case: Case) -> str:
        """The organisation the case is with: the one serving its district, or the one a
        referral moved it to ('' when the directory lost it)."""
        return self.roster.directory.holder(case.district, case.org)

    def deadline(self, case: Case) -> float:
        """When every tier of its district has had its turn (the duty officer has it then)."""
        each = deadline(case, self.timing.escalate_after, self.timing.escalate_after_urgent)
        return case.created + each * len(self.roster.directory.tiers(case.district))

    def is_overdue(self, case: Case, now: float) -> bool:
        """Open past its deadline: no responder has taken it in the time every tier had."""
        return case.state == CaseState.OPEN and now > self.deadline(case)

    def is_quiet(self, case: Case, now: float) -> bool:
        """Taken, no follow-up ahead, and no word from its holder for the quiet period."""
        if case.state != CaseState.TAKEN or case.follow_up > now:
            return False
        return now - max(case.taken_at, case.active_at) >= self.timing.quiet_after

    def cases(self, operator: Operator, filters: Filters = Filters()) -> list[Row]:
        """The operator's organisation's cases that pass the filters, newest first."""
        self._require(operator, "cases")
        now, rows = self.clock(), []
        for fields in self.store.cases.iter():
            if "ref" not in fields:
                continue
            case = Case.from_fields(fields)
            org = self.org_of(case)
            stub = not operator.sees(org) and self._referred_by(operator, case)
            if not operator.sees(org) and not stub:
                continue
            overdue = self.is_overdue(case, now)
            quiet = self.is_quiet(case, now) and not stub
            row = Row(case, org, overdue and not stub, now - case.created, quiet, stub)
            if filters.passes(row):
                rows.append(row)
        return sorted(rows, key=lambda r: -r.case.created)

    def find(self, operator: Operator, ref: str, stub: bool = False) -> Case:
        """The case with this reference, if this operator may see it (with `stub`, also one
        their organisation referred to another that took it); else NotFound."""
        self._require(operator, "cases")
        case = self.store.cases.by_ref(ref) if ref.isdigit() else None
        if case is None:
            raise NotFound(ref)
        if not operator.sees(self.org_of(case)):
            if not (stub and self._referred_by(operator, case)):
                raise NotFound(ref)
        return case

    def story(self, operator: Operator, ref: str) -> Story:
        """Her choices and the case's timeline: its audit events and its messages; for an
        organisation that referred the case to another, which took it, the stub only."""
        case = self.find(operator, ref, stub=True)
        if not operator.sees(self.org_of(case)):
            return Story(
                case=case,
                org=self.org_of(case),
                overdue=False,
                events=self._events(case, set(), REFERRAL_EVENTS),
                messages=[],
                stub=True,
            )
        messages = self.store.messages.of_case(case.id)
        events = self._events(case, {m["id"] for m in messages})
        for message in messages:
            to = self._named(message.get("recipient", "")) or "her"
            text = f"{message.get('purpose', 'message')} to {to}: {message.get('state', '?')}"
            if message.get("route"):
                text += f" via {message['route']}"
            events.append(Event(float(message.get("created") or 0), text, "message"))
        replayable = {
            m["id"] for m in messages if self.jobs.is_failed(SEND_ID.format(message=m["id"]))
        }
        overdue = self.is_overdue(case, self.clock())
        notes = [redact(n) for n in self.store.cases.notes(case.id, of="rnote")]
        return Story(
            notes=notes,
            case=case,
            org=self.org_of(case),
            overdue=overdue,
            events=sorted(events, key=lambda e: e.at),
            messages=messages,
            replayable=replayable,
        )

    def _events(
        self, case: Case, message_ids: set[str], only: frozenset[str] | None = None
    ) -> list[Event]:
        """The audit events of a case (and of its messages), in words; `only` these kinds."""
        events = []
        for entry in self.store.audit.trail(AUDIT_LOOKBACK):
            if entry.get("case") != case.id and entry.get("message") not in message_ids:
                continue
            template = EVENTS.get(entry["event"])
            if template is None or (only is not None and entry["event"] not in only):
                continue
            responder = self._named(entry.get("responder", ""))
            values = {
                **entry,
                "responder": responder,
                "who": responder or entry.get("by", "?"),
                "tier": str(int(entry.get("tier", "0")) + 1),
            }
            events.append(Event(float(entry["at"]), template.format_map(_Blank(values)), "audit"))
        return events

    def figures(self, operator: Operator, start: float, end: float, org: str = "") -> Report:
        """The anonymous figures of `flask report` over the operator's organisation (an admin
        chooses one, or every organisation with '')."""
        self._require(operator, "reports")
        directory = self.roster.directory
        if operator.org != EVERY_ORG:
            org = operator.org
        if org and org not in directory.organisations:
            raise NotFound(org)
        return reports.of_directory(self.store, start, end, directory, org)

    def directory(self, operator: Operator) -> tuple[Directory, set[str]]:
        """The directory in use and the organisations this operator may read in it."""
        self._require(operator, "directory")
        directory = self.roster.directory
        return directory, {o for o in directory.organisations if operator.sees(o)}

    # ---- acting --------------------------------------------------------------------------------
    def reveal(self, operator: Operator, ref: str, reason: str) -> str:
        """Her number, for an operator who states why; audited with their name."""
        self._require(operator, "reveal")
        reason = _reason(reason)
        case = self.find(operator, ref)
        phone = self.store.cases.phone(case.id)
        if phone is None:
            raise NotFound(ref)  # purged after her STOP or the retention period
        self.store.audit.record("number_revealed", case=case.id, by=operator.name, reason=reason)
        return phone

    def replay(self, operator: Operator, ref: str, message_id: str) -> str:
        """The safe replay of one failed message of this case; what happened, in words."""
        self._require(operator, "replay")
        case = self.find(operator, ref)
        if message_id not in {m["id"] for m in self.store.messages.of_case(case.id)}:
            raise NotFound(message_id)
        return self._replay.replay(
            SEND_ID.format(message=message_id), who=operator.name, why="replay from the console"
        )

    def close(self, operator: Operator, ref: str, reason: str) -> bool:
        """Close an open or taken case with a stated reason (audited with the operator's name);
        False when it was closed already."""
        self._require(operator, "close")
        case = self.find(operator, ref)
        return self.answers.close_for(case, operator.name, _reason(reason))

    def hand_over(self, operator: Operator, ref: str, responder_id: str) -> bool:
        """Make the case a responder's of its organisation; False when it is closed or theirs."""
        self._require(operator, "close")
        case = self.find(operator, ref)
        choices = {r.id: r for r in self.responders(case)}
        if responder_id not in choices:
            raise NotFound(responder_id)
        return self.answers.hand_over(case, choices[responder_id], operator.name)

    def record_aid(self, operator: Operator, ref: str, kinds: list[str]) -> bool:
        """Aid given to her, recorded on the page (audited with the operator's name); False
        when the case is still open (nobody has taken it)."""
        self._require(operator, "close")
        case = self.find(operator, ref)
        try:
            if not kinds:
                raise CaseError(f"choose one or more of: {', '.join(AID_KINDS)}")
            with_aid(case, kinds, self.clock())  # the domain's rules, before the store's
        except CaseError as error:
            raise Invalid(str(error)) from None
        if self.store.cases.record_aid(case.id, kinds) is None:
            return False
        self.store.audit.record("aid_recorded", case=case.id, by=operator.name, aid=",".join(kinds))
        return True

    def follow_up(self, operator: Operator, ref: str, days: int) -> bool:
        """Set a taken case's follow-up in `days` days (its holder is reminded then)."""
        self._require(operator, "close")
        if days not in FOLLOW_UP_DAYS:
            raise Invalid(f"a follow-up is {FOLLOW_UP_DAYS[0]} to {FOLLOW_UP_DAYS[-1]} days away")
        case = self.find(operator, ref)
        return self.followup.later_for(case, days, operator.name)

    def refer(self, operator: Operator, ref: str, to: str, reason: str, agreed: bool) -> int:
        """Refer a taken case to another organisation, confirming that she agreed (required;
        audited with the operator's name): the referral's number."""
        self._require(operator, "close")
        case = self.find(operator, ref)
        try:
            return self.referrals.refer(case, to, reason, agreed, operator.name)
        except CaseError as error:
            raise Invalid(str(error)) from None

    def partners(self, case: Case) -> list[str]:
        """The organisations the case may be referred to now: every one but its own, while it
        is taken and no referral waits (or the waiting one is past its deadline)."""
        if case.state != CaseState.TAKEN:
            return []
        if referral_waits(case, self.clock(), self.timing.referral_answer):
            return []
        return sorted(set(self.roster.directory.organisations) - {self.org_of(case)})

    def _referred_by(self, operator: Operator, case: Case) -> bool:
        """True when the operator's organisation referred the case to one that took it."""
        return case.referral == Referral.ACCEPTED and operator.sees(case.referral_from)

    def responders(self, case: Case) -> list[Responder]:
        """Whom a case may be handed to: the responders of its organisation."""
        org = self.org_of(case)
        return self.roster.directory.responders_of(org) if org else []

    def _named(self, responder_id: str) -> str:
        """A responder as the timeline names them (name and role), else their id as stored."""
        who = self.roster.directory.responders.get(responder_id)
        return f"{who.name} ({who.role})" if who else responder_id

    @staticmethod
    def _require(operator: Operator, action: str) -> None:
        if not operator.may(action):
            raise Refused(f"the {operator.role} role cannot do this ({action})")


def _reason(text: str) -> str:
    reason = " ".join(text.split())
    if len(reason) < MIN_REASON:
        raise Invalid(f"say why, in at least {MIN_REASON} characters (it is kept in the audit)")
    if holds_number(reason):
        raise Invalid("a reason is kept in the audit trail: write it without a phone number")
    return reason


class _Blank(dict):
    def __missing__(self, key: str) -> str:
        return "?"
