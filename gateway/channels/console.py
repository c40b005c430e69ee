"""The console route: outbound SMS go to an outbox in Redis (read by the simulator) and the log."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Protocol

from gateway.channels.base import Channel, Inbound, NoConfig, Outbound, SendResult
from gateway.phone import mask
from gateway.text import measure

log = logging.getLogger(__name__)


class Outbox(Protocol):
    """Where the console records what it sends (the store)."""

    def push_outbox(self, message_id: str) -> None: ...

    def in_outbox(self, message_id: str) -> bool: ...


class ConsoleSender:
    """Delivers nowhere: records each message in the outbox and logs it without its body."""

    name = "console"
    delivers_on_handover = True  # the outbox is where it arrives: delivered once recorded

    def __init__(self, store: Outbox):
        self.store = store

    def send(self, message: Outbound) -> SendResult:
        """Always ok; the message id is pushed on the console outbox."""
        size = measure(message.body)
        self.store.messages.push_outbox(message.message_id)
        log.info(
            "console sms %s to %s: %d segment(s) %s",
            message.message_id,
            mask(message.to),
            size.segments,
            size.encoding,
        )
        return SendResult(ok=True, provider_id="console-" + message.message_id)

    def missed(self, since: float, until: float, phones: Sequence[str]) -> list[Inbound]:
        """Nothing reaches the console route but through its own webhooks."""
        return []

    def find(self, message: Outbound, since: float) -> str | None:
        """The outbox entry of an earlier send of this message, if any."""
        return (
            "console-" + message.message_id
            if self.store.messages.in_outbox(message.message_id)
            else None
        )


CHANNEL = Channel(
    name="console",
    config=NoConfig,
    sender=lambda config, common: ConsoleSender(common.outbox),
    reaches_phones=False,
)
