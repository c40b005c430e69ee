"""Tests for gateway.text."""

from __future__ import annotations

import pytest

from gateway.text import (
    GSM7_BASIC,
    GSM7_EXTENSION,
    Measure,
    encoding,
    fits_ussd,
    fold,
    is_gsm7,
    measure,
    segments,
    ussd_budget,
    ussd_length,
)

TAJIK = "Ман ба ёрдам ниёз дорам. Ғӣқӯҳҷ"
RUSSIAN = "Мне нужна помощь"


def test_alphabet_sizes() -> None:
    # 128 code points minus ESC; the extension table has 9 printable characters + form feed.
    assert len(GSM7_BASIC) == 127
    assert len(GSM7_EXTENSION) == 10
    assert not GSM7_BASIC & GSM7_EXTENSION


ENCODINGS = [
    pytest.param("", "GSM-7", id="empty"),
    pytest.param("HELP me, please! 123", "GSM-7", id="ascii"),
    pytest.param("Café à Zürich £5 @home", "GSM-7", id="gsm-latin-accents"),
    pytest.param("ΔΦΓΛΩΠΨΣΘΞ", "GSM-7", id="gsm-greek-capitals"),
    pytest.param("price 5€ [x] {y} ~z | a^b \\", "GSM-7", id="extension-chars"),
    pytest.param("Men yordam kerak, o'zbek", "GSM-7", id="uzbek-ascii-apostrophe"),
    pytest.param("Men yordam kerak, o\u02bbzbek", "UCS-2", id="uzbek-u02bb"),
    pytest.param(RUSSIAN, "UCS-2", id="russian"),
    pytest.param(TAJIK, "UCS-2", id="tajik"),
    pytest.param("ғ", "UCS-2", id="tajik-gh"),
    pytest.param("ӣ", "UCS-2", id="tajik-i-macron"),
    pytest.param("қ", "UCS-2", id="tajik-q"),
    pytest.param("ӯ", "UCS-2", id="tajik-u-macron"),
    pytest.param("ҳ", "UCS-2", id="tajik-h"),
    pytest.param("ҷ", "UCS-2", id="tajik-j"),
    pytest.param("Ok \U0001f64f", "UCS-2", id="emoji"),
    pytest.param("ç", "UCS-2", id="lowercase-c-cedilla-not-gsm"),
    pytest.param("tab\there", "UCS-2", id="tab-not-gsm"),
    pytest.param("\x1b", "UCS-2", id="bare-escape-not-gsm"),
]


@pytest.mark.parametrize(("text", "expected"), ENCODINGS)
def test_encoding(text: str, expected: str) -> None:
    assert encoding(text) == expected
    assert is_gsm7(text) is (expected == "GSM-7")


MEASURES = [
    pytest.param("", "GSM-7", 0, 0, id="empty-is-zero-segments"),
    pytest.param("hello", "GSM-7", 5, 1, id="ascii"),
    pytest.param("€", "GSM-7", 2, 1, id="euro-counts-2"),
    pytest.param("[", "GSM-7", 2, 1, id="bracket-counts-2"),
    pytest.param("\f", "GSM-7", 2, 1, id="form-feed-counts-2"),
    pytest.param("a[b]c", "GSM-7", 7, 1, id="mixed-extension"),
    pytest.param("a" * 160, "GSM-7", 160, 1, id="gsm-160"),
    pytest.param("a" * 161, "GSM-7", 161, 2, id="gsm-161"),
    pytest.param("a" * 306, "GSM-7", 306, 2, id="gsm-306"),
    pytest.param("a" * 307, "GSM-7", 307, 3, id="gsm-307"),
    pytest.param("a" * 159 + "€", "GSM-7", 161, 2, id="gsm-escape-crosses-single-limit"),
    pytest.param("€" * 80, "GSM-7", 160, 1, id="gsm-80-euros"),
    pytest.param("€" * 152, "GSM-7", 304, 2, id="gsm-152-euros"),
    # 306 septets would fit 2 parts, but 153 is odd: each part holds 76 escape pairs.
    pytest.param("€" * 153, "GSM-7", 306, 3, id="gsm-153-euros-escape-not-split"),
    pytest.param("ж" * 70, "UCS-2", 70, 1, id="ucs2-70"),
    pytest.param("ж" * 71, "UCS-2", 71, 2, id="ucs2-71"),
    pytest.param("ж" * 134, "UCS-2", 134, 2, id="ucs2-134"),
    pytest.param("ж" * 135, "UCS-2", 135, 3, id="ucs2-135"),
    pytest.param("\U0001f64f", "UCS-2", 2, 1, id="emoji-counts-2"),
    pytest.param("\U0001f64f" * 35, "UCS-2", 70, 1, id="ucs2-35-emoji"),
    pytest.param("\U0001f64f" * 36, "UCS-2", 72, 2, id="ucs2-36-emoji"),
    # 134 units would fit 2 parts, but 67 is odd: a surrogate pair is never split.
    pytest.param("\U0001f64f" * 67, "UCS-2", 134, 3, id="ucs2-67-emoji-pair-not-split"),
    pytest.param("a" * 159 + "ж", "UCS-2", 160, 3, id="one-cyrillic-switches-encoding"),
]


