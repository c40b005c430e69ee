"""The types every channel adapter speaks, and the protocol of a sender."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Inbound:
    """One message or USSD step from a phone, as any channel delivers it."""

    channel: str
    sender: str  # E.164, never logged
    text: str
    external_id: str  # provider id used for dedupe (MessageSid, gateway id, sessionId+text)
    to: str = ""


@dataclass(frozen=True)
class Reply:
    """What goes back on the same request: a USSD screen or an SMS reply."""

    text: str
    end: bool = True


@dataclass(frozen=True)
class Outbound:
    """One SMS to send; the worker loads it by message id, so jobs carry no phone or body."""

    message_id: str
    to: str
    body: str


@dataclass(frozen=True)
class SendResult:
    """The outcome of one send attempt on one route."""

    ok: bool
    provider_id: str = ""
    retryable: bool = False
    error: str = ""
    ambiguous: bool = False  # the request may have reached the provider (a read timeout)


class Sender(Protocol):
    """A route that sends SMS: Twilio, an Android phone gateway, or the console."""

    name: str
    # True for a route whose hand-over is the delivery (the console): no receipt will come.
    delivers_on_handover: bool

    def send(self, message: Outbound) -> SendResult:
        """The result of handing the message to the provider."""
        ...

    def find(self, message: Outbound, since: float) -> str | None:
        """The provider id of an earlier send of this message, if the provider has one."""
        ...
