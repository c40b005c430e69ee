"""Africa's Talking-style USSD: form fields in, `CON …`/`END …` plain text out.

The convention (also used by most aggregators): POST sessionId, serviceCode, phoneNumber,
networkCode, text, where text is every input of the session so far joined by '*' (empty on
the first hop). There is no request signature, so the endpoint is protected by a secret key in
its URL. `parse` turns the form into the core's `Hop`; nothing past it knows the convention.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from gateway.channels.base import Hop, Reply

MAX_SESSION_ID = 128
MAX_TEXT = 1024  # a USSD string is at most 182 characters; anything longer is junk


class UssdFormError(ValueError):
    """The request lacks a field the convention requires."""


SEPARATOR = "*"


@dataclass(frozen=True)
class AtHop(Hop):
    """A hop whose history is every input so far joined by '*'."""

    def typed_since(self, handled: str) -> str:
        """The text minus the inputs already handled (several, when she typed '1*2' at once)."""
        if handled == "":
            return self.history
        if self.history.startswith(handled + SEPARATOR):
            return self.history[len(handled) + 1 :]
        return self.typed


def hop(session: str, phone: str, text: str) -> AtHop:
    """The core's hop for an aggregator's session, phone and text."""
    previous, _, typed = text.rpartition(SEPARATOR)
    inputs = tuple(text.split(SEPARATOR)) if text else ()
    return AtHop(session, phone, text, inputs, previous, typed)


def parse(form: Mapping[str, str]) -> AtHop:
    """The USSD hop in a posted form; raises UssdFormError naming a missing or absurd field."""
    session_id = (form.get("sessionId") or "").strip()
    phone = (form.get("phoneNumber") or "").strip()
    if not session_id:
        raise UssdFormError("sessionId is missing")
    if len(session_id) > MAX_SESSION_ID or not session_id.isprintable():
        raise UssdFormError("sessionId is not a plausible session id")
    if not phone:
        raise UssdFormError("phoneNumber is missing")
    return hop(session_id, phone[:64], (form.get("text") or "")[:MAX_TEXT])


def render(reply: Reply) -> str:
    """The response body: 'END ' or 'CON ' and the screen."""
    return ("END " if reply.end else "CON ") + reply.text
