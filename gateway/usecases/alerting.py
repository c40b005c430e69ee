"""Alerting a case: the plan of tiers, the first alerts, escalation and reminders, and her
acknowledgement when she asked for one."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from gateway import cases, templates
from gateway.cases import CaseState
from gateway.directory import Responder
from gateway.jobs import Jobs
from gateway.store import Store
from gateway.usecases.outbox import Outbox, message_id
from gateway.usecases.replay import Replay
from gateway.usecases.roster import Roster
from gateway.usecases.timing import Timing

log = logging.getLogger(__name__)


class Alerting:
    """Alerts the tiers of a case in turn until someone accepts it."""

    def __init__(
        self,
        store: Store,
        jobs: Jobs,
        roster: Roster,
        outbox: Outbox,
        replay: Replay,
        timing: Timing,
        clock: Callable[[], float],
    ):
        self.store = store
        self.jobs = jobs
        self.roster = roster
        self.outbox = outbox
        self.replay = replay
        self.timing = timing
        self.clock = clock

    def plan(self, case: cases.Case) -> list[tuple[Responder, ...]]:
        """The tiers to alert for a case, from her consent and the directory."""
        directory = self.roster.directory
        duty = directory.duty_officer_for(case.district)
        return cases.plan_alerts(case, directory.responders_for(case.district), duty)

    def start(self, case_id: str) -> str:
        """Alert the first tier of a new case and start its escalation timer (idempotent)."""
        case = self.store.cases.get(case_id)
        if case is None or case.state != CaseState.OPEN:
            return "settled"
        tiers = self.plan(case)
        if self.store.cases.move_to_tier(case_id, 0):  # the first planning of this case
            # Written here rather than on her hop, which stays one transaction.
            self.store.audit.record(
                "case_opened",
                case=case.id,
                kind=case.kind,
                district=case.district,
                channel=case.channel,
            )
        if not tiers:
            log.error("case %s: nobody to alert in district %s", case.ref, case.district)
            return "nobody"
        self.alert(case, tiers[0], "alert")
        if case.sms == "yes":
            self._acknowledge(case)
        # The timer runs from the moment the case opened, whatever the sends do.
        due = case.created + self._wait_after(case, 0, tiers)
        self.jobs.escalation(case_id, 1, due, self._escalation_label(case, 1, tiers))
        return "alerted"

    def escalate(self, case_id: str, tier: int) -> str:
        """Alert the next tier if nobody accepted; past the last tier, remind the duty officer."""
        case = self.store.cases.get(case_id)
        if case is None or case.state != CaseState.OPEN:
            return "settled"
        tiers = self.plan(case)
        if not self.store.cases.move_to_tier(case_id, tier):
            return "already moved"
        if tier < len(tiers):
            self.alert(case, tiers[tier], "alert")
        else:
            self.alert(case, tiers[-1], f"reminder{tier - len(tiers) + 1}")
        wait = self._wait_after(case, tier, tiers)
        self.store.audit.record("escalated", case=case.id, tier=str(tier))
        nxt = tier + 1
        about = self._escalation_label(case, nxt, tiers)
        self.jobs.escalation(case_id, nxt, self.clock() + wait, about)
        # Her case still waits: alerts that every route refused go again (the escalation and
        # reminder cadence is their backoff), through the send guard.
        self.replay.redrive()
        return "escalated"

    def alert(self, case: cases.Case, tier: tuple[Responder, ...], purpose: str) -> None:
        """One alert (or reminder) to each responder of a tier, in their language."""
        self.store.cases.mark_alerted(case.id, [r.id for r in tier])
        for responder in tier:
            lang = responder.languages[0]
            template = "reminder" if purpose.startswith("reminder") else "alert"
            body = templates.render(
                template,
                lang,
                ref=case.ref,
                kind=case.kind,
                urgency=case.urgency,
                call=case.call,
                district=self.roster.directory.place(case.district, lang),
            )
            self.outbox.queue(case.id, purpose, responder, body)

    def cover(self, case: cases.Case, saturated: str) -> None:
        """Alert the next responder of the plan not yet alerted, while one is saturated."""
        alerted = self.store.cases.alerted(case.id)
        for tier in self.plan(case):
            for responder in tier:
                if responder.id != saturated and responder.id not in alerted:
                    self.store.audit.record(
                        "alert_covered", case=case.id, responder=responder.id, saturated=saturated
                    )
                    self.alert(case, (responder,), "alert")
                    return

    @staticmethod
    def _escalation_label(case: cases.Case, step: int, tiers: Sequence[tuple]) -> str:
        """An escalation job as the dashboard names it: the case reference and what it does."""
        if step < len(tiers):
            if all(r.role == "duty" for r in tiers[step]):
                return f"alert the duty officer of case {case.ref}"
            return f"escalate case {case.ref} to tier {step + 1} of {len(tiers)}"
        return f"remind the duty officer of case {case.ref} (reminder {step - len(tiers) + 1})"

    def _wait_after(self, case: cases.Case, tier: int, tiers: Sequence[tuple]) -> int:
        """Seconds from alerting `tier` to the next step: the tier's deadline while a next tier
        exists; from the last tier (the duty officer) on, the next step is a reminder."""
        if tier < len(tiers) - 1:
            return cases.deadline(
                case, self.timing.escalate_after, self.timing.escalate_after_urgent
            )
        return self.timing.remind_every

    def _acknowledge(self, case: cases.Case) -> None:
        # Only because she asked for it, one neutral text, inside her safe window.
        phone = self.store.cases.phone(case.id)
        if phone is None or self.store.consent.suppressed(phone):
            return
        mid = message_id(case.id, "ack", "survivor")
        body = templates.acknowledgement(case.lang, case.ref)
        self.store.messages.create(mid, phone, body, purpose="ack", case=case.id, recipient="")
        at = cases.sms_time(case, self.clock())
        if at <= self.clock():
            self.outbox.enqueue(mid)
        else:
            self.jobs.send_later(mid, at, f"send {self.store.messages.label(mid)}")