@pytest.mark.parametrize(("text", "enc", "units", "parts"), MEASURES)
def test_measure(text: str, enc: str, units: int, parts: int) -> None:
    assert measure(text) == Measure(enc, units, parts)
    assert segments(text) == parts


def test_measure_is_frozen() -> None:
    m = measure("hi")
    with pytest.raises(AttributeError):
        m.units = 3  # type: ignore[misc]


FOLD_EQUAL = [
    pytest.param("ЁРДАМ", "ёрдам", id="tajik-yo-case"),
    pytest.param("Ёрдам ", "ёрдам", id="trailing-space"),
    pytest.param("ЁРДАМ", "ердам", id="yo-to-ye"),
    pytest.param("ҲАМДАМ", "хамдам", id="tajik-h-to-russian-h"),
    pytest.param("ҚҶҒӢӮ", "кчгиу", id="tajik-capitals"),
    pytest.param("қҷғӣӯ", "кчгиу", id="tajik-lowercase"),
    pytest.param("\u0438\u0304", "ӣ", id="decomposed-i-macron"),
    pytest.param("YORDAM", "yordam", id="latin-case"),
    pytest.param("ПОМОЩЬ", "помощь", id="russian-case"),
    pytest.param("  ёрдам!!! ", "ЁРДАМ", id="surrounding-punctuation"),
    pytest.param("«Ёрдам»", "ёрдам", id="guillemets"),
    pytest.param("ёрдам   лозим", "ЁРДАМ ЛОЗИМ", id="inner-whitespace"),
    pytest.param("ёрдам\t\nлозим", "ёрдам лозим", id="inner-tab-newline"),
    pytest.param("\u200bёрдам\ufeff", "ёрдам", id="zero-width-chars"),
    pytest.param("O\u02bbZBEK", "o'zbek", id="uzbek-u02bb-to-apostrophe"),
    pytest.param("o\u2019zbek", "o'zbek", id="uzbek-right-quote-to-apostrophe"),
    pytest.param("ＨＥＬＰ", "help", id="fullwidth-latin"),
]


@pytest.mark.parametrize(("a", "b"), FOLD_EQUAL)
def test_fold_equal(a: str, b: str) -> None:
    assert fold(a) == fold(b)


FOLD_DISTINCT = [
    # Cyrillic and Latin look-alikes must stay apart: no transliteration.
    pytest.param("YORDAM", "ЁРДАМ", id="latin-vs-cyrillic-word"),
    pytest.param("A", "\u0410", id="latin-a-vs-cyrillic-a"),
    pytest.param("ёрдам лозим", "ёрдамлозим", id="inner-space-kept"),
    pytest.param("help 🙏", "help", id="emoji-kept"),
]


@pytest.mark.parametrize(("a", "b"), FOLD_DISTINCT)
def test_fold_distinct(a: str, b: str) -> None:
    assert fold(a) != fold(b)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("  Ёрдам! ", "ердам", id="tajik"),
        pytest.param("ҲАМДАМ", "хамдам", id="hamdam"),
        pytest.param("...", "", id="only-punctuation"),
        pytest.param("", "", id="empty"),
        pytest.param(" a  -  b ", "a - b", id="inner-punctuation-kept"),
    ],
)
def test_fold_exact(text: str, expected: str) -> None:
    assert fold(text) == expected


USSD = [
    pytest.param("a" * 182, 182, 182, True, id="gsm-182-fits"),
    pytest.param("a" * 183, 182, 183, False, id="gsm-183-too-long"),
    pytest.param("a" * 180 + "€", 182, 182, True, id="gsm-euro-at-limit"),
    pytest.param("a" * 181 + "€", 182, 183, False, id="gsm-euro-over-limit"),
    pytest.param((TAJIK * 3)[:80], 80, 80, True, id="tajik-80-fits"),
    pytest.param((TAJIK * 3)[:81], 80, 81, False, id="tajik-81-too-long"),
    pytest.param("ҳ" * 80, 80, 80, True, id="tajik-h-80-fits"),
    pytest.param("ҳ" * 81, 80, 81, False, id="tajik-h-81-too-long"),
    pytest.param("\U0001f64f" * 40, 80, 80, True, id="emoji-40-fits"),
    pytest.param("\U0001f64f" * 41, 80, 82, False, id="emoji-41-too-long"),
    pytest.param("", 182, 0, True, id="empty"),
]


@pytest.mark.parametrize(("text", "budget", "length", "fits"), USSD)
def test_ussd(text: str, budget: int, length: int, fits: bool) -> None:
    assert ussd_budget(text) == budget
    assert ussd_length(text) == length
    assert fits_ussd(text) is fits
