"""Tests for gateway.phone. All Tajik numbers are synthetic, from +99290000xxxx."""

from __future__ import annotations

import re

import phonenumbers
import pytest

from gateway.phone import PhoneError, mask, normalise

ACCEPTED = [
    pytest.param("900001234", "+992900001234", id="nsn-9-digits"),
    pytest.param("+992900001234", "+992900001234", id="e164"),
    pytest.param("+992 90 000 1234", "+992900001234", id="e164-spaced"),
    pytest.param("992900001234", "+992900001234", id="cc-without-plus"),
    pytest.param("00992900001234", "+992900001234", id="exit-00"),
    pytest.param("00 992 90 000 12 34", "+992900001234", id="exit-00-spaced"),
    pytest.param("810992900001234", "+992900001234", id="exit-810"),
    pytest.param("8900001234", "+992900001234", id="trunk-8-ten-digits"),
    pytest.param("8 (90) 000-12-34", "+992900001234", id="trunk-8-formatted"),
    pytest.param("(90) 000-12-34", "+992900001234", id="parens-dashes"),
    pytest.param("90.000.12.34", "+992900001234", id="dots"),
    pytest.param("  900001234\n", "+992900001234", id="surrounding-whitespace"),
    pytest.param("90\u00a0000\u00a01234", "+992900001234", id="no-break-spaces"),
    pytest.param("90\u2013000\u20131234", "+992900001234", id="en-dashes"),
    pytest.param("880001234", "+992880001234", id="nsn-starting-with-8-kept"),
    # Nine digits are an NSN even when they begin like the 00 exit code.
    pytest.param("000001234", "+992000001234", id="nsn-starting-with-00-kept"),
    pytest.param("+44 20 7946 0958", "+442079460958", id="foreign-gb"),
    pytest.param("0044 20 7946 0958", "+442079460958", id="foreign-gb-exit-00"),
    pytest.param("810 44 20 7946 0958", "+442079460958", id="foreign-gb-exit-810"),
    pytest.param("+1 (202) 555-0123", "+12025550123", id="foreign-us-fictional"),
]


@pytest.mark.parametrize(("raw", "expected"), ACCEPTED)
def test_normalise_accepts(raw: str, expected: str) -> None:
    assert normalise(raw) == expected


@pytest.mark.parametrize(("_raw", "e164"), ACCEPTED)
def test_normalise_is_idempotent(_raw: str, e164: str) -> None:
    assert normalise(e164) == e164


REJECTED = [
    pytest.param("", "empty", id="empty"),
    pytest.param("   ", "empty", id="only-spaces"),
    pytest.param("- ( ) .", "empty", id="only-separators"),
    pytest.param("+", "no digits", id="lone-plus"),
    pytest.param("90000123a", "letters", id="trailing-letter"),
    pytest.param("call 900001234", "letters", id="words"),
    pytest.param("9OOOO1234", "letters", id="letter-o-for-zero"),
    pytest.param("90000\u0431234", "letters", id="cyrillic-letter"),
    pytest.param("900001234#", "not a digit", id="hash"),
    pytest.param("900_001_234", "not a digit", id="underscore"),
    pytest.param("90000123\u0664", "not a digit", id="arabic-indic-digit"),
    pytest.param("9000+01234", "'+'", id="plus-in-middle"),
    pytest.param("++992900001234", "'+'", id="double-plus"),
    pytest.param("90000123", "too short", id="short-8-digits"),
    pytest.param("+99290000123", "too short", id="short-after-992"),
    pytest.param("0099290000123", "too short", id="short-after-00-992"),
    pytest.param("99290000123", "too short", id="short-cc-without-plus"),
    pytest.param("+9929000012345", "too long", id="long-after-992"),
    pytest.param("89000012345", "too long", id="eleven-digits-with-8"),
    pytest.param("9" * 33, "too long", id="over-32-chars"),
    pytest.param(" " * 20 + "9" * 13, "too long", id="over-32-chars-with-padding"),
    pytest.param("+44 20 7946 09", "not a valid number for its country", id="foreign-gb-short"),
    pytest.param("+1 000 555 0123", "not a valid number for its country", id="foreign-us-bad"),
    pytest.param("+999 1234 5678", "unknown country code", id="foreign-unknown-cc"),
    pytest.param("00", "no digits after the international prefix", id="bare-exit-code"),
]


