"""Use-cases of alerting: plan, send, accept, decline, close, escalate, delivery status."""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from gateway import cases, templates
from gateway.channels.base import Outbound, Sender
from gateway.directory import Directory, Responder
from gateway.phone import mask
from gateway.store import Store

log = logging.getLogger(__name__)


class RetryLater(Exception):
    """A send failed in a way worth retrying on the same route; the job's Retry handles it."""


class GiveUp(Exception):
    """Every route refused the message for good; the job must fail without further retries."""


@dataclass(frozen=True)
class Timing:
    """Deadlines and send limits, in seconds (from settings)."""

    escalate_after: int = 600
    escalate_after_urgent: int = 180
    remind_every: int = 900
    retry_delays: tuple[int, ...] = (10, 30, 90)
    send_rate: int = 1
    receipt_timeout: int = 3600
    retention: int = 90 * 86400
    out_per_hour: int = 30  # loop protection: messages to one phone in an hour


def message_id(case_id: str, purpose: str, recipient: str) -> str:
    """The deterministic id of one message: the same alert to the same person is one message."""
    return hashlib.sha256(f"{case_id}|{purpose}|{recipient}".encode()).hexdigest()[:24]


class Dispatcher:
    """Alerts responders for cases and carries their answers, through the configured routes."""

    def __init__(
        self,
        store: Store,
        directory: Directory,
        senders: Sequence[Sender],
        timing: Timing = Timing(),  # noqa: B008 - frozen value object
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.store = store
        self.directory = directory
        self.senders = list(senders)
        self.timing = timing
        self.clock = clock
        self.sleep = sleep

    # ---- planning and escalation ---------------------------------------------------------------
    def plan(self, case: cases.Case) -> list[tuple[Responder, ...]]:
        """The tiers to alert for a case, from her consent and the directory."""
        duty = self.directory.duty_officer_for(case.district)
        return cases.plan_alerts(case, self.directory.responders_for(case.district), duty)

    def start(self, case_id: str) -> str:
        """Alert the first tier of a new case and start its escalation timer (idempotent)."""
        case = self.store.case(case_id)
        if case is None or case.state != "open":
            return "settled"
        tiers = self.plan(case)
        if not tiers:
            log.error("case %s: nobody to alert in district %s", case.ref, case.district)
            return "nobody"
        self.store.move_to_tier(case_id, 0)
        self._alert(case, tiers[0], "alert")
        if case.sms == "yes":
            self._acknowledge(case)
        # The timer runs from the moment the case opened, whatever the sends do.
        due = case.created + self._deadline(case)
        self.store.schedule("workers.jobs.escalate", (case_id, 1), due, f"esc-{case_id}-1")
        return "alerted"

    def escalate(self, case_id: str, tier: int) -> str:
        """Alert the next tier if nobody accepted; past the last tier, remind the duty officer."""
        case = self.store.case(case_id)
        if case is None or case.state != "open":
            return "settled"
        tiers = self.plan(case)
        if not self.store.move_to_tier(case_id, tier):
            return "already moved"
        if tier < len(tiers):
            self._alert(case, tiers[tier], "alert")
            wait = self._deadline(case)
        else:
            self._alert(case, tiers[-1], f"reminder{tier - len(tiers) + 1}")
            wait = self.timing.remind_every
        self.store.audit("escalated", case=case.id, tier=str(tier))
        nxt = tier + 1
        self.store.schedule(
            "workers.jobs.escalate", (case_id, nxt), self.clock() + wait, f"esc-{case_id}-{nxt}"
        )
        return "escalated"

    def _deadline(self, case: cases.Case) -> int:
        return cases.deadline(case, self.timing.escalate_after, self.timing.escalate_after_urgent)

    def _alert(self, case: cases.Case, tier: tuple[Responder, ...], purpose: str) -> None:
        district = self.directory.districts.get(case.district)
        self.store.mark_alerted(case.id, [r.id for r in tier])
        for responder in tier:
            lang = responder.languages[0]
            name = district.names.get(lang, case.district) if district else case.district
            template = "reminder" if purpose.startswith("reminder") else "alert"
            body = templates.render(
                template,
                lang,
                ref=case.ref,
                kind=case.kind,
                urgency=case.urgency,
                call=case.call,
                district=name,
            )
            self._queue(case.id, purpose, responder, body)

    def _acknowledge(self, case: cases.Case) -> None:
        # Only because she asked for it, one neutral text, inside her safe window.
        phone = self.store.case_phone(case.id)
        if phone is None or self.store.suppressed(phone):
            return
        mid = message_id(case.id, "ack", "survivor")
        body = templates.acknowledgement(case.lang, case.ref)
        self.store.create_message(mid, phone, body, purpose="ack", case=case.id, recipient="")
        at = cases.sms_time(case, self.clock())
        if at <= self.clock():
            self.store.enqueue_send(mid, self._retry_plan())
        else:
            self.store.schedule("workers.jobs.send_message", (mid,), at, f"send-{mid}")

    def _queue(self, case_id: str, purpose: str, responder: Responder, body: str) -> None:
        mid = message_id(case_id, purpose, responder.id)
        if templates.over_budget(body):
            log.warning("message %s needs more than %d segments", mid, templates.MAX_SEGMENTS)
        self.store.create_message(
            mid, responder.phone, body, purpose=purpose, case=case_id, recipient=responder.id
        )
        self.store.enqueue_send(mid, self._retry_plan())

    def _retry_plan(self) -> list[int]:
        # One job retry per RetryLater on every route, plus two for a worker dying mid-job
        # (RQ spends a retry on an abandoned job). RQ wants one interval per retry.
        delays = list(self.timing.retry_delays) or [1]
        total = len(delays) * len(self.senders) + 2
        return [delays[i % len(delays)] for i in range(total)]

    # ---- responders' answers -------------------------------------------------------------------
    def accept(self, responder: Responder, ref: str) -> str:
        """First OK wins: details to the winner, 'taken' to the others, 'late' to latecomers."""
        case = self._alerted_case(responder, ref, "accept")
        if case is None:
            return "ignored"
        outcome = self.store.take(case.id, responder.id)
        if outcome == "taken":
            self._reply(case, "late", responder)
            return "late"
        if outcome == "mine":
            return "mine"
        self.store.audit("accepted", case=case.id, responder=responder.id)
        phone = self.store.case_phone(case.id)
        if case.call != "none" and phone:
            self._reply(case, "details", responder, phone=phone, call=case.call)
        else:
            self._reply(case, "details_nocall", responder)
        for other in sorted(self.store.alerted(case.id) - {responder.id}):
            found = self.directory.responders.get(other)
            if found is not None:
                self._reply(case, "taken", found)
        return "won"

    def decline(self, responder: Responder, ref: str) -> str:
        """Record a NO; when the whole current tier has declined, escalate at once."""
        case = self._alerted_case(responder, ref, "decline")
        if case is None:
            return "ignored"
        declined = self.store.mark_declined(case.id, responder.id)
        self.store.audit("declined", case=case.id, responder=responder.id)
        self._reply(case, "declined", responder)
        tier = self.store.case_tier(case.id)
        tiers = self.plan(case)
        current = {r.id for r in tiers[tier]} if 0 <= tier < len(tiers) else set()
        if case.state == "open" and current and current <= declined:
            self.escalate(case.id, tier + 1)
        return "declined"

    def close(self, responder: Responder, ref: str) -> str:
        """DONE by the responder who took the case closes it."""
        case = self._alerted_case(responder, ref, "close")
        if case is None:
            return "ignored"
        if not self.store.close(case.id, responder.id, case.ref, self.timing.retention):
            self.store.audit("command_ignored", reason="not the accepter", responder=responder.id)
            return "ignored"
        self.store.audit("closed", case=case.id, responder=responder.id)
        self._reply(case, "closed", responder)
        return "closed"

    def _alerted_case(self, responder: Responder, ref: str, command: str) -> cases.Case | None:
        case = self.store.case_by_ref(ref)
        if case is None or responder.id not in self.store.alerted(case.id):
            # Nothing visible: an unalerted responder learns nothing, not even that ref exists.
            self.store.audit(
                "command_ignored", reason="not alerted", responder=responder.id, command=command
            )
            return None
        return case

    def not_understood(self, responder: Responder, inbound: str) -> None:
        """Tell a responder, in their language, that an SMS was not understood and how to write
        a command. It names no case, so it reveals nothing; its id comes from the inbound SMS
        (`inbound`: channel and provider id), so a redelivery cannot send it twice."""
        mid = message_id(inbound, "unclear", responder.id)
        body = templates.render("unclear", responder.languages[0])
        fields = {"purpose": "unclear", "case": "", "recipient": responder.id}
        if self.store.create_message(mid, responder.phone, body, **fields):
            self.store.enqueue_send(mid, self._retry_plan())

    def _reply(self, case: cases.Case, name: str, responder: Responder, **params: str) -> None:
        body = templates.render(name, responder.languages[0], ref=case.ref, **params)
        self._queue(case.id, name, responder, body)

    # ---- sending -------------------------------------------------------------------------------
    def deliver(self, mid: str) -> str:
        """Send one message through the routes in order, at most once; raise RetryLater/GiveUp."""
        message = self.store.message(mid)
        if message is None:
            return "missing"
        if message["state"] != "new" or message.get("provider_id"):
            return "already sent"  # the guard: checked before every send
        stale = self._stale(message)
        if stale:
            self.store.advance_message(mid, "dropped", error=stale)
            log.info("message %s dropped: %s", mid, stale)
            return "dropped"
        out = Outbound(mid, message["to"], message["body"])
        index = int(message.get("route_index", 0))
        while index < len(self.senders):
            sender = self.senders[index]
            if message.get("inflight") == sender.name:
                # The last attempt died mid-send: ask the provider before sending again.
                found = sender.find(out, float(message["created"]))
                if found:
                    self._sent(mid, sender.name, found)
                    return "sent (recovered)"
            self._throttle(sender.name)
            attempts = self.store.count_attempt(mid, sender.name)
            result = sender.send(out)
            self.store.clear_message_field(mid, "inflight", "inflight_at")
            message.pop("inflight", None)
            if result.ok:
                self._sent(mid, sender.name, result.provider_id)
                return "sent"
            log.warning("message %s on %s: %s", mid, sender.name, result.error)
            self.store.count_send(sender.name, "error")
            self.store.set_message(mid, error=result.error)
            if result.ambiguous:
                # The provider may have the message: the retry asks it before anything else.
                self.store.set_message(mid, inflight=sender.name)
                raise RetryLater(f"{sender.name}: {result.error} (outcome unknown)")
            last_route = index == len(self.senders) - 1
            if result.retryable and last_route and attempts <= len(self.timing.retry_delays):
                raise RetryLater(f"{sender.name}: {result.error}")
            # Permanent, exhausted, or another route can take it now: an alert should not wait.
            index += 1
            self.store.set_message(mid, route_index=index)
        self.store.advance_message(mid, "failed")
        raise GiveUp(f"message {mid}: every route failed")

    def _stale(self, message: dict[str, str], count: bool = True) -> str:
        if count and not self.store.within_rate("out", message["to"], self.timing.out_per_hour):
            return "loop protection: too many messages to this phone this hour"
        purpose = message.get("purpose", "")
        if purpose == "ack":
            case = self.store.case(message.get("case", ""))
            if self.store.suppressed(message["to"]):
                return "she asked for no more messages"
            if case is None or cases.sms_time(case, self.clock()) > self.clock():
                return "outside her safe window"
        if purpose == "alert" or purpose.startswith("reminder"):
            case = self.store.case(message.get("case", ""))
            if case is None or case.state != "open":
                return "case no longer waiting for a responder"
        return ""

    def _throttle(self, route: str) -> None:
        while (wait := self.store.send_slot(route, self.timing.send_rate)) > 0:
            self.sleep(wait)

    def _sent(self, mid: str, route: str, provider_id: str) -> None:
        self.store.set_message(mid, provider_id=provider_id, route=route, sent_at=self.clock())
        self.store.advance_message(mid, "queued")
        self.store.count_send(route, "queued")
        self.store.record_provider(route, provider_id, mid)
        due = self.clock() + self.timing.receipt_timeout
        self.store.schedule("workers.jobs.expire_receipt", (mid,), due, f"rcpt-{mid}")
        log.info("message %s handed to %s", mid, route)

    # ---- replay ------------------------------------------------------------------------------
    def replay(self, job_id: str, who: str, why: str) -> str:
        """Requeue one failed job once, safely; returns what happened, in words."""
        if not self.store.is_failed(job_id):
            return "not in the failed registry: nothing to replay"
        if not job_id.startswith("send-"):
            self.store.requeue_failed(job_id, [10, 30, 60])
            self.store.audit("replayed", job=job_id, by=who, why=why)
            return "requeued"
        mid = job_id[len("send-") :]
        message = self.store.message(mid)
        if message is None:
            self.store.discard_failed(job_id)
            return "dropped: the message no longer exists"
        if message.get("provider_id") or message["state"] not in ("new", "failed"):
            self.store.discard_failed(job_id)
            self.store.audit("replay_refused", message=mid, by=who, why="already sent")
            return "dropped: already handed to a provider, not sent again"
        stale = self._stale(message, count=False)
        if stale:
            self.store.discard_failed(job_id)
            self.store.advance_message(mid, "dropped", error=stale)
            self.store.audit("replay_refused", message=mid, by=who, why=stale)
            return f"dropped: {stale}"
        self.store.reset_message(mid)
        self.store.requeue_failed(job_id, self._retry_plan())
        self.store.audit("replayed", message=mid, case=message.get("case", ""), by=who, why=why)
        return "requeued"

    # ---- delivery status -----------------------------------------------------------------------
    def status(self, mid: str, state: str, error: str = "") -> bool:
        """Apply a delivery status (never backwards); True when the state moved."""
        fields = {"error": error} if error else {}
        moved = self.store.advance_message(mid, state, **fields)
        if moved:
            log.info("message %s is %s", mid, state)
            message = self.store.message(mid)
            if message is not None:
                self.store.count_send(message.get("route", "none"), state)
        return moved

    def expire_receipt(self, mid: str) -> str:
        """A message still without a delivery receipt is 'unknown', never assumed delivered."""
        message = self.store.message(mid)
        if message and message["state"] in ("queued", "sent"):
            self.store.advance_message(mid, "unknown")
            log.info(
                "message %s: no receipt in time, state unknown (to %s)", mid, mask(message["to"])
            )
            return "unknown"
        return message["state"] if message else "missing"
