"""After OK: a taken case followed up over weeks. Its holder sets a date (LATER <ref> <days>)
and keeps notes (NOTE <ref> <text>, encrypted, purged with her number); on the date they are
reminded, and a reminder without an answer reaches the organisation's duty officer. Taken cases
without a word from their holder for a while are reminded too (the clock's daily job)."""

from __future__ import annotations

import time
from collections.abc import Callable

from gateway import cases
from gateway.cases import CaseState
from gateway.directory import Responder
from gateway.jobs import Jobs
from gateway.store import Store
from gateway.usecases.outbox import Outbox
from gateway.usecases.roster import Roster
from gateway.usecases.timing import Timing

DAY = 86400


class FollowUp:
    """Follow-up dates, the holder's notes, and the reminders of both kinds."""

    def __init__(
        self,
        store: Store,
        jobs: Jobs,
        roster: Roster,
        outbox: Outbox,
        timing: Timing,
        clock: Callable[[], float],
    ):
        self.store = store
        self.jobs = jobs
        self.roster = roster
        self.outbox = outbox
        self.timing = timing
        self.clock = clock

    # ---- the holder's commands -----------------------------------------------------------------
    def later(self, responder: Responder, ref: str, days: int) -> str:
        """LATER <ref> <days>: remind its holder in `days` days (a newer LATER replaces it)."""
        case = self._held(responder, ref, "later")
        at = self._set(case, days, responder.id) if case is not None else None
        if case is None or at is None:
            return "ignored"
        when = time.strftime("%Y-%m-%d", time.gmtime(at))
        self.outbox.about(case, "later_set", responder, key=f"later_set:{when}", date=when)
        return "set"

    def note(self, responder: Responder, ref: str, text: str) -> str:
        """NOTE <ref> <text>: kept with the case, encrypted (never logged; purged with it)."""
        case = self._held(responder, ref, "note")
        if case is None:
            return "ignored"
        number = self.store.cases.add_note(case.id, text, of="rnote")
        self.store.cases.touch(case.id, self.clock())
        self.store.audit.record("note_added", case=case.id, responder=responder.id)
        self.outbox.about(case, "note_kept", responder, key=f"note_kept:{number}")
        return "kept"

    def later_for(self, case: cases.Case, days: int, by: str) -> bool:
        """A follow-up set by an operator on the console (audited with their name)."""
        return self._set(case, days, "", operator=by) is not None

    # ---- the jobs --------------------------------------------------------------------------------
    def due(self, case_id: str, n: int) -> str:
        """Follow-up n is due: remind the holder, and check later that they answered."""
        case, holder = self._current(case_id, n)
        if case is None or holder is None:
            return "void: closed, handed over or followed up again"
        self.outbox.about(case, "follow_up", holder, key=f"follow_up:{n}", kind=case.kind)
        at = self.clock() + self.timing.follow_up_answer
        self.jobs.follow_up_check(case.id, n, at, about=f"follow-up answer of case {case.ref}")
        self.store.audit.record("follow_up_due", case=case.id, responder=holder.id)
        return "reminded"

    def check(self, case_id: str, n: int) -> str:
        """No word from the holder since reminder n: tell the organisation's duty officer."""
        case, holder = self._current(case_id, n)
        if case is None or holder is None:
            return "void: closed, handed over or followed up again"
        if case.active_at >= self.clock() - self.timing.follow_up_answer:
            return "answered"
        duty = self.roster.directory.duty_officer_for(case.district, case.org)
        if duty is None:
            return "no duty officer"
        key = f"follow_up_missed:{n}"
        self.outbox.about(case, "follow_up_missed", duty, key=key, responder=holder.name)
        self.store.audit.record("follow_up_missed", case=case.id, responder=holder.id)
        return "duty officer told"

    def quiet(self) -> int:
        """Remind the holder of every taken case without a word from them for the quiet period
        and no follow-up ahead (at most once per period); how many were reminded."""
        now, after, reminded = self.clock(), self.timing.quiet_after, 0
        for case_id, taken_at in self.store.cases.taken():
            case = self.store.cases.get(case_id)
            if case is None or case.state != CaseState.TAKEN or case.follow_up > now:
                continue
            last = max(taken_at, case.active_at)
            holder = self.roster.directory.responders.get(case.taken_by)
            if holder is None or now - last < after:
                continue
            period = int((now - last) // after)  # one reminder per quiet period
            days = str(int((now - last) // DAY))
            key = f"quiet:{int(last)}:{period}"
            self.outbox.about(case, "quiet", holder, key=key, kind=case.kind, days=days)
            reminded += 1
        return reminded

    # ---- helpers ---------------------------------------------------------------------------------
    def _set(self, case: cases.Case, days: int, by: str, operator: str = "") -> float | None:
        """Set the follow-up and schedule its reminder: when it is due, or None (not taken, or
        not `by`'s)."""
        at = self.clock() + days * DAY
        n = self.store.cases.set_follow_up(case.id, at, by=by)
        if n is None:
            return None
        self.jobs.follow_up(case.id, n, at, about=f"follow-up of case {case.ref}")
        who = {"by": operator} if operator else {"responder": by}
        self.store.audit.record("follow_up_set", case=case.id, days=str(days), **who)
        return at

    def _held(self, responder: Responder, ref: str, command: str) -> cases.Case | None:
        """The case with this reference if this responder holds it; audited otherwise."""
        case = self.store.cases.by_ref(ref)
        if case is None or case.state != CaseState.TAKEN or case.taken_by != responder.id:
            self.store.audit.record(
                "command_ignored", reason="not the holder", responder=responder.id, command=command
            )
            return None
        return case

    def _current(self, case_id: str, n: int) -> tuple[cases.Case | None, Responder | None]:
        case = self.store.cases.get(case_id)
        if case is None or case.state != CaseState.TAKEN:
            return None, None
        if self.store.cases.follow_ups(case_id) != n:
            return None, None
        return case, self.roster.directory.responders.get(case.taken_by)
