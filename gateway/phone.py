"""Phone number normalisation and log masking.

Tajik (+992) numbers are handled by hand: the only rule is a 9-digit national
significant number (NSN). The phonenumbers metadata lags behind newly issued
Tajik ranges, and operators port numbers between prefixes, so neither validity
checks nor operator routing by prefix are safe for +992. Other countries go
through phonenumbers.
"""

from __future__ import annotations

import re

import phonenumbers

__all__ = ["PhoneError", "mask", "normalise", "synthetic"]

TJ_CODE = "992"
TJ_NSN_LEN = 9
MAX_RAW_LEN = 32

# Besides whitespace, the characters normalise() skips between digits (gateway.logs masks runs
# split by any of them). Dash look-alikes come from numbers pasted from documents or web pages.
SEPARATORS = frozenset("-.()\u2010\u2011\u2012\u2013\u2014\u2212")
_DIGITS = frozenset("0123456789")
_E164 = re.compile(r"\+[1-9][0-9]{7,14}")
# Numbers kept for tests, training and the simulator; never given to a subscriber here.
_SYNTHETIC = re.compile(r"\+99290000[0-9]{4}")


class PhoneError(ValueError):
    """Raised when input cannot be read as a phone number; the message says why."""


def normalise(raw: str, default_region: str = "TJ") -> str:
    """Return ``raw`` as an E.164 string such as ``+992900001234`` or raise PhoneError."""
    region = default_region.upper()
    if region not in phonenumbers.SUPPORTED_REGIONS:
        # A bad region is a programming error, not bad user input, so it is not a PhoneError.
        raise ValueError(f"unknown default_region {default_region!r}")
    has_plus, digits = _scan(raw)

    if has_plus:
        return _international(digits)
    if region != "TJ":
        return _national_other(digits, region)

    n = len(digits)
    # Every 9-digit string is an NSN, even one that starts with 00, 8, 810 or 992:
    # the 80x/81x/87x-89x ranges are real mobile prefixes.
    if n == TJ_NSN_LEN:
        return "+" + TJ_CODE + digits
    # A leading 8 is the domestic trunk prefix only at exactly 10 digits. This is tested
    # before 810 because a 10-digit 810... is trunk 8 + NSN 10..., not an exit code.
    if n == TJ_NSN_LEN + 1 and digits.startswith("8"):
        return _tajik(digits[1:], "after the trunk prefix 8")
    if digits.startswith("810"):  # CIS exit code: 8, wait for tone, 10
        return _international(digits[3:])
    if digits.startswith("00"):
        return _international(digits[2:])
    if digits.startswith(TJ_CODE) and n > TJ_NSN_LEN:
        return _tajik(digits[len(TJ_CODE) :], "after 992")
    if n < TJ_NSN_LEN:
        raise PhoneError(f"too short for a Tajik number ({n} digits, need {TJ_NSN_LEN})")
    raise PhoneError(f"too long for a Tajik number ({n} digits, need {TJ_NSN_LEN})")


def synthetic(e164: str) -> bool:
    """True for the synthetic range +99290000xxxx (in E.164) that tests and training use."""
    return bool(_SYNTHETIC.fullmatch(e164))


def mask(e164_or_raw: str) -> str:
    """Return a log-safe form: ``+992*****1234`` for E.164, else at most the last 2 digits."""
    try:
        return _mask(e164_or_raw)
    except Exception:  # logging must never fail because of a bad number
        return "***"


def _scan(raw: str) -> tuple[bool, str]:
    """Return (had a leading plus, the digits) after checking every character."""
    if not isinstance(raw, str):
        raise PhoneError("not a string")
    # Checked before anything else so that pathological input is rejected cheaply.
    if len(raw) > MAX_RAW_LEN:
        raise PhoneError(f"too long ({len(raw)} characters, max {MAX_RAW_LEN})")
    has_plus = False
    digits: list[str] = []
    for ch in raw:
        if ch in _DIGITS:
            digits.append(ch)
        elif ch.isspace() or ch in SEPARATORS:
            continue
        elif ch == "+" and not has_plus and not digits:
            has_plus = True
        elif ch == "+":
            raise PhoneError("'+' is only allowed once, before the digits")
        elif ch.isalpha():
            raise PhoneError("contains letters")
        else:
            # The character itself is not echoed: the message may end up in logs.
            raise PhoneError("contains a character that is not a digit or separator")
    if not digits:
        raise PhoneError("empty" if not has_plus else "no digits after '+'")
    return has_plus, "".join(digits)


def _tajik(nsn: str, where: str) -> str:
    n = len(nsn)
    if n < TJ_NSN_LEN:
        raise PhoneError(f"too short for a Tajik number ({n} digits {where}, need {TJ_NSN_LEN})")
    if n > TJ_NSN_LEN:
        raise PhoneError(f"too long for a Tajik number ({n} digits {where}, need {TJ_NSN_LEN})")
    return "+" + TJ_CODE + nsn


def _international(digits: str) -> str:
    """Handle the digits that follow '+' or an exit code."""
    if not digits:
        raise PhoneError("no digits after the international prefix")
    if digits.startswith(TJ_CODE):
        return _tajik(digits[len(TJ_CODE) :], "after +992")
    try:
        number = phonenumbers.parse("+" + digits, None)
    except phonenumbers.NumberParseException as exc:
        raise PhoneError(f"not a valid international number ({_parse_reason(exc)})") from None
    return _checked_foreign(number)


def _national_other(digits: str, region: str) -> str:
    """Read a number without a '+' as a national (or exit-code) number of a non-Tajik region."""
    try:
        number = phonenumbers.parse(digits, region)
    except phonenumbers.NumberParseException as exc:
        raise PhoneError(f"not a valid number for {region} ({_parse_reason(exc)})") from None
    if number.country_code == int(TJ_CODE):
        return _tajik(phonenumbers.national_significant_number(number), "after +992")
    return _checked_foreign(number)


def _checked_foreign(number: phonenumbers.PhoneNumber) -> str:
    if not phonenumbers.is_possible_number(number):
        raise PhoneError("not a valid number for its country (impossible length)")
    if not phonenumbers.is_valid_number(number):
        raise PhoneError("not a valid number for its country")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _parse_reason(exc: phonenumbers.NumberParseException) -> str:
    reasons = {
        phonenumbers.NumberParseException.INVALID_COUNTRY_CODE: "unknown country code",
        phonenumbers.NumberParseException.TOO_SHORT_NSN: "too short",
        phonenumbers.NumberParseException.TOO_SHORT_AFTER_IDD: "too short",
        phonenumbers.NumberParseException.TOO_LONG: "too long",
    }
    return reasons.get(exc.error_type, "unparseable")


def _mask(value: object) -> str:
    if not isinstance(value, str):
        return "***"
    if _E164.fullmatch(value):
        code = _country_code(value[1:])
        hidden = len(value) - 1 - len(code or "") - 4
        # Numbers with a very short NSN would be mostly revealed by the last four digits,
        # so they take the garbage path below instead.
        if code and hidden >= 3:
            return "+" + code + "*" * hidden + value[-4:]
    digits = [ch for ch in value if ch in _DIGITS]
    # Short digit runs are starred completely: two digits of a five-digit code are too much.
    if len(digits) >= 6:
        return "***" + "".join(digits[-2:])
    return "***"


def _country_code(digits: str) -> str | None:
    # ITU country codes are prefix-free, so the first match is the only one.
    for size in (1, 2, 3):
        if int(digits[:size]) in phonenumbers.COUNTRY_CODE_TO_REGION_CODE:
            return digits[:size]
    return None
