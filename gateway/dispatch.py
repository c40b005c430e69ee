"""Use-cases of alerting: plan, send, accept, decline, close, escalate, delivery status."""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from gateway import cases, templates
from gateway.cases import CaseState
from gateway.channels.base import Outbound, Sender
from gateway.directory import Directory, Responder
from gateway.jobs import Jobs, sent_message
from gateway.message import SENDABLE, MessageState
from gateway.phone import mask
from gateway.store import Store

log = logging.getLogger(__name__)


class RetryLater(Exception):
    """A send failed in a way worth retrying on the same route; the job's Retry handles it."""


class GiveUp(Exception):
    """Every route refused the message for good; the job must fail without further retries."""


@dataclass(frozen=True)
class Timing:
    """Deadlines and send limits, in seconds (from settings); retries are the jobs' policy."""

    escalate_after: int = 600
    escalate_after_urgent: int = 180
    remind_every: int = 900
    send_rate: int = 1
    receipt_timeout: int = 3600
    retention: int = 90 * 86400
    # Alerts sent one by one to a responder in an hour; past it they go out as digests.
    # For a phone that is no responder (her acknowledgement) it is a hard limit: loop protection.
    out_per_hour: int = 30
    digest_every: int = 60  # at most one digest per responder in this many seconds
    slow_route_for: int = 60  # after a timeout, sends skip that route this long (a later exists)


LOOP = "loop protection: too many messages to this phone this hour"


def _is_alert(purpose: str) -> bool:
    return purpose == "alert" or purpose.startswith("reminder")


def message_id(case_id: str, purpose: str, recipient: str) -> str:
    """The deterministic id of one message: the same alert to the same person is one message."""
    return hashlib.sha256(f"{case_id}|{purpose}|{recipient}".encode()).hexdigest()[:24]


