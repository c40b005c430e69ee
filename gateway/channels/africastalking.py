"""Africa's Talking-style USSD: form fields in, `CON …`/`END …` plain text out.

The convention (also used by most aggregators): POST sessionId, serviceCode, phoneNumber,
networkCode, text, where text is every input of the session so far joined by '*'. There is no
request signature, so the endpoint is protected by a secret key in its URL.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from gateway.channels.base import Reply

MAX_SESSION_ID = 128
MAX_TEXT = 1024  # a USSD string is at most 182 characters; anything longer is junk


class UssdFormError(ValueError):
    """The request lacks a field the convention requires."""


@dataclass(frozen=True)
class UssdRequest:
    """One USSD hop as the aggregator posts it."""

    session_id: str
    service_code: str
    phone: str  # as sent, not yet normalised
    network_code: str
    text: str


def parse(form: Mapping[str, str]) -> UssdRequest:
    """The USSD hop in a posted form; raises UssdFormError naming a missing or absurd field."""
    session_id = (form.get("sessionId") or "").strip()
    phone = (form.get("phoneNumber") or "").strip()
    if not session_id:
        raise UssdFormError("sessionId is missing")
    if len(session_id) > MAX_SESSION_ID or not session_id.isprintable():
        raise UssdFormError("sessionId is not a plausible session id")
    if not phone:
        raise UssdFormError("phoneNumber is missing")
    return UssdRequest(
        session_id=session_id,
        service_code=(form.get("serviceCode") or "")[:32],
        phone=phone[:64],
        network_code=(form.get("networkCode") or "")[:16],
        text=(form.get("text") or "")[:MAX_TEXT],
    )


def render(reply: Reply) -> str:
    """The response body: 'END ' or 'CON ' and the screen."""
    return ("END " if reply.end else "CON ") + reply.text
