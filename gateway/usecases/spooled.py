"""What came in while Redis was away, replayed once it answers: each record once."""

from __future__ import annotations

import contextlib
import logging

from gateway.channels.base import Inbound
from gateway.store import REDIS_DOWN, Store
from gateway.store.deliveries import replayed
from gateway.usecases.opening import CaseOpening
from gateway.usecases.roster import Roster
from gateway.usecases.sms import SmsIntake

log = logging.getLogger(__name__)

REPLAY_GUARD = 120  # seconds a replay's dedupe mark lives until the record is handled


class SpoolReplay:
    """Hands spooled SMS and USSD requests to intake, deduplicated by marks of their own."""

    def __init__(self, store: Store, roster: Roster, sms: SmsIntake, opening: CaseOpening):
        self.store = store
        self.roster = roster
        self.sms = sms
        self.opening = opening

    def replay(self, record: dict) -> None:
        """Handle one spooled record now that Redis answers; Redis errors propagate (the record
        stays in the spool). A record handled before (a replay cut short) is skipped."""
        self.roster.refresh()
        if record.get("kind") == "ussd":
            self._ussd(record)
            return
        if record.get("kind") != "sms":
            raise ValueError("unknown spool record kind")
        inbound = Inbound(
            channel=record["channel"],
            sender=record["sender"],
            text=record["text"],
            external_id=record["id"],
            to=record.get("to", ""),
        )
        # Replays are deduplicated by a mark of their own, not by the provider id's: the failed
        # attempt may have left that one behind (a forget that failed, or a SET that a frozen
        # Redis ran once thawed, after its caller had given up), and taking it for "handled"
        # would lose her SMS. The mark is short-lived until the record is handled, so a replay
        # cut short by Redis leaving again cannot drop it either.
        guard = replayed(inbound.channel)
        if not self.store.deliveries.first(guard, inbound.external_id, ttl=REPLAY_GUARD):
            log.info("spool: a replayed %s SMS was handled before", inbound.channel)
            return
        try:
            self.sms.process(inbound)
        except Exception:
            with contextlib.suppress(*REDIS_DOWN):
                self.store.deliveries.forget(guard, inbound.external_id)
            raise
        self.store.deliveries.keep(guard, inbound.external_id)
        # A later copy of the provider's webhook is a repeat like any other.
        self.store.deliveries.first(inbound.channel, inbound.external_id)

    def _ussd(self, record: dict) -> None:
        if not self.store.deliveries.first("ussd-spool", record["rid"], ttl=REPLAY_GUARD):
            log.info("spool: a replayed USSD request was handled before")
            return
        try:
            ref = self.opening.open(record["phone"], record["answers"], "ussd", record["lang"])
        except Exception:
            with contextlib.suppress(*REDIS_DOWN):
                self.store.deliveries.forget("ussd-spool", record["rid"])
            raise
        self.store.deliveries.keep("ussd-spool", record["rid"])
        if ref is None:
            log.warning("spool: a replayed USSD request was over her case limit; not opened")
