"""Twilio SMS: its settings, signature check, webhook form to Inbound, TwiML out, its status
table, the REST sender, and the channel that registers them (CHANNEL)."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import requests
from twilio.request_validator import RequestValidator
from twilio.twiml.messaging_response import MessagingResponse

from gateway.channels.base import (
    CONNECT_TIMEOUT,
    READ_TIMEOUT,
    Channel,
    Common,
    Env,
    Gateway,
    Inbound,
    Outbound,
    Request,
    Response,
    Route,
    SendResult,
    TryAgain,
)

log = logging.getLogger(__name__)

RECEIVE_PATH = "/sms/twilio"
STATUS_PATH = "/sms/twilio/status"


@dataclass(frozen=True)
class Config:
    """TWILIO_* settings; the first three are required when SMS_ROUTES names twilio."""

    account_sid: str = ""
    auth_token: str = ""
    sender: str = ""  # TWILIO_FROM
    api_url: str = "https://api.twilio.com"

    @classmethod
    def read(cls, env: Env, needed: bool, generated: Mapping[str, str]) -> Config:
        return cls(
            account_sid=env.text("TWILIO_ACCOUNT_SID", "", needed=needed),
            auth_token=env.text("TWILIO_AUTH_TOKEN", "", needed=needed),
            sender=env.text("TWILIO_FROM", "", needed=needed),
            api_url=env.url("TWILIO_API_URL", "https://api.twilio.com"),
        )

    def secrets(self) -> tuple[str, ...]:
        return (self.auth_token,)


class TwilioFormError(ValueError):
    """The webhook form lacks a field Twilio always sends."""


def signature_url(public_url: str, path: str, raw_query: bytes) -> str:
    """The URL Twilio signed: our public URL, the path, and the query exactly as received.

    Behind a TLS proxy Flask sees http://, and Werkzeug decodes %7E, %2F… in request.url, either
    of which breaks the HMAC (https://www.twilio.com/docs/api/errors/57012).
    """
    query = raw_query.decode("latin-1")
    return public_url + path + ("?" + query if query else "")


def valid_signature(auth_token: str, url: str, form: Mapping, signature: str) -> bool:
    """True when X-Twilio-Signature matches the URL and every posted parameter."""
    if not auth_token or not signature:
        return False
    return RequestValidator(auth_token).validate(url, form, signature)


def parse(form: Mapping[str, str]) -> Inbound:
    """The inbound SMS of a Twilio messaging webhook."""
    missing = [name for name in ("MessageSid", "From") if not form.get(name)]
    if missing:
        raise TwilioFormError(f"{' and '.join(missing)} missing")
    return Inbound(
        channel="twilio",
        sender=form["From"],
        text=form.get("Body", ""),
        external_id=form["MessageSid"],
        to=form.get("To", ""),
    )


def twiml(text: str = "") -> str:
    """A TwiML response: empty (no reply) unless there is something to say."""
    response = MessagingResponse()
    if text:
        response.message(text)
    return str(response)


# Twilio REST error codes that no retry can fix (https://www.twilio.com/docs/api/errors).
PERMANENT_CODES = {
    20003: "authentication failed",
    21211: "invalid To number",
    21212: "invalid From number",
    21408: "no permission to send to this region",
    21606: "From number cannot send SMS",
    21608: "trial account: unverified To number",
    21610: "recipient has opted out (STOP)",
    21612: "cannot route to this number",
    21614: "To number cannot receive SMS",
    21635: "To number is a landline",
}
# Status callback values -> our message states (https://www.twilio.com/docs/messaging/api/message-resource).
STATUS = {
    "accepted": "queued",
    "scheduled": "queued",
    "queued": "queued",
    "sending": "queued",
    "sent": "sent",
    "delivered": "delivered",
    "read": "delivered",
    "undelivered": "undelivered",
    "failed": "failed",
    "canceled": "failed",
}
FIND_PAGE_SIZE = 100


class TwilioSender:
    """Sends through the Twilio REST API at TWILIO_API_URL, with a timeout on every call."""

    name = "twilio"
    delivers_on_handover = False  # a status callback says "delivered"

    def __init__(
        self,
        account_sid: str,
        auth_token: str,
        sender: str,
        api_url: str,
        status_url: str = "",
        validity: int = 3600,
        read_timeout: float = READ_TIMEOUT,
    ):
        from twilio.http.http_client import TwilioHttpClient
        from twilio.rest import Client

        # A non-empty environment: an empty dict would make the SDK fall back to os.environ,
        # where TWILIO_REGION/TWILIO_EDGE would rewrite our API host.
        http = TwilioHttpClient(timeout=read_timeout)
        # The SDK checks a number but hands the value to requests, which takes (connect, read).
        http.timeout = (CONNECT_TIMEOUT, read_timeout)
        self.client = Client(
            account_sid,
            auth_token,
            http_client=http,
            environment={"HAMDAM": "1"},
        )
        self.client.api.base_url = api_url
        self.sender = sender
        self.status_url = status_url
        self.validity = validity

    def send(self, message: Outbound) -> SendResult:
        """Create the message; 5xx, 429 and network errors are retryable, listed codes are not."""
        from twilio.base.exceptions import TwilioException, TwilioRestException

        callback = f"{self.status_url}?m={message.message_id}" if self.status_url else None
        try:
            created = self.client.messages.create(
                to=message.to,
                from_=self.sender,
                body=message.body,
                status_callback=callback,
                validity_period=self.validity,
            )
        except TwilioRestException as error:
            reason = PERMANENT_CODES.get(error.code or 0)
            retryable = reason is None and (error.status >= 500 or error.status == 429)
            return SendResult(
                ok=False, retryable=retryable, error=f"twilio {error.status}/{error.code}"
            )
        except (TwilioException, OSError) as error:
            return SendResult(
                ok=False,
                retryable=True,
                error=f"twilio {type(error).__name__}",
                ambiguous=isinstance(error, requests.ReadTimeout),
            )
        return SendResult(ok=True, provider_id=created.sid)

    def find(self, message: Outbound, since: float) -> str | None:
        """A message Twilio already holds for this recipient and body since `since`, if any.

        Pages through every message to the recipient since then (a responder may have had
        hundreds in a flood), not just the first page.
        """
        from datetime import UTC, datetime, timedelta

        from twilio.base.exceptions import TwilioException

        after = datetime.fromtimestamp(since, UTC) - timedelta(minutes=1)
        try:
            found_all = self.client.messages.stream(
                to=message.to, date_sent_after=after, page_size=FIND_PAGE_SIZE
            )
            for found in found_all:
                if found.body == message.body:
                    return found.sid
        except (TwilioException, OSError):
            raise ConnectionError("twilio: cannot list messages to check an earlier send") from None
        return None

    def missed(self, since: float, until: float, phones: Sequence[str]) -> list[Inbound]:
        """Inbound SMS to our numbers (and TWILIO_FROM, when it is a number) in [since, until),
        from Twilio's message list: for those a webhook did not bring (Twilio does not retry
        an inbound webhook)."""
        from datetime import UTC, datetime

        from twilio.base.exceptions import TwilioException

        after = datetime.fromtimestamp(since, UTC)
        numbers = [n for n in dict.fromkeys([*phones, self.sender]) if n.startswith("+")]
        found = []
        try:
            for number in numbers:
                listed = self.client.messages.stream(
                    to=number, date_sent_after=after, page_size=FIND_PAGE_SIZE
                )
                for message in listed:
                    sent = message.date_sent or message.date_created
                    if message.direction != "inbound" or (sent and sent.timestamp() >= until):
                        continue
                    found.append(
                        Inbound(
                            channel="twilio",
                            sender=message.from_ or "",
                            text=message.body or "",
                            external_id=message.sid,
                            to=message.to or number,
                            at=sent.timestamp() if sent else 0.0,
                        )
                    )
        except (TwilioException, OSError):
            raise ConnectionError("twilio: cannot list inbound messages") from None
        return found


# ---- webhooks ----------------------------------------------------------------------------------
def _refusal(request: Request, gateway: Gateway, config: Config) -> Response | None:
    url = signature_url(gateway.public_url, request.path, request.query_string)
    signature = request.headers.get("X-Twilio-Signature", "")
    if valid_signature(config.auth_token, url, request.form, signature):
        return None
    log.warning("twilio: signature check failed for %s", request.path)
    return Response(
        "X-Twilio-Signature does not match (check PUBLIC_URL and TWILIO_AUTH_TOKEN)", 403
    )


def receive(request: Request, gateway: Gateway, config: Config) -> Response:
    """An inbound SMS from Twilio: signature checked, deduplicated, answered with TwiML."""
    if (refusal := _refusal(request, gateway, config)) is not None:
        return refusal
    try:
        inbound = parse(request.form)
    except TwilioFormError as error:
        return Response(f"bad Twilio webhook: {error}", 400)
    try:
        text = gateway.take_sms(inbound)
    except TryAgain as error:
        log.error("twilio: inbound SMS neither handled nor spooled: %s", error)
        return Response("try again", 503)
    return Response(twiml(text), mimetype="text/xml")


def status(request: Request, gateway: Gateway, config: Config) -> Response:
    """A delivery status callback for a message we sent; states only ever move forward."""
    if (refusal := _refusal(request, gateway, config)) is not None:
        return refusal
    state = STATUS.get(request.form.get("MessageStatus", ""))
    sid = request.form.get("MessageSid", "")
    mid = request.args.get("m") or gateway.message_by_provider("twilio", sid)
    if state is None or not mid:
        return Response("unknown MessageStatus or message", 400)
    gateway.status(mid, state, error=request.form.get("ErrorCode", ""))
    return Response(status=204)


def _sender(config: Config, common: Common) -> TwilioSender:
    return TwilioSender(
        config.account_sid,
        config.auth_token,
        config.sender,
        config.api_url,
        status_url=common.public_url + STATUS_PATH,
        validity=common.validity,
        read_timeout=common.read_timeout,
    )


CHANNEL = Channel(
    name="twilio",
    config=Config,
    routes=(
        Route("sms_twilio", RECEIVE_PATH, receive),
        Route("sms_twilio_status", STATUS_PATH, status),
    ),
    sender=_sender,
    secrets=("TWILIO_AUTH_TOKEN",),
)
