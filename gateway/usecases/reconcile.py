"""Inbound reconciliation: SMS that reached a provider while the gateway could not be reached
are fetched afterwards and go through the normal intake and its dedupe.

Twilio does not retry an inbound webhook, and an Android phone gives up after its retries; a
help request sent during an outage of the web process (not of Redis: the spool keeps those)
would be lost. Every ten minutes the clock asks each route for what it received since the last
time it answered (two hours back the first time, ten minutes of overlap each time): Twilio's
message list, or the Android phones' inbox, which the app sends again as webhooks. What was
handled before is a repeat of a provider id and does nothing. A reply that would have gone back
in the webhook's answer is not sent: the SMS was late already, and her acknowledgement (or a
responder's confirmation) goes out as an SMS of its own.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from gateway.channels.base import Inbound, Sender
from gateway.store import Store
from gateway.usecases.roster import Roster
from gateway.usecases.sms import SmsIntake

log = logging.getLogger(__name__)

ANDROID = "android"  # the route whose phones send their inbox again as webhooks

FIRST_LOOK = 7200  # seconds looked back the first time a route is reconciled
OVERLAP = 600  # seconds each look goes back before the last one's end
LONGEST_LOOK = 86400  # never further back: a listing must fit its job, and within the dedupe


class Reconciliation:
    def __init__(
        self,
        store: Store,
        senders: Sequence[Sender],
        roster: Roster,
        sms: SmsIntake,
        clock: Callable[[], float],
    ):
        self.store = store
        self.senders = list(senders)
        self.roster = roster
        self.sms = sms
        self.clock = clock

    def run(self) -> str:
        """Fetch and handle each route's inbound SMS since its last reconciliation."""
        now = self.clock()
        last = self.store.watching.reconciled()
        said = []
        for sender in self.senders:
            phones, until = self._phones(sender.name, now)
            since = max(last.get(sender.name, now - FIRST_LOOK) - OVERLAP, now - LONGEST_LOOK)
            since = min(since, until - OVERLAP)
            try:
                found = sender.missed(since, until, phones)
            except ConnectionError as error:
                log.warning(
                    "reconcile: %s: %s; its window is kept for the next run", sender.name, error
                )
                said.append(f"{sender.name}: unreachable")
                continue
            # Oldest first, as she sent them: a HELP and then her STOP must end as a STOP.
            found.sort(key=lambda inbound: inbound.at)
            new = sum(1 for inbound in found if self._handle(inbound))
            if phones or sender.name != ANDROID:
                self.store.watching.reconciled_until(sender.name, until)
            if new:
                log.warning(
                    "reconcile: %s: %d inbound SMS no webhook had brought", sender.name, new
                )
            said.append(f"{sender.name}: {len(found)} listed, {new} new")
        return "; ".join(said)

    def _handle(self, inbound: Inbound) -> bool:
        """Handle one listed SMS; True when it was new (not a repeat of a provider id)."""
        if self.store.deliveries.seen(inbound.channel, inbound.external_id):
            return False
        stopped = self.store.consent.stopped_at(inbound.sender)
        if inbound.at and stopped is not None and stopped >= inbound.at:
            # Sent before the STOP that reached us first: her last word stands.
            if self.store.deliveries.first(inbound.channel, inbound.external_id):
                self.store.audit.record(
                    "reconciled_skipped", channel=inbound.channel, why="sent before her STOP"
                )
            return False
        self.sms.handle(inbound)
        return True

    def _phones(self, route: str, now: float) -> tuple[list[str], float]:
        """The route's own phones (our inbound numbers, or the Android phones heard from), and
        until when it can be reconciled now. An Android phone sends its inbox again as
        webhooks, which reach us only if the web answers: the window ends at the last webhook a
        phone got through, so an outage of the web is asked for again once it is over."""
        if route != ANDROID:
            numbers = [n for o in self.roster.directory.organisations.values() for n in o.numbers]
            return numbers, now
        heard = {phone: at for (_, phone), at in self.store.watching.last_heard(ANDROID).items()}
        return list(heard), min(now, max(heard.values())) if heard else now
