"""Responders' answers: OK (first one wins), NO (a tier that all declined escalates at once),
DONE (the accepter closes), and a reply to what was not understood."""

from __future__ import annotations

from gateway import cases, templates
from gateway.cases import CaseState
from gateway.directory import Responder
from gateway.store import Store
from gateway.usecases.alerting import Alerting
from gateway.usecases.outbox import Outbox, message_id
from gateway.usecases.roster import Roster
from gateway.usecases.timing import Timing


class Answers:
    """Carries a responder's answer to a case they were alerted for."""

    def __init__(
        self, store: Store, roster: Roster, outbox: Outbox, alerting: Alerting, timing: Timing
    ):
        self.store = store
        self.roster = roster
        self.outbox = outbox
        self.alerting = alerting
        self.timing = timing

    def accept(self, responder: Responder, ref: str) -> str:
        """First OK wins: details to the winner, 'taken' to the others, 'late' to latecomers."""
        case = self._alerted_case(responder, ref, "accept")
        if case is None:
            return "ignored"
        outcome = self.store.cases.take(case.id, responder.id)
        if outcome == "taken":
            self.reply(case, "late", responder)
            return "late"
        if outcome == "mine":
            return "mine"
        self.store.audit.record("accepted", case=case.id, responder=responder.id)
        self.details(case, responder)
        for other in sorted(self.store.cases.alerted(case.id) - {responder.id}):
            found = self.roster.directory.responders.get(other)
            if found is not None:
                self.reply(case, "taken", found)
        return "won"

    def decline(self, responder: Responder, ref: str) -> str:
        """Record a NO; when the whole current tier has declined, escalate at once."""
        case = self._alerted_case(responder, ref, "decline")
        if case is None:
            return "ignored"
        declined = self.store.cases.mark_declined(case.id, responder.id)
        self.store.audit.record("declined", case=case.id, responder=responder.id)
        self.reply(case, "declined", responder)
        tier = self.store.cases.tier(case.id)
        tiers = self.alerting.plan(case)
        current = {r.id for r in tiers[tier]} if 0 <= tier < len(tiers) else set()
        if case.state == CaseState.OPEN and current and current <= declined:
            self.alerting.escalate(case.id, tier + 1)
        return "declined"

    def record_aid(self, responder: Responder, ref: str, kinds: tuple[str, ...]) -> str:
        """AID <ref> <codes> by the responder who took the case: the kinds of aid given are
        added to it (nothing else: no words, no names) and confirmed to them."""
        case = self._alerted_case(responder, ref, "aid")
        if case is None or self._add_aid(case, kinds, responder.id) is None:
            return "ignored"
        return "recorded"

    def _add_aid(self, case: cases.Case, kinds: tuple[str, ...], by: str, reply: bool = True):
        """The case's aid after adding these kinds; None (audited) when it is not `by`'s."""
        aid = self.store.cases.record_aid(case.id, kinds, by=by)
        if aid is None:
            self.store.audit.record("command_ignored", reason="not the accepter", responder=by)
            return None
        self.store.audit.record("aid_recorded", case=case.id, responder=by, aid=",".join(kinds))
        holder = self.roster.directory.responders.get(by)
        if reply and holder is not None:
            codes = templates.aid_codes(holder.languages[0], aid)
            key = "aid_recorded:" + ",".join(aid)  # one SMS per change of what is recorded
            self.reply(case, "aid_recorded", holder, key=key, aid=codes)
        return aid

    def explain(self, responder: Responder, inbound: str, name: str, ref: str = "") -> None:
        """How to write a command, in the responder's language (`name`: aid_codes after an AID
        or DONE whose code names no aid, refer_how, meet_how; its example uses their reference,
        or 1234); its id comes from the inbound SMS, as not_understood()'s."""
        body = templates.render(name, responder.languages[0], ref=ref or "1234")
        self._answer(responder, inbound, name, body)

    def close(self, responder: Responder, ref: str, aid: tuple[str, ...] = ()) -> str:
        """DONE by the responder who took the case closes it; DONE with codes records that aid
        first (the "closed" reply is the one confirmation)."""
        case = self._alerted_case(responder, ref, "close")
        if case is None:
            return "ignored"
        if aid and self._add_aid(case, aid, responder.id, reply=False) is None:
            return "ignored"
        if not self.store.cases.close(case.id, responder.id, case.ref, self.timing.retention):
            self.store.audit.record(
                "command_ignored", reason="not the accepter", responder=responder.id
            )
            return "ignored"
        self.store.audit.record("closed", case=case.id, responder=responder.id)
        self.reply(case, "closed", responder)
        return "closed"

    def close_for(self, case: cases.Case, by: str, reason: str) -> bool:
        """An operator closes an open or taken case, with a reason; its holder is told."""
        if not self.store.cases.close(case.id, "", case.ref, self.timing.retention):
            return False
        self.store.audit.record("closed_by_operator", case=case.id, by=by, reason=reason)
        holder = self.roster.directory.responders.get(case.taken_by)
        if holder is not None:
            self.reply(case, "closed", holder, key="closed:" + by)
        return True

    def hand_over(self, case: cases.Case, responder: Responder, by: str) -> bool:
        """An operator makes the case this responder's: they get its details as if they had
        answered OK (and may close it with DONE); a previous holder hears it went elsewhere."""
        before = self.store.cases.hand_over(case.id, responder.id)
        if before is None:
            return False
        self.store.audit.record(
            "handed_over", case=case.id, responder=responder.id, previous=before, by=by
        )
        # A second hand-over to the same responder is a new message.
        self.details(case, responder, key=f"handed:{before}")
        previous = self.roster.directory.responders.get(before)
        if previous is not None:
            self.reply(case, "taken", previous, key=f"handed:{responder.id}")
        return True

    def not_understood(self, responder: Responder, inbound: str) -> None:
        """Tell a responder, in their language, that an SMS was not understood and how to write
        a command. It names no case, so it reveals nothing; its id comes from the inbound SMS
        (`inbound`: channel and provider id), so a redelivery cannot send it twice."""
        self.explain(responder, inbound, "unclear")

    def _answer(self, responder: Responder, inbound: str, purpose: str, body: str) -> None:
        """An answer to one inbound SMS that names no case; a redelivery cannot send it twice."""
        mid = message_id(inbound, purpose, responder.id)
        fields = {"purpose": purpose, "case": "", "recipient": responder.id}
        if self.store.messages.create(mid, responder.phone, body, **fields):
            self.outbox.enqueue(mid)

    def _alerted_case(self, responder: Responder, ref: str, command: str) -> cases.Case | None:
        case = self.store.cases.by_ref(ref)
        if case is None or responder.id not in self.store.cases.alerted(case.id):
            # Nothing visible: an unalerted responder learns nothing, not even that ref exists.
            self.store.audit.record(
                "command_ignored", reason="not alerted", responder=responder.id, command=command
            )
            return None
        return case

    def details(self, case: cases.Case, responder: Responder, key: str = "") -> None:
        """The case is theirs: her number and when to call, if she said calls are safe."""
        phone = self.store.cases.phone(case.id)
        if case.call != "none" and phone:
            self.reply(case, "details", responder, key=key, phone=phone, call=case.call)
        else:
            self.reply(case, "details_nocall", responder, key=key)

    def reply(
        self, case: cases.Case, name: str, responder: Responder, key: str = "", **params: str
    ) -> None:
        """The SMS `name` about the case to a responder, in their language."""
        # A loser hears once that the case went to someone else: "taken" when the winner's
        # answer came first, "late" when her own OK did; whichever is created first is sent.
        key = key or ("lost" if name in ("taken", "late") else "")
        self.outbox.about(case, name, responder, key, **params)
