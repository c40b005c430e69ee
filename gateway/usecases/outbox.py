"""Messages on their way out: one id per message, stored and queued once; the send guard's
"is it still worth sending?"; drops; notices to a district's duty officer."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable

from gateway import cases, groups, templates
from gateway.cases import CaseState
from gateway.directory import Responder
from gateway.jobs import Jobs
from gateway.message import MessageState
from gateway.store import Store
from gateway.usecases.roster import Roster
from gateway.usecases.timing import Timing

log = logging.getLogger(__name__)

LOOP = "loop protection: too many messages to this phone this hour"


def is_alert(purpose: str) -> bool:
    """An alert or a reminder of one: worth sending only while its case waits."""
    return purpose == "alert" or purpose.startswith("reminder")


def message_id(case_id: str, purpose: str, recipient: str) -> str:
    """The deterministic id of one message: the same alert to the same person is one message."""
    return hashlib.sha256(f"{case_id}|{purpose}|{recipient}".encode()).hexdigest()[:24]


class Outbox:
    """Stores a message once and queues its send job once, through `routes` routes."""

    def __init__(
        self,
        store: Store,
        jobs: Jobs,
        roster: Roster,
        routes: int,
        timing: Timing,
        clock: Callable[[], float],
    ):
        self.store = store
        self.jobs = jobs
        self.roster = roster
        self.routes = routes
        self.timing = timing
        self.clock = clock

    def queue(
        self,
        case_id: str,
        purpose: str,
        responder: Responder,
        body: str,
        key: str = "",
        first_route: int = 0,
        enqueue: bool = True,
    ) -> str:
        """Store a message to a responder and queue its send (`key` names the message when two
        purposes must be one SMS: "late" or "taken"; `first_route` skips routes known to fail;
        without `enqueue`, the caller sends it, or enqueues it when it could not); its id."""
        mid = message_id(case_id, key or purpose, responder.id)
        if templates.over_budget(body):
            log.warning("message %s needs more than %d segments", mid, templates.MAX_SEGMENTS)
        fields = {"route_index": str(first_route)} if first_route else {}
        self.store.messages.create(
            mid,
            responder.phone,
            body,
            purpose=purpose,
            case=case_id,
            recipient=responder.id,
            **fields,
        )
        if enqueue:
            self.enqueue(mid)
        return mid

    def about(self, case: cases.Case, name: str, to: Responder, key: str, **params: str) -> None:
        """The SMS `name` about a case to a responder, in their language, its district named
        as they read it; queued once per `key`."""
        lang = to.languages[0]
        place = self.roster.directory.place(case.district, lang)
        body = templates.render(name, lang, ref=case.ref, district=place, **params)
        self.queue(case.id, name, to, body, key=key)

    def enqueue(self, mid: str) -> bool:
        """Queue a message's send job; False when it exists already."""
        about = f"send {self.store.messages.label(mid)}"
        return self.jobs.send(mid, self.routes, about)

    def stale(self, message: dict[str, str], count: bool = True) -> str:
        """Why a message should no longer go out ('' when it should); `count` spends one of
        the hour's sends to a phone that is no responder."""
        purpose = message.get("purpose", "")
        # A member's messages are not counted under her number's hash (that would tie her
        # record to any profile of the same number); they are bounded otherwise: one
        # confirmation ever, then only what coordinators send.
        if count and not message.get("recipient") and purpose not in groups.TO_MEMBERS:
            # Not a registered responder: a hard limit against loops with machines.
            if not self.store.rates.within("out", message["to"], self.timing.out_per_hour):
                return LOOP
        if purpose == "ack":
            case = self.store.cases.get(message.get("case", ""))
            if self.store.consent.suppressed(message["to"]):
                return "she asked for no more messages"
            if case is None or cases.sms_time(case, self.clock()) > self.clock():
                return "outside her safe window"
        if purpose in groups.TO_MEMBERS:
            if not self.store.members.is_member(message["group"], message["member"]):
                return "no longer a member of the group"
        if is_alert(purpose):
            case = self.store.cases.get(message.get("case", ""))
            if case is None or case.state != CaseState.OPEN:
                return "case no longer waiting for a responder"
        return ""

    def drop(self, mid: str, message: dict[str, str], why: str, volume: bool) -> None:
        """A message that will not be sent: state, audit, metric; volume drops also for /healthz."""
        if not self.store.messages.advance(mid, MessageState.DROPPED, error=why):
            return
        self.store.audit.record(
            "message_dropped", message=mid, case=message.get("case", ""), why=why
        )
        self.store.metrics.count_send("none", MessageState.DROPPED)
        if volume:
            self.store.messages.record_unsent(mid, self.clock())
            log.warning("message %s dropped: %s", mid, why)
        else:
            log.info("message %s dropped: %s", mid, why)

    def notify_duty(self, district: str, name: str, what: str, every: int) -> None:
        """One notice to the district's duty officer per `what` and `every` seconds."""
        directory = self.roster.directory
        duty = directory.duty_officer_for(district)
        if duty is None or not self.store.messages.notice_once(what, every):
            return
        lang = duty.languages[0]
        body = templates.notice(name, lang, district=directory.place(district, lang))
        self.store.audit.record("duty_notified", notice=name, district=district, responder=duty.id)
        self.queue("", name, duty, body, key=f"{what}:{int(self.clock())}")
