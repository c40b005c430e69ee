"""Africa's Talking-style USSD: form fields in, `CON …`/`END …` plain text out.

The convention (also used by most aggregators): POST sessionId, serviceCode, phoneNumber,
networkCode, text, where text is every input of the session so far joined by '*' (empty on
the first hop). There is no request signature, so the endpoint is protected by a secret key in
its URL. `parse` turns the form into the core's `Hop`; nothing past it knows the convention.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Mapping
from dataclasses import dataclass

from gateway.channels.base import Channel, Gateway, Hop, NoConfig, Reply, Request, Response, Route

log = logging.getLogger(__name__)

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


# ---- the webhook: every answer, errors included, is a valid CON/END body ---------------------
REFUSED = "END"  # a valid USSD answer that shows nothing


def receive(request: Request, gateway: Gateway, config: NoConfig) -> Response:
    """One USSD hop: always a `CON`/`END` body, 403 for a wrong key, 400 for a broken form."""
    key = request.args.get("key", "")
    if not hmac.compare_digest(key.encode(), gateway.ussd_key.encode()):
        log.warning("ussd: wrong or missing key")
        return Response(REFUSED + " wrong or missing key", 403)
    try:
        hop = parse(request.form)
    except UssdFormError as error:
        return Response(f"{REFUSED} {error}", 400)
    return Response(render(gateway.ussd(hop)))


def refuse(code: int, name: str, gateway: Gateway) -> Response:
    """Errors raised around the view (405, 413, 500) still answer `END`, as plain text."""
    return Response(f"{REFUSED} {gateway.ussd_error if code >= 500 else name}", code)


CHANNEL = Channel(
    name="africastalking",
    config=NoConfig,
    routes=(Route("ussd_africastalking", "/ussd/africastalking", receive, refuse=refuse),),
)
