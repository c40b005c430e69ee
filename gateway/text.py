"""Text helpers for SMS and USSD: encoding, length, segment counts and keyword folding.

Counting conventions used throughout:

* GSM-7 length is in septets; the extension characters ``^ { } \\ [ ] ~ | €`` and form
  feed need an escape septet first, so they count 2.
* UCS-2 length is in UTF-16 code units, because that is what the network carries:
  a character outside the BMP (most emoji) counts 2.
* The empty string is GSM-7, has length 0 and needs 0 segments (nothing to send).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final, Literal

__all__ = [
    "GSM7",
    "GSM7_BASIC",
    "GSM7_EXTENSION",
    "UCS2",
    "USSD_OCTETS",
    "Measure",
    "encoding",
    "fits_ussd",
    "fold",
    "is_gsm7",
    "measure",
    "segments",
    "ussd_budget",
    "ussd_length",
]

Encoding = Literal["GSM-7", "UCS-2"]
GSM7: Final = "GSM-7"
UCS2: Final = "UCS-2"

# GSM 03.38 default alphabet in code-point order. 0x1B (ESC) is left out: it is the escape
# to the extension table, not a character a message can contain.
GSM7_BASIC: Final = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅå"
    "Δ_ΦΓΛΩΠΨΣΘΞÆæßÉ"
    " !\"#¤%&'()*+,-./"
    "0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION: Final = frozenset("\f^{}\\[]~|€")

SMS_SINGLE: Final = {GSM7: 160, UCS2: 70}
# Multipart messages lose 6 octets per part to the concatenation header (UDH).
SMS_PART: Final = {GSM7: 153, UCS2: 67}

USSD_OCTETS: Final = 160
USSD_BUDGET: Final = {GSM7: USSD_OCTETS * 8 // 7, UCS2: USSD_OCTETS // 2}  # 182 and 80


@dataclass(frozen=True, slots=True)
class Measure:
    """Encoding, length in that encoding's units, and SMS segment count of a text."""

    encoding: Encoding
    units: int
    segments: int


def is_gsm7(text: str) -> bool:
    """Return True if every character of ``text`` exists in the GSM-7 basic or extension table."""
    return all(ch in GSM7_BASIC or ch in GSM7_EXTENSION for ch in text)


def encoding(text: str) -> Encoding:
    """Return "GSM-7" if the text fits the GSM 03.38 alphabet, else "UCS-2"."""
    return GSM7 if is_gsm7(text) else UCS2


def measure(text: str) -> Measure:
    """Return the encoding, unit length and SMS segment count of ``text``."""
    enc = encoding(text)
    costs = list(_costs(text, enc))
    return Measure(enc, sum(costs), _pack(costs, SMS_SINGLE[enc], SMS_PART[enc]))


def segments(text: str) -> int:
    """Return how many SMS parts ``text`` needs (0 for the empty string).

    Multipart packing never splits an escape pair (GSM-7) or a surrogate pair (UCS-2)
    across two parts, as handsets and SMSCs do, so an escape-heavy text can need one
    part more than ``ceil(units / 153)``.
    """
    return measure(text).segments


def ussd_budget(text: str) -> int:
    """Return how many units fit one 160-octet USSD screen in this text's encoding."""
    return USSD_BUDGET[encoding(text)]


def ussd_length(text: str) -> int:
    """Return the text length in the units ``ussd_budget`` counts (septets or UTF-16 units)."""
    return sum(_costs(text, encoding(text)))


def fits_ussd(text: str) -> bool:
    """Return True if ``text`` fits on one USSD screen."""
    return ussd_length(text) <= ussd_budget(text)


# Tajik-specific letters are folded onto their Russian base letters because people type
# keywords on Russian keyboards without them. Latin is never mapped to Cyrillic or back:
# "YORDAM" and "ЁРДАМ" are different keywords.
_FOLD = str.maketrans(
    {
        "ҳ": "х",
        "Ҳ": "х",
        "қ": "к",
        "Қ": "к",
        "ҷ": "ч",
        "Ҷ": "ч",
        "ғ": "г",
        "Ғ": "г",
        "ӣ": "и",
        "Ӣ": "и",
        "ӯ": "у",
        "Ӯ": "у",
        "ё": "е",
        "Ё": "е",
        # Uzbek Latin oʻ/gʻ arrive with any of these marks depending on the keyboard.
        "\u02bb": "'",
        "\u02bc": "'",
        "\u2018": "'",
        "\u2019": "'",
        "`": "'",
    }
)


def fold(text: str) -> str:
    """Return a case- and variant-insensitive form of ``text`` for keyword matching.

    Surrounding whitespace and punctuation are stripped, inner whitespace collapses to a
    single space, and symbols such as emoji are kept.
    """
    # NFKC first so that a letter typed as base + combining mark (и + U+0304) and
    # full-width or compatibility forms fold the same as the precomposed letter.
    s = unicodedata.normalize("NFKC", text).casefold().translate(_FOLD)
    # Zero-width and direction marks are invisible but break equality.
    s = "".join(ch for ch in s if unicodedata.category(ch) != "Cf")
    start, end = 0, len(s)
    while start < end and _is_edge(s[start]):
        start += 1
    while end > start and _is_edge(s[end - 1]):
        end -= 1
    return " ".join(s[start:end].split())


def _is_edge(ch: str) -> bool:
    return ch.isspace() or unicodedata.category(ch)[0] in "PZ"


def _costs(text: str, enc: Encoding) -> Iterable[int]:
    if enc == GSM7:
        return (2 if ch in GSM7_EXTENSION else 1 for ch in text)
    return (2 if ord(ch) > 0xFFFF else 1 for ch in text)


def _pack(costs: list[int], single: int, part: int) -> int:
    total = sum(costs)
    if total == 0:
        return 0
    if total <= single:
        return 1
    parts, used = 1, 0
    for cost in costs:
        if used + cost > part:
            parts, used = parts + 1, 0
        used += cost
    return parts
