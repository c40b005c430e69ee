"""Twilio SMS: signature check, webhook form to Inbound, TwiML out."""

from __future__ import annotations

from collections.abc import Mapping

from twilio.request_validator import RequestValidator
from twilio.twiml.messaging_response import MessagingResponse

from gateway.channels.base import Inbound


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
