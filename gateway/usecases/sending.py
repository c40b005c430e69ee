"""Sending one message: the guard, staleness and volume, recovery of an ambiguous attempt, then
each route in order; receipts expected, an outage told to the duty officer."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from gateway.channels.base import Outbound, Sender
from gateway.jobs import Jobs
from gateway.message import MessageState
from gateway.store import Store
from gateway.usecases.alerting import Alerting
from gateway.usecases.outbox import LOOP, Outbox, is_alert
from gateway.usecases.receipts import Receipts
from gateway.usecases.timing import Timing

log = logging.getLogger(__name__)


class RetryLater(Exception):
    """A send failed in a way worth retrying on the same route; the job's Retry handles it."""


class GiveUp(Exception):
    """Every route refused the message for good; the job must fail without further retries."""


class Sending:
    """Sends stored messages through the configured routes, in order, at most once."""

    def __init__(
        self,
        store: Store,
        jobs: Jobs,
        senders: Sequence[Sender],
        outbox: Outbox,
        alerting: Alerting,
        receipts: Receipts,
        timing: Timing,
        clock: Callable[[], float],
        sleep: Callable[[float], None],
    ):
        self.store = store
        self.jobs = jobs
        self.senders = list(senders)
        self.outbox = outbox
        self.alerting = alerting
        self.receipts = receipts
        self.timing = timing
        self.clock = clock
        self.sleep = sleep

    def deliver(self, mid: str) -> str:
        """Send one message through the routes in order, at most once; raise RetryLater/GiveUp.

        An ambiguous attempt (a read timeout: the provider may have it) is handled per purpose:
        a message to her is never risked twice (the retry asks the provider first); a message to
        a responder goes to the next route at once, since an extra SMS beats silence.
        """
        message = self.store.messages.get(mid)
        if message is None:
            return "missing"
        if message["state"] != MessageState.NEW or message.get("provider_id"):
            return "already sent"  # the guard: checked before every send
        stale = self.outbox.stale(message)
        if stale:
            self.outbox.drop(mid, message, stale, volume=stale == LOOP)
            return "dropped"
        if self._over_volume(mid, message):
            return "held for a digest"
        out = Outbound(mid, message["to"], message["body"])
        if self._recover(mid, message, out):
            return "sent (recovered)"
        purpose = message.get("purpose", "")
        index = int(message.get("route_index", 0))
        # A self-test tries its own route alone: another route would hide its failure.
        last = len(self.senders) - 1
        if message.get("only"):
            last = min(index, last)
        while index <= last:
            sender = self.senders[index]
            later = index < last
            if later and self.store.messages.route_slow(sender.name):
                # It timed out a moment ago: do not make this message wait for it too.
                index += 1
                self.store.messages.set(mid, route_index=index)
                continue
            self._throttle(sender.name)
            attempts = self.store.messages.count_attempt(mid, sender.name)
            # "In flight" must outlive a failover: a retry that finds it asks the provider
            # before sending again.
            self.store.replicated("send attempt")
            result = sender.send(out)
            if result.ok:
                self._sent(mid, sender, result.provider_id)
                return "sent"
            log.warning("message %s on %s: %s", mid, sender.name, result.error)
            self.store.metrics.count_send(sender.name, "error")
            if result.ambiguous:
                self.store.messages.mark_slow(sender.name, self.timing.slow_route_for)
                if purpose == "ack" or not later:
                    # The provider may have the message: the retry asks it before anything else.
                    self.store.messages.set(mid, error=result.error)
                    raise RetryLater(f"{sender.name}: {result.error} (outcome unknown)")
                self.store.messages.send_failed(mid, result.error, unsure=sender.name)
            else:
                self.store.messages.send_failed(mid, result.error)
                retries = self.jobs.retry.per_route()
                if result.retryable and not later and attempts <= retries:
                    raise RetryLater(f"{sender.name}: {result.error}")
            # Permanent, exhausted, or another route can take it now: an alert should not wait.
            index += 1
            self.store.messages.set(mid, route_index=index)
        self.store.messages.advance(mid, MessageState.FAILED)
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
            self.store.messages.clear_unsure(mid, sender.name)
        return False

    def _over_volume(self, mid: str, message: dict[str, str]) -> bool:
        """Hold an alert for a digest when its responder had too many this hour; True if held
        (digests instead of silence; `gateway/usecases/digests.py` sends them)."""
        responder_id = message.get("recipient", "")
        if not responder_id or not is_alert(message.get("purpose", "")):
            return False
        if message.get("counted"):
            return False  # a retry of a message already let through
        self.store.messages.set(mid, counted=1)
        if self.store.rates.within("out", message["to"], self.timing.out_per_hour):
            return False
        now = self.clock()
        if not self.store.messages.hold(mid, responder_id, now):
            return False
        case = self.store.cases.get(message.get("case", ""))
        self.store.audit.record(
            "alert_held", message=mid, case=message.get("case", ""), responder=responder_id
        )
        self.store.metrics.count_send("digest", MessageState.HELD)
        log.warning("message %s held for a digest: its responder is saturated", mid)
        window = int(now // self.timing.digest_every)
        self.jobs.digest(responder_id, window, (window + 1) * self.timing.digest_every)
        if case is not None:
            self.alerting.cover(case, responder_id)
            self.outbox.notify_duty(case.district, "flood", f"flood:{case.district}", 3600)
        return True

    def _outage(self, message: dict[str, str]) -> None:
        """Both routes down: said once an hour to the duty officer of her district."""
        case = self.store.cases.get(message.get("case", "")) if message.get("case") else None
        if case is not None and message.get("purpose") != "outage":
            self.outbox.notify_duty(case.district, "outage", "outage", 3600)

    def _throttle(self, route: str) -> None:
        while (wait := self.store.messages.send_slot(route, self.timing.send_rate)) > 0:
            self.sleep(wait)

    def _sent(self, mid: str, sender: Sender, provider_id: str) -> None:
        # One write records the provider's id and ends "in flight": no window for a resend.
        route = sender.name
        self.store.messages.record_sent(mid, route, provider_id, self.clock())
        self.store.metrics.count_send(route, MessageState.QUEUED)
        log.info("message %s handed to %s", mid, route)
        if sender.delivers_on_handover:
            # Forward only, counted like a provider's receipt.
            self.receipts.status(mid, MessageState.DELIVERED)
            return
        due = self.clock() + self.timing.receipt_timeout
        about = f"mark {self.store.messages.label(mid)} unknown if no receipt came"
        self.jobs.receipt(mid, due, about)
