"""Keywords and responder commands, matched across scripts with Tajik folding."""

from __future__ import annotations

import pytest

from gateway.keywords import Command, fold_code_words, parse


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("HELP", Command("help", "en")),
        ("ёрдам", Command("help", "tg")),
        ("ЕРДАМ", Command("help", "tg")),
        ("кӯмак", Command("help", "tg")),
        ("кумак", Command("help", "tg")),
        ("Помощь!", Command("help", "ru")),
        ("yordam", Command("help", "uz")),
        ("stop", Command("stop", "en")),
        ("Стоп", Command("stop", "ru")),
        ("ҳазф", Command("delete", "tg")),
        ("хазф", Command("delete", "tg")),
        ("o'chir", Command("delete", "uz")),
        ("OK 4821", Command("accept", "en", "4821")),
        ("ok #4821", Command("accept", "en", "4821")),
        ("хоп 123456", Command("accept", "tg", "123456")),
        ("НЕТ 4821", Command("decline", "ru", "4821")),
        ("done 4821", Command("done", "en", "4821")),
        ("тамом 4821", Command("done", "tg", "4821")),
        ("OK3521", Command("accept", "en", "3521")),
        ("OK-3521", Command("accept", "en", "3521")),
        ("Ok, 3521", Command("accept", "en", "3521")),
        ("ОК3521", Command("accept", "ru", "3521")),
        ("yo’q: 3521.", Command("decline", "uz", "3521")),
        ("Тамом: 3521", Command("done", "tg", "3521")),
        ("OK", Command("accept", "en")),
        ("ok.", Command("accept", "en")),
        ("done", Command("done", "en")),
        ("OK 12", Command("unclear", "en")),
        ("ok 4821 please", Command("unclear", "en")),
        ("OK 3521 3522", Command("unclear", "en")),
        ("Да, позвоню", Command("unclear", "ru")),
        ("Okay", Command("text")),
        ("OKAY 3521", Command("text")),
        ("Хоптар", Command("text")),
        ("Салом", Command("text")),
        ("", Command("text")),
    ],
)
def test_parse(text, expected):
    assert parse(text) == expected


def test_code_words_match_folded():
    words = fold_code_words({"tg": ["Хамираш тайёр"], "ru": ["Тесто готово"]})
    assert parse("хамираш  ТАЙЁР.", words) == Command("code", "tg")
    assert parse("тесто готово", words) == Command("code", "ru")
    assert parse("тесто", words) == Command("text")