class Dispatcher:
    """Alerts responders for cases and carries their answers, through the configured routes."""

    def __init__(
        self,
        store: Store,
        jobs: Jobs,
        directory: Directory,
        senders: Sequence[Sender],
        timing: Timing = Timing(),  # noqa: B008 - frozen value object
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.store = store
        self.jobs = jobs
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
        if case is None or case.state != CaseState.OPEN:
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
        due = case.created + self._wait_after(case, 0, tiers)
        self.jobs.escalation(case_id, 1, due, self._escalation_label(case, 1, tiers))
        return "alerted"

    def escalate(self, case_id: str, tier: int) -> str:
        """Alert the next tier if nobody accepted; past the last tier, remind the duty officer."""
        case = self.store.case(case_id)
        if case is None or case.state != CaseState.OPEN:
            return "settled"
        tiers = self.plan(case)
        if not self.store.move_to_tier(case_id, tier):
            return "already moved"
        if tier < len(tiers):
            self._alert(case, tiers[tier], "alert")
        else:
            self._alert(case, tiers[-1], f"reminder{tier - len(tiers) + 1}")
        wait = self._wait_after(case, tier, tiers)
        self.store.audit("escalated", case=case.id, tier=str(tier))
        nxt = tier + 1
        about = self._escalation_label(case, nxt, tiers)
        self.jobs.escalation(case_id, nxt, self.clock() + wait, about)
        # Her case still waits: alerts that every route refused go again (the escalation and
        # reminder cadence is their backoff), through the send guard.
        self.redrive()
        return "escalated"

    @staticmethod
    def _escalation_label(case: cases.Case, step: int, tiers: Sequence[tuple]) -> str:
        """An escalation job as the dashboard names it: the case reference and what it does."""
        if step < len(tiers):
            if all(r.role == "duty" for r in tiers[step]):
                return f"alert the duty officer of case {case.ref}"
            return f"escalate case {case.ref} to tier {step + 1} of {len(tiers)}"
        return f"remind the duty officer of case {case.ref} (reminder {step - len(tiers) + 1})"

    def _deadline(self, case: cases.Case) -> int:
        return cases.deadline(case, self.timing.escalate_after, self.timing.escalate_after_urgent)

    def _wait_after(self, case: cases.Case, tier: int, tiers: Sequence[tuple]) -> int:
        """Seconds from alerting `tier` to the next step: the tier's deadline while a next tier
        exists; from the last tier (the duty officer) on, the next step is a reminder."""
        return self._deadline(case) if tier < len(tiers) - 1 else self.timing.remind_every

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
            self._enqueue(mid)
        else:
            self.jobs.send_later(mid, at, f"send {self.store.message_label(mid)}")

    def _queue(
        self, case_id: str, purpose: str, responder: Responder, body: str, key: str = ""
    ) -> None:
        # `key` names the message when two purposes must be one SMS ("late" or "taken").
        mid = message_id(case_id, key or purpose, responder.id)
        if templates.over_budget(body):
            log.warning("message %s needs more than %d segments", mid, templates.MAX_SEGMENTS)
        self.store.create_message(
            mid, responder.phone, body, purpose=purpose, case=case_id, recipient=responder.id
        )
        self._enqueue(mid)

    def _enqueue(self, mid: str) -> bool:
        """Queue a message's send job; False when it exists already."""
        about = f"send {self.store.message_label(mid)}"
        return self.jobs.send(mid, len(self.senders), about)

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
        if case.state == CaseState.OPEN and current and current <= declined:
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
            self._enqueue(mid)

    def _reply(self, case: cases.Case, name: str, responder: Responder, **params: str) -> None:
        body = templates.render(name, responder.languages[0], ref=case.ref, **params)
        # A loser hears once that the case went to someone else: "taken" when the winner's
        # answer came first, "late" when her own OK did; whichever is created first is sent.
        key = "lost" if name in ("taken", "late") else ""
        self._queue(case.id, name, responder, body, key=key)

    # ---- sending -------------------------------------------------------------------------------
    def deliver(self, mid: str) -> str:
        """Send one message through the routes in order, at most once; raise RetryLater/GiveUp.

        An ambiguous attempt (a read timeout: the provider may have it) is handled per purpose:
        a message to her is never risked twice (the retry asks the provider first); a message to
        a responder goes to the next route at once, since an extra SMS beats silence.
        """
        message = self.store.message(mid)
        if message is None:
            return "missing"
        if message["state"] != MessageState.NEW or message.get("provider_id"):
            return "already sent"  # the guard: checked before every send
        stale = self._stale(message)
        if stale:
            self._drop(mid, message, stale, volume=stale == LOOP)
            return "dropped"
        if self._over_volume(mid, message):
            return "held for a digest"
        out = Outbound(mid, message["to"], message["body"])
        if self._recover(mid, message, out):
            return "sent (recovered)"
        purpose = message.get("purpose", "")
        index = int(message.get("route_index", 0))
        while index < len(self.senders):
            sender = self.senders[index]
            later = index < len(self.senders) - 1
            if later and self.store.route_slow(sender.name):
                # It timed out a moment ago: do not make this message wait for it too.
                index += 1
                self.store.set_message(mid, route_index=index)
                continue
            self._throttle(sender.name)
            attempts = self.store.count_attempt(mid, sender.name)
            result = sender.send(out)
            if result.ok:
                self._sent(mid, sender, result.provider_id)
                return "sent"
            log.warning("message %s on %s: %s", mid, sender.name, result.error)
            self.store.count_send(sender.name, "error")
            if result.ambiguous:
                self.store.mark_slow(sender.name, self.timing.slow_route_for)
                if purpose == "ack" or not later:
                    # The provider may have the message: the retry asks it before anything else.
                    self.store.set_message(mid, error=result.error)
                    raise RetryLater(f"{sender.name}: {result.error} (outcome unknown)")
                self.store.send_failed(mid, result.error, unsure=sender.name)
            else:
                self.store.send_failed(mid, result.error)
                retries = self.jobs.retry.per_route()
                if result.retryable and not later and attempts <= retries:
                    raise RetryLater(f"{sender.name}: {result.error}")
            # Permanent, exhausted, or another route can take it now: an alert should not wait.
            index += 1
            self.store.set_message(mid, route_index=index)
        self.store.advance_message(mid, MessageState.FAILED)
        self._outage(message)
        raise GiveUp(f"message {mid}: every route failed")

    def _recover(self, mid: str, message: dict[str, str], out: Outbound) -> bool:
        """Ask every route an earlier attempt may have reached; True when one has the message."""
        asked = {message.get("inflight", "")} | {
            k[len("unsure:") :] for k in message if k.startswith("unsure:")
        }
        for sender in self.senders:
            if sender.name not in asked:
                continue
            try:
                found = sender.find(out, float(message["created"]))
            except ConnectionError:
                if message.get("purpose") == "ack":
                    raise  # never risk a second SMS to her: try again later
                log.warning("message %s: %s cannot say if it has it", mid, sender.name)
                continue  # a responder: an extra SMS beats silence
            if found:
                self._sent(mid, sender, found)
                return True
            self.store.clear_unsure(mid, sender.name)
        return False

    def _stale(self, message: dict[str, str], count: bool = True) -> str:
        purpose = message.get("purpose", "")
        if count and not message.get("recipient"):
            # Not a registered responder: a hard limit against loops with machines.
            if not self.store.within_rate("out", message["to"], self.timing.out_per_hour):
                return LOOP
        if purpose == "ack":
            case = self.store.case(message.get("case", ""))
            if self.store.suppressed(message["to"]):
                return "she asked for no more messages"
            if case is None or cases.sms_time(case, self.clock()) > self.clock():
                return "outside her safe window"
        if _is_alert(purpose):
            case = self.store.case(message.get("case", ""))
            if case is None or case.state != CaseState.OPEN:
                return "case no longer waiting for a responder"
        return ""

    def _drop(self, mid: str, message: dict[str, str], why: str, volume: bool) -> None:
        """A message that will not be sent: state, audit, metric; volume drops also for /healthz."""
        if not self.store.advance_message(mid, MessageState.DROPPED, error=why):
            return
        self.store.audit("message_dropped", message=mid, case=message.get("case", ""), why=why)
        self.store.count_send("none", MessageState.DROPPED)
        if volume:
            self.store.record_unsent(mid, self.clock())
            log.warning("message %s dropped: %s", mid, why)
        else:
            log.info("message %s dropped: %s", mid, why)

    # ---- volume: digests instead of silence --------------------------------------------------
    def _over_volume(self, mid: str, message: dict[str, str]) -> bool:
        """Hold an alert for a digest when its responder had too many this hour; True if held."""
        responder_id = message.get("recipient", "")
        if not responder_id or not _is_alert(message.get("purpose", "")):
            return False
        if message.get("counted"):
            return False  # a retry of a message already let through
        self.store.set_message(mid, counted=1)
        if self.store.within_rate("out", message["to"], self.timing.out_per_hour):
            return False
        now = self.clock()
        if not self.store.hold(mid, responder_id, now):
            return False
        case = self.store.case(message.get("case", ""))
        self.store.audit(
            "alert_held", message=mid, case=message.get("case", ""), responder=responder_id
        )
        self.store.count_send("digest", MessageState.HELD)
        log.warning("message %s held for a digest: its responder is saturated", mid)
        window = int(now // self.timing.digest_every)
        self.jobs.digest(responder_id, window, (window + 1) * self.timing.digest_every)
        if case is not None:
            self._cover(case, responder_id)
            self._notify_duty(case.district, "flood", f"flood:{case.district}", 3600)
        return True

    def _cover(self, case: cases.Case, saturated: str) -> None:
        """Alert the next responder of the plan not yet alerted, while one is saturated."""
        alerted = self.store.alerted(case.id)
        for tier in self.plan(case):
            for responder in tier:
                if responder.id != saturated and responder.id not in alerted:
                    self.store.audit(
                        "alert_covered", case=case.id, responder=responder.id, saturated=saturated
                    )
                    self._alert(case, (responder,), "alert")
                    return

    def _notify_duty(self, district: str, name: str, what: str, every: int) -> None:
        """One notice to the district's duty officer per `what` and `every` seconds."""
        duty = self.directory.duty_officer_for(district)
        if duty is None or not self.store.notice_once(what, every):
            return
        names = self.directory.districts.get(district)
        lang = duty.languages[0]
        label = names.names.get(lang, district) if names else district
        body = templates.notice(name, lang, district=label)
        self.store.audit("duty_notified", notice=name, district=district, responder=duty.id)
        self._queue("", name, duty, body, key=f"{what}:{int(self.clock())}")

    def digest(self, responder_id: str, window: int) -> str:
        """One SMS listing the alerts held for a responder (as many as fit two segments)."""
        responder = self.directory.responders.get(responder_id)
        held = self.store.held(responder_id)
        mid = message_id(f"digest-{window}", "digest", responder_id)
        if responder is None:
            for other in held:
                self._drop(other, self.store.message(other) or {}, "responder removed", True)
            self.store.release_held(responder_id, held)
            return "nobody"
        done, refs = [], []
        lang = responder.languages[0]
        if self.store.message(mid) is None:
            for other in held:
                message = self.store.message(other)
                if message is None or message["state"] != MessageState.HELD:
                    if message is None or message.get("digest") != mid:
                        done.append(other)
                        continue
                case = self.store.case(message.get("case", ""))
                if case is None or case.state != CaseState.OPEN:
                    self._drop(other, message, "case no longer waiting for a responder", False)
                    done.append(other)
                    continue
                if templates.over_budget(templates.digest(lang, [*refs, case.ref])):
                    break
                if message.get("digest") != mid and not self.store.advance_message(
                    other, MessageState.COALESCED, digest=mid
                ):
                    continue
                refs.append(case.ref)
                done.append(other)
            if refs:
                self.store.create_message(
                    mid,
                    responder.phone,
                    templates.digest(lang, refs),
                    purpose="digest",
                    case="",
                    recipient=responder.id,
                )
                self.store.audit("digest", message=mid, responder=responder.id, alerts=len(refs))
        self.store.release_held(responder_id, done)
        if self.store.message(mid) is not None:
            self._enqueue(mid)
        if self.store.held(responder_id):
            now = self.clock()
            nxt = int(now // self.timing.digest_every) + 1
            self.jobs.digest(responder_id, nxt, nxt * self.timing.digest_every)
        return f"{len(refs)} in a digest"

    # ---- both routes down: keep trying while her case waits, and say so once ---------------
    def _outage(self, message: dict[str, str]) -> None:
        case = self.store.case(message.get("case", "")) if message.get("case") else None
        if case is not None and message.get("purpose") != "outage":
            self._notify_duty(case.district, "outage", "outage", 3600)

    def redrive(self) -> list[str]:
        """Requeue failed sends of alerts whose case still waits (and the duty notices)."""
        again = []
        for job_id in self.jobs.failed():
            mid = sent_message(job_id)
            if mid is None:
                continue
            message = self.store.message(mid)
            if message is None or message["state"] != MessageState.FAILED:
                continue
            purpose = message.get("purpose", "")
            if purpose.startswith("reminder"):
                continue  # the next reminder goes anyway; a stale one would only repeat it
            if not _is_alert(purpose):
                # Digests and notices to the duty officer: for a day (an alert's case settles).
                recent = float(message.get("created", 0)) > self.clock() - 86400
                if purpose not in ("digest", "outage", "flood") or not recent:
                    continue
            if self.replay(job_id, "gateway", "re-drive while the case waits") == "requeued":
                again.append(job_id)
        return again

    def _throttle(self, route: str) -> None:
        while (wait := self.store.send_slot(route, self.timing.send_rate)) > 0:
            self.sleep(wait)

    def _sent(self, mid: str, sender: Sender, provider_id: str) -> None:
        # One write records the provider's id and ends "in flight": no window for a resend.
        route = sender.name
        self.store.record_sent(mid, route, provider_id, self.clock())
        self.store.count_send(route, MessageState.QUEUED)
        log.info("message %s handed to %s", mid, route)
        if sender.delivers_on_handover:
            # Forward only, counted like a provider's receipt.
            self.status(mid, MessageState.DELIVERED)
            return
        due = self.clock() + self.timing.receipt_timeout
        about = f"mark {self.store.message_label(mid)} unknown if no receipt came"
        self.jobs.receipt(mid, due, about)

    # ---- replay ------------------------------------------------------------------------------
    def replay(self, job_id: str, who: str, why: str) -> str:
        """Requeue one failed job once, safely; returns what happened, in words.

        A send whose earlier attempt may have reached a provider keeps that mark: the requeued
        job asks that provider before it sends anything.
        """
        if not self.jobs.is_failed(job_id):
            return "not in the failed registry: nothing to replay"
        mid = sent_message(job_id)
        if mid is None:
            self.jobs.requeue_failed(job_id, self.jobs.retry.other())
            self.store.audit("replayed", job=job_id, by=who, why=why)
            return "requeued"
        message = self.store.message(mid)
        if message is None:
            self.jobs.discard_failed(job_id)
            return "dropped: the message no longer exists"
        if message.get("provider_id") or message["state"] not in SENDABLE:
            self.jobs.discard_failed(job_id)
            self.store.audit("replay_refused", message=mid, by=who, why="already sent")
            return "dropped: already handed to a provider, not sent again"
        stale = self._stale(message, count=False)
        if stale:
            self.jobs.discard_failed(job_id)
            self._drop(mid, message, stale, volume=False)
            self.store.audit("replay_refused", message=mid, by=who, why=stale)
            return f"dropped: {stale}"
        self.store.reset_message(mid)
        self.jobs.requeue_failed(job_id, self.jobs.retry.send(len(self.senders)))
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
        if message and message["state"] in (MessageState.QUEUED, MessageState.SENT):
            self.store.advance_message(mid, MessageState.UNKNOWN)
            log.info(
                "message %s: no receipt in time, state unknown (to %s)", mid, mask(message["to"])
            )
            return MessageState.UNKNOWN.value  # the job's result: a plain string
        return message["state"] if message else "missing"
