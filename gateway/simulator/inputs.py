"""What the simulator page may send: each field checked, and a reason that names it."""

from __future__ import annotations

import re

from flask import request

from gateway.phone import PhoneError, normalise, synthetic

SESSION = re.compile(r"[A-Za-z0-9_-]{1,64}")
REF = re.compile(r"[0-9]{1,12}")


class BadInput(ValueError):
    """A simulator request the page should not have sent; the message says which field."""


class Refused(Exception):
    """A simulator request that must not be played; the message says why (403)."""


class NotFound(LookupError):
    """A simulator request about something that is not there; the message says what (404)."""


def body() -> dict:
    # Requiring a JSON body also keeps other sites out: a cross-site form cannot send one.
    if not request.is_json:
        raise BadInput("expected a JSON body (Content-Type: application/json)")
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise BadInput("expected a JSON object")
    return data


def phone(raw: object) -> str:
    if not isinstance(raw, str):
        raise BadInput("phone: expected a phone number")
    try:
        phone = normalise(raw)
    except PhoneError as error:
        raise BadInput(f"phone: {error}") from None
    if not synthetic(phone):
        # Playing a real phone would act on a real case as her or as a responder.
        raise Refused("phone: the simulator plays only synthetic numbers (+99290000xxxx)")
    return phone


def ref(raw: object, empty: bool = False) -> str:
    if empty and raw == "":
        return ""
    if not isinstance(raw, str) or not REF.fullmatch(raw.strip().lstrip("#")):
        raise BadInput("ref: expected a case reference (digits)")
    return raw.strip().lstrip("#")


def string(raw: object, name: str, limit: int, empty: bool = False) -> str:
    if not isinstance(raw, str):
        raise BadInput(f"{name}: expected text")
    if not raw.strip() and not empty:
        raise BadInput(f"{name}: empty")
    if len(raw) > limit:
        raise BadInput(f"{name}: longer than {limit} characters")
    return raw
