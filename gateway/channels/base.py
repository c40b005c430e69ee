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
class Hop:
    """One USSD hop, as every aggregator's adapter hands it to the core.

    `history` is the aggregator's own record of the session's inputs so far: the core only
    stores, compares and hashes it (a repeat of a hop has the same history). `inputs` are those
    inputs one by one (empty on the first hop), `previous` the history of the hop before this
    one, `typed` what she typed on this hop. An adapter whose aggregator records inputs in
    another way overrides `typed_since`.
    """

    session: str
    phone: str  # as sent, not yet normalised; never logged
    history: str
    inputs: tuple[str, ...]
    previous: str
    typed: str

    @property
    def start(self) -> bool:
        """The session's first hop: nothing typed yet."""
        return not self.inputs

    def typed_since(self, handled: str) -> str:
        """What she typed since the hop whose history is `handled`."""
        return self.typed


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
