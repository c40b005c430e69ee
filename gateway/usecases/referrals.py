"""Referral of a case to another organisation, only with her consent. The sender's coordinator
(or an admin) refers a taken case and confirms that she agreed; the receiving organisation's duty
officer gets an alert with the same minimum as a first one. Their OK moves the case into that
organisation (the sender keeps a read-only view); their NO, or no answer in time, returns it to
the sender. Every step is audited with who did it and both organisations' ids."""

from __future__ import annotations

from collections.abc import Callable

from gateway import cases
from gateway.cases import CaseError, CaseState, Referral
from gateway.directory import Responder
from gateway.jobs import Jobs
from gateway.logs import redact
from gateway.store import Store
from gateway.usecases.answers import Answers
from gateway.usecases.outbox import Outbox
from gateway.usecases.roster import Roster
from gateway.usecases.timing import Timing


class Referrals:
    """Referrals between organisations: made, answered by the receiver, or returned."""

    def __init__(
        self,
        store: Store,
        jobs: Jobs,
        roster: Roster,
        outbox: Outbox,
        answers: Answers,
        timing: Timing,
        clock: Callable[[], float],
    ):
        self.store = store
        self.jobs = jobs
        self.roster = roster
        self.outbox = outbox
        self.answers = answers
        self.timing = timing
        self.clock = clock

    def refer(self, case: cases.Case, to: str, reason: str, agreed: bool, by: str) -> int:
        """Refer the case to organisation `to` for `reason`, `by` an operator who confirms that
        she agreed (`agreed`); the referral's number. CaseError says why it cannot be."""
        directory = self.roster.directory
        if to not in directory.organisations:
            known = ", ".join(sorted(directory.organisations))
            raise CaseError(f"there is no organisation {to!r} in the directory ({known})")
        sender = directory.holder(case.district, case.org)
        now, wait = self.clock(), self.timing.referral_answer
        referred = cases.refer(case, to, sender, reason, agreed, now, wait)
        n = self.store.cases.refer(referred, case, stale_before=now - wait)
        if n is None:
            raise CaseError("the case changed meanwhile: it is no longer taken, or referred")
        try:
            self._alert(referred, n, by)
        except Exception:
            # Nobody was told, or nothing will return it: undo it, so it can be made again.
            # (Should this fail too, it can be made again once its deadline has passed.)
            self.store.cases.return_referral(case.id, n)
            raise
        return n

    def _alert(self, referred: cases.Case, n: int, by: str) -> None:
        """Audit referral n, alert the receiving duty officer, and schedule its return."""
        case, directory = referred, self.roster.directory
        sender, to, reason = case.referral_from, case.referral_to, case.referral_reason
        duty = directory.responders[directory.organisations[to].duty_officer]
        self.store.cases.mark_alerted(case.id, [duty.id])
        self.store.audit.record(
            "referred",
            case=case.id,
            org=sender,
            to=to,
            reason=reason,
            by=by,
            consent="she agreed, confirmed by " + by,
        )
        params = {"kind": case.kind, "urgency": case.urgency, "call": case.call}
        self.outbox.about(case, "referral", duty, key=f"referral:{n}", **params)
        about = f"return of referral {n} of case {case.ref} if nobody takes it"
        self.jobs.referral_check(case.id, n, case.referred_at + self.timing.referral_answer, about)

    def refer_by(
        self, responder: Responder, ref: str, to: str, reason: str, agreed: bool, said: str
    ) -> str:
        """REFER <ref> <organisation> <aid code> YES from the case's holder, who confirms that
        she agreed (without YES it is refused, and they are told how to write it)."""
        case = self.store.cases.by_ref(ref)
        if case is None or case.state != CaseState.TAKEN or case.taken_by != responder.id:
            return "ignored"  # the same answer as any command on a case that is not theirs
        try:
            n = self.refer(case, to, reason, agreed, by=responder.id)
        except CaseError as error:
            # What they typed may hold anything, a number too: the reason is kept masked.
            why = redact(str(error))
            self.store.audit.record(
                "referral_refused", case=case.id, responder=responder.id, why=why
            )
            self.answers.explain(responder, said, "refer_how", ref=ref)
            return "refused"
        self.answers.reply(case, "referred", responder, key=f"referred_sms:{n}")
        return "referred"

    def answer(self, responder: Responder, ref: str, yes: bool) -> str | None:
        """OK or NO from a responder of the organisation a waiting referral went to: the case
        is theirs, or back with its sender. None when no referral waits for them (the answer
        is an ordinary OK or NO then)."""
        case = self.store.cases.by_ref(ref)
        directory = self.roster.directory
        if case is None or case.referral != Referral.ASKED:
            return None
        if case.referral_to not in directory.organisations:
            return None  # the organisation left the directory: the deadline returns it
        # Only the receiving organisation's duty officer, whom the referral alerted, answers
        # it (and only a role her consent allows): nobody else learns her number by guessing.
        receivers = {r.id for r in directory.responders_of(case.referral_to)}
        alerted = self.store.cases.alerted(case.id)
        if responder.id not in receivers or responder.id not in alerted:
            return None
        if not case.allows(responder.role):
            return None
        n = self.store.cases.referrals(case.id)
        if not yes:
            self._return(case, n, why="declined", responder=responder.id)
            self.answers.reply(case, "declined", responder, key=f"referral_no:{n}")
            return "declined"
        before = self.store.cases.accept_referral(case.id, responder.id, case.referral_to)
        if before is None:
            return "ignored"
        self.store.audit.record(
            "referral_accepted",
            case=case.id,
            org=case.referral_to,
            sender=case.referral_from,
            responder=responder.id,
        )
        self.answers.details(case, responder, key=f"referral_taken:{n}")
        previous = self.roster.directory.responders.get(before)
        if previous is not None:
            self.answers.reply(case, "taken", previous, key=f"referred:{n}")
        return "accepted"

    def check(self, case_id: str, n: int) -> str:
        """The job at a referral's deadline: back to the sender if nobody took it."""
        case = self.store.cases.get(case_id)
        if case is None or not self._return(case, n, why="no answer in time"):
            return "void: answered"
        return "returned"

    def _return(self, case: cases.Case, n: int, why: str, **who: str) -> bool:
        """Referral n back with the sender, whose holder is told; False if answered already."""
        if not self.store.cases.return_referral(case.id, n):
            return False
        self.store.audit.record(
            "referral_returned", case=case.id, org=case.referral_to, why=why, **who
        )
        holder = self.roster.directory.responders.get(case.taken_by)
        if holder is not None and case.state == CaseState.TAKEN:  # not once it was closed
            self.outbox.about(case, "referral_back", holder, key=f"referral_back:{n}")
        return True
