"""The types every channel adapter speaks: messages, hops, senders, webhooks, channels."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

# A provider call connects quickly or not at all (just over TCP's 3 s retransmit); a read longer
# than READ_TIMEOUT (SEND_TIMEOUT in the settings) is an ambiguous send: the sender asks first.
CONNECT_TIMEOUT = 3.05
READ_TIMEOUT = 5.0


@dataclass(frozen=True)
class Inbound:
    """One message or USSD step from a phone, as any channel delivers it."""

    channel: str
    sender: str  # E.164, never logged
    text: str
    external_id: str  # provider id used for dedupe (MessageSid, gateway id, sessionId+text)
    to: str = ""
    at: float = 0.0  # when she sent it, where the provider says (a listing; 0 for a webhook)


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

    def missed(self, since: float, until: float, phones: Sequence[str]) -> list[Inbound]:
        """Inbound SMS the provider received in [since, until), which a webhook may not have
        brought (the gateway could not be reached). `phones` are the route's own: our inbound
        numbers (Twilio) or the Android app's device ids. A provider that re-sends them as
        webhooks instead (Android's inbox export) is asked to, and gives []. Raises
        ConnectionError when the provider cannot be asked."""
        ...


# ---- a channel: its settings, its webhooks, its sender, registered in channels/registry.py ----
class Env(Protocol):
    """How a channel reads its settings (config/settings.py passes its reader): each method
    fails with an error that names the variable."""

    def text(self, name: str, default: str, needed: bool = False) -> str: ...

    def url(self, name: str, default: str | None) -> str: ...


class Request(Protocol):
    """A webhook request: the attributes werkzeug's request has (the web layer passes its own),
    so a channel reads what it needs and nothing is parsed that it does not read."""

    path: str
    args: Mapping[str, str]  # the query string, decoded
    query_string: bytes  # as received: a signature may cover it byte for byte
    form: Mapping[str, str]
    headers: Mapping[str, str]

    def get_data(self) -> bytes:
        """The raw body."""
        ...


@dataclass(frozen=True)
class Response:
    """A webhook's answer: the web layer sends it as it is."""

    body: str = ""
    status: int = 200
    mimetype: str = "text/plain"


class TryAgain(Exception):
    """The gateway could neither handle nor keep an inbound message: the provider must retry."""


class Gateway(Protocol):
    """What a channel's webhook may ask of the gateway (the web layer provides it)."""

    public_url: str
    ussd_key: str  # USSD_KEY: the secret in every USSD endpoint's URL
    ussd_error: str  # the neutral text shown when something inside failed

    def take_sms(self, inbound: Inbound) -> str:
        """Handle (or keep) an inbound SMS; the reply text. Raises TryAgain."""
        ...

    def status(self, message_id: str, state: str, error: str = "") -> bool:
        """Apply a delivery status to one of our messages."""
        ...

    def message_by_provider(self, route: str, provider_id: str) -> str | None:
        """Our message id for a provider's id."""
        ...

    def heard(self, route: str, phone: str) -> None:
        """A route's phone (an Android app's deviceId) sent a signed webhook: it is alive."""
        ...

    def ussd(self, hop: Hop) -> Reply:
        """The screen for a USSD hop."""
        ...


@dataclass(frozen=True)
class Route:
    """One webhook of a channel: POST `path` → `handle(request, gateway, config)`; `name` is
    its endpoint (and its label in /metrics, so it outlives a rename of the code). `refuse`,
    when set, renders errors raised around the handler (405, 413, 500) in the channel's own
    format: a USSD aggregator shows her whatever it gets."""

    name: str
    path: str
    handle: Callable[[Request, Gateway, Any], Response]
    refuse: Callable[[int, str, Gateway], Response] | None = None


@dataclass(frozen=True)
class Common:
    """What every sender may need besides its own settings."""

    public_url: str
    validity: int  # seconds an SMS may wait at the provider
    read_timeout: float  # seconds to read a provider's answer
    outbox: Any  # where the console route records what it "sends" (the store)


@dataclass(frozen=True)
class Channel:
    """A provider: its settings (`config.read(env, needed, generated)` → a frozen dataclass
    whose `secrets()` are redacted from logs), its webhooks, and its sender (None for a USSD
    aggregator). `variables` and `generated` name its environment variables: its secrets (kept
    out of `make run`'s record) and those made up in development when unset."""

    name: str
    config: Any
    routes: tuple[Route, ...] = ()
    sender: Callable[[Any, Common], Sender] | None = None
    reaches_phones: bool = True  # False for the console: the simulator may run beside it
    secrets: tuple[str, ...] = ()
    generated: tuple[str, ...] = ()


@dataclass(frozen=True)
class NoConfig:
    """The settings of a channel that has none."""

    @classmethod
    def read(cls, env: Env, needed: bool, generated: Mapping[str, str]) -> NoConfig:
        return cls()

    def secrets(self) -> tuple[str, ...]:
        return ()