@pytest.mark.parametrize(("raw", "reason"), REJECTED)
def test_normalise_rejects_with_reason(raw: str, reason: str) -> None:
    with pytest.raises(PhoneError, match=re.escape(reason)):
        normalise(raw)


@pytest.mark.parametrize(
    "raw", [pytest.param("900001234", id="nsn"), pytest.param("+992900001234", id="e164")]
)
def test_tajik_numbers_do_not_depend_on_library_metadata(
    raw: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Simulates a newly issued range that the bundled metadata does not know yet.
    monkeypatch.setattr(phonenumbers, "is_valid_number", lambda _number: False)
    monkeypatch.setattr(phonenumbers, "is_possible_number", lambda _number: False)
    assert normalise(raw) == "+992900001234"
    with pytest.raises(PhoneError):
        normalise("+442079460958")


def test_phone_error_is_value_error() -> None:
    assert issubclass(PhoneError, ValueError)


def test_short_message_reports_digit_count() -> None:
    with pytest.raises(PhoneError) as info:
        normalise("+99290000123")
    assert "8 digits after +992, need 9" in str(info.value)


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param("+9929000012345", id="too-long-after-992"),
        pytest.param("9000012345", id="too-long-national"),
        pytest.param("900001234!", id="junk-character"),
        pytest.param("+44 20 7946 09", id="invalid-foreign"),
    ],
)
def test_error_message_does_not_echo_the_number(raw: str) -> None:
    with pytest.raises(PhoneError) as info:
        normalise(raw)
    assert "0001" not in str(info.value)
    assert "7946" not in str(info.value)


@pytest.mark.parametrize(
    ("raw", "region", "expected"),
    [
        pytest.param("8 916 123-45-67", "RU", "+79161234567", id="ru-trunk-8"),
        pytest.param("+992 90 000 1234", "RU", "+992900001234", id="ru-region-tajik-e164"),
        pytest.param("810 992 90 000 1234", "ru", "+992900001234", id="ru-region-lowercase"),
    ],
)
def test_normalise_other_default_region(raw: str, region: str, expected: str) -> None:
    assert normalise(raw, region) == expected


def test_unknown_default_region_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="default_region") as info:
        normalise("900001234", "XX")
    assert not isinstance(info.value, PhoneError)


MASKED = [
    pytest.param("+992900001234", "+992*****1234", id="tajik-e164"),
    pytest.param("+992880001234", "+992*****1234", id="tajik-e164-8x"),
    pytest.param("+12025550123", "+1******0123", id="us-e164"),
    pytest.param("+442079460958", "+44******0958", id="gb-e164"),
    pytest.param("900001234", "***34", id="raw-national"),
    pytest.param("+992 90 000 1234", "***34", id="raw-spaced"),
    pytest.param("8900001234", "***34", id="raw-trunk"),
    pytest.param("+99290000", "***00", id="e164-too-short-nsn"),
    pytest.param("+4420794", "***94", id="too-short-for-e164"),
    pytest.param("+99290000123456789", "***89", id="too-long-for-e164"),
    pytest.param("call me on 900001234 pls", "***34", id="digits-in-prose"),
    pytest.param("12345", "***", id="short-digits"),
    pytest.param("12", "***", id="two-digits"),
    pytest.param("secret", "***", id="letters-only"),
    pytest.param("", "***", id="empty"),
    pytest.param(None, "***", id="none"),
    pytest.param(992900001234, "***", id="int"),
    pytest.param(b"+992900001234", "***", id="bytes"),
]


@pytest.mark.parametrize(("value", "expected"), MASKED)
def test_mask(value: str, expected: str) -> None:
    assert mask(value) == expected


@pytest.mark.parametrize(("value", "_expected"), MASKED)
def test_mask_never_leaks_more_than_four_trailing_digits(value: str, _expected: str) -> None:
    shown = re.sub(r"[^0-9]", "", mask(value).split("*")[-1])
    assert len(shown) <= 4
    if isinstance(value, str) and not value.startswith("+"):
        assert len(shown) <= 2


@pytest.mark.parametrize(("raw", "_expected"), ACCEPTED)
def test_mask_of_normalised_number_keeps_country_code_and_last_four(
    raw: str, _expected: str
) -> None:
    e164 = normalise(raw)
    masked = mask(e164)
    assert masked.endswith(e164[-4:])
    assert "*" in masked
    assert masked.startswith("+")
    assert len(masked) == len(e164)
