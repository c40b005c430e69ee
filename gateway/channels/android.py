"""SMS Gateway for Android (an app on a phone with a local SIM): signed webhooks in.

Webhooks carry X-Signature = hex(HMAC-SHA256(signing key, raw body + X-Timestamp)) and
X-Timestamp in unix seconds. The app retries any answer that is not 2xx for days, so every
event kind it documents is answered 2xx (those we have no use for are ignored) and a body we can
never understand gets a 400 naming why, never a 5xx.

Here: its settings, the signature check, the event parser, its status table, the sender, and
the channel that registers them (CHANNEL).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass

from gateway.channels.base import (
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

WEBHOOK_SECRET = "ANDROID_WEBHOOK_SECRET"  # noqa: S105 - a variable name


@dataclass(frozen=True)
class Config:
    """ANDROID_* settings; the gateway's URL, user and password are required when SMS_ROUTES
    names android. The webhook secret is made up in development when unset."""

    gateway_url: str = ""
    user: str = ""
    password: str = ""
    webhook_secret: str = ""

    @classmethod
    def read(cls, env: Env, needed: bool, generated: Mapping[str, str]) -> Config:
        return cls(
            gateway_url=env.url("ANDROID_GATEWAY_URL", None if needed else ""),
            user=env.text("ANDROID_GATEWAY_USER", "", needed=needed),
            password=env.text("ANDROID_GATEWAY_PASSWORD", "", needed=needed),
            webhook_secret=env.text(WEBHOOK_SECRET, generated.get(WEBHOOK_SECRET, "")),
        )

    def secrets(self) -> tuple[str, ...]:
        return (self.password, self.webhook_secret)


MAX_SKEW = 300  # seconds a signed request stays acceptable (replay window)


class AndroidAuthError(ValueError):
    """The request is not signed by the phone; status is 401 (unsigned, stale) or 403 (bad)."""

    def __init__(self, status: int, reason: str):
        super().__init__(reason)
        self.status = status


class AndroidFormError(ValueError):
    """The body is not an event this gateway understands."""


@dataclass(frozen=True)
class Event:
    """One webhook event: its type, and the inbound SMS for sms:received."""

    kind: str
    message_id: str
    inbound: Inbound | None = None
    state_error: str = ""


def verify(secret: str, body: bytes, signature: str, timestamp: str, now: float) -> None:
    """Return quietly when the signature and timestamp are good; raise AndroidAuthError if not."""
    if not secret:
        raise AndroidAuthError(403, "ANDROID_WEBHOOK_SECRET is not configured")
    if not signature or not timestamp:
        raise AndroidAuthError(401, "X-Signature and X-Timestamp headers are required")
    try:
        sent = int(timestamp)
    except ValueError:
        raise AndroidAuthError(401, "X-Timestamp is not unix seconds") from None
    if abs(now - sent) > MAX_SKEW:
        raise AndroidAuthError(401, f"X-Timestamp is more than {MAX_SKEW} s away from now")
    expected = sign(secret, body, timestamp)
    # As bytes: compare_digest refuses str with non-ASCII characters (a TypeError, a 500).
    given = signature.strip().lower().encode("utf-8", "replace")
    if not hmac.compare_digest(expected.encode(), given):
        raise AndroidAuthError(403, "X-Signature does not match the body")


def sign(secret: str, body: bytes, timestamp: str) -> str:
    """The X-Signature the phone computes for a body and timestamp."""
    return hmac.new(secret.encode(), body + timestamp.encode(), hashlib.sha256).hexdigest()


# Event kinds SMS Gateway for Android documents (github.com/capcom6/android-sms-gateway, README
# "Webhooks"): only sms:received and the three delivery reports mean something here.
EVENTS = frozenset(
    {
        "sms:received",
        "sms:data-received",
        "sms:sent",
        "sms:delivered",
        "sms:failed",
        "mms:received",
        "mms:downloaded",
        "system:ping",
        "app:started",
    }
)
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def clean(text: str) -> str:
    """The text with lone UTF-16 surrogates (half an emoji, from a JSON escape) replaced by
    U+FFFD, so it can be encrypted and stored instead of failing on every retry."""
    return _LONE_SURROGATE.sub("\ufffd", text)


def parse(body: bytes) -> Event:
    """The event in a webhook body; raises AndroidFormError naming what is wrong."""
    try:
        data = json.loads(body)
    except RecursionError:
        raise AndroidFormError("body is nested too deeply") from None
    except (ValueError, UnicodeDecodeError):
        raise AndroidFormError("body is not JSON") from None
    if not isinstance(data, dict) or not isinstance(data.get("payload"), dict):
        raise AndroidFormError("expected an object with 'event' and 'payload'")
    kind = data.get("event")
    if not isinstance(kind, str) or not kind:
        raise AndroidFormError("'event' is missing or not a string")
    kind = clean(kind)
    payload = data["payload"]
    if kind not in STATUS and kind != "sms:received":
        return Event(kind=kind, message_id="")  # documented or not, nothing for us to do
    message_id = payload.get("messageId") or payload.get("id")
    if not isinstance(message_id, str) or not message_id.strip():
        raise AndroidFormError(f"{kind} needs payload.messageId (a string)")
    message_id = clean(message_id)
    if kind != "sms:received":
        reason = payload.get("reason")
        return Event(kind=kind, message_id=message_id, state_error=clean(str(reason or ""))[:200])
    sender = payload.get("phoneNumber") or payload.get("sender")
    text = payload.get("message")
    if not isinstance(sender, str) or not isinstance(text, str):
        raise AndroidFormError("sms:received needs payload.phoneNumber and payload.message")
    recipient = payload.get("recipient")
    inbound = Inbound(
        channel="android",
        sender=clean(sender),
        text=clean(text),
        external_id=message_id,
        to=clean(recipient) if isinstance(recipient, str) else "",
    )
    return Event(kind=kind, message_id=message_id, inbound=inbound)


# Event types -> our message states (the phone reports per message, keyed by our message id).
STATUS = {"sms:sent": "sent", "sms:delivered": "delivered", "sms:failed": "failed"}
# Connect quickly or not at all; a read longer than this is an ambiguous send (see dispatch).
CONNECT_TIMEOUT = 3.05
READ_TIMEOUT = 5.0


class AndroidSender:
    """Sends through the SMS Gateway for Android API (POST /messages, GET /messages/{id}).

    The PyPI client `android-sms-gateway` makes its requests without a timeout, so a phone that
    stops answering would hang a worker; these two calls are made here with explicit timeouts.
    Our message id is passed as the gateway's message id, which makes a resend idempotent.
    """

    name = "android"
    delivers_on_handover = False  # a signed webhook event says "delivered"

    def __init__(
        self,
        url: str,
        user: str,
        password: str,
        validity: int = 3600,
        read_timeout: float = READ_TIMEOUT,
    ):
        import requests

        self.timeout = (CONNECT_TIMEOUT, read_timeout)
        self.url = url.rstrip("/")
        self.session = requests.Session()
        self.session.auth = (user, password)
        self.validity = validity

    def send(self, message: Outbound) -> SendResult:
        """Hand the message to the phone; 5xx, 429 and network errors are retryable."""
        import requests

        payload = {
            "id": message.message_id,
            "textMessage": {"text": message.body},
            "phoneNumbers": [message.to],
            "withDeliveryReport": True,
            "ttl": self.validity,
        }
        try:
            response = self.session.post(f"{self.url}/messages", json=payload, timeout=self.timeout)
        except requests.RequestException as error:
            return SendResult(
                ok=False,
                retryable=True,
                error=f"android {type(error).__name__}",
                ambiguous=isinstance(error, requests.ReadTimeout),
            )
        if response.status_code in (200, 201, 202):
            return SendResult(ok=True, provider_id=message.message_id)
        retryable = response.status_code >= 500 or response.status_code == 429
        return SendResult(ok=False, retryable=retryable, error=f"android {response.status_code}")

    def find(self, message: Outbound, since: float) -> str | None:
        """The gateway's id for this message when the phone already has it, else None."""
        import requests

        try:
            response = self.session.get(
                f"{self.url}/messages/{message.message_id}", timeout=self.timeout
            )
        except requests.RequestException:
            raise ConnectionError("android: cannot check an earlier send") from None
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise ConnectionError(f"android: checking an earlier send gave {response.status_code}")
        return message.message_id


