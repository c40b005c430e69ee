"""Delivery status: providers' receipts, and 'unknown' when none came in time."""

from __future__ import annotations

import logging

from gateway.message import MessageState
from gateway.phone import mask
from gateway.store import Store

log = logging.getLogger(__name__)


class Receipts:
    """Moves a message's delivery state forward, never backwards."""

    def __init__(self, store: Store):
        self.store = store

    def status(self, mid: str, state: str, error: str = "") -> bool:
        """Apply a delivery status (never backwards); True when the state moved."""
        fields = {"error": error} if error else {}
        moved = self.store.messages.advance(mid, state, **fields)
        if moved:
            log.info("message %s is %s", mid, state)
            message = self.store.messages.get(mid)
            if message is not None:
                self.store.metrics.count_send(message.get("route", "none"), state)
        return moved

    def expire(self, mid: str) -> str:
        """A message still without a delivery receipt is 'unknown', never assumed delivered."""
        message = self.store.messages.get(mid)
        if message and message["state"] in (MessageState.QUEUED, MessageState.SENT):
            self.store.messages.advance(mid, MessageState.UNKNOWN)
            log.info(
                "message %s: no receipt in time, state unknown (to %s)", mid, mask(message["to"])
            )
            return MessageState.UNKNOWN.value  # the job's result: a plain string
        return message["state"] if message else "missing"
