"""SMS Gateway for Android's webhook events: the signature check and the event parser."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from dataclasses import dataclass

from gateway.channels.base import Inbound

# Event types -> our message states (the phone reports per message, keyed by our message id).
STATUS = {"sms:sent": "sent", "sms:delivered": "delivered", "sms:failed": "failed"}
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
    device: str = ""  # the app's deviceId: which phone sent it (not a number)


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
_NOT_ID = re.compile(r"[^A-Za-z0-9_.-]")


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
    device = data.get("deviceId")  # letters, digits, - _ . only: it becomes a metric's label
    device = _NOT_ID.sub("", device)[:64] if isinstance(device, str) else ""
    device = device or "phone"
    if kind not in STATUS and kind != "sms:received":
        return Event(kind=kind, message_id="", device=device)  # nothing else for us to do
    message_id = payload.get("messageId") or payload.get("id")
    if not isinstance(message_id, str) or not message_id.strip():
        raise AndroidFormError(f"{kind} needs payload.messageId (a string)")
    message_id = clean(message_id)
    if kind != "sms:received":
        reason = payload.get("reason")
        error = clean(str(reason or ""))[:200]
        return Event(kind=kind, message_id=message_id, state_error=error, device=device)
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
    return Event(kind=kind, message_id=message_id, inbound=inbound, device=device)