# ---- webhooks ----------------------------------------------------------------------------------
def _json(status: str) -> Response:
    return Response(json.dumps({"status": status}) + "\n", mimetype="application/json")


def receive(request: Request, gateway: Gateway, config: Config) -> Response:
    """A webhook event from SMS Gateway for Android: signature and freshness checked."""
    body = request.get_data()
    try:
        verify(
            config.webhook_secret,
            body,
            request.headers.get("X-Signature", ""),
            request.headers.get("X-Timestamp", ""),
            time.time(),
        )
        event = parse(body)
    except AndroidAuthError as error:
        log.warning("android: %s", error)
        return Response(str(error), error.status)
    except AndroidFormError as error:
        return Response(f"bad Android webhook: {error}", 400)
    if event.inbound is not None:
        try:
            gateway.take_sms(event.inbound)
        except TryAgain as error:
            log.error("android: inbound SMS neither handled nor spooled: %s", error)
            return Response("try again", 503)  # the app retries
    elif event.kind not in STATUS:
        if event.kind not in EVENTS:
            log.warning("android: event kind %r not documented; ignored", event.kind[:40])
        return _json("ignored")
    else:
        gateway.status(event.message_id, STATUS[event.kind], error=event.state_error)
    return _json("ok")


def _sender(config: Config, common: Common) -> AndroidSender:
    return AndroidSender(
        config.gateway_url,
        config.user,
        config.password,
        validity=common.validity,
        read_timeout=common.read_timeout,
    )


CHANNEL = Channel(
    name="android",
    config=Config,
    routes=(Route("sms_android", "/sms/android", receive),),
    sender=_sender,
    secrets=("ANDROID_GATEWAY_PASSWORD", WEBHOOK_SECRET),
    generated=(WEBHOOK_SECRET,),
)
