"""The languages the gateway speaks: the one list, and the one fallback. Stdlib only.

Adding a language: add its code here and a catalog `menus/locales/<code>.yaml` with every key
(USSD screens, the SMS the gateway sends under `messages`, the words people text under
`keywords`; `flask menus check` names what is missing), and each district's name in the
directory.
"""

from __future__ import annotations

# Tajik first: the menus open in it, and it is the fallback for anyone whose language we do
# not know (a phone never seen, an SMS without a keyword of a known language).
CODES: tuple[str, ...] = ("tg", "ru", "uz", "en")
DEFAULT = CODES[0]


def or_default(lang: str | None) -> str:
    """The language itself when it is one we speak, else the default."""
    return lang if lang in CODES else DEFAULT


# The one text shown when nothing else can be (Redis or the menus failed inside): a USSD END in
# Tajik and Russian, the two languages every network's subscribers read. Not in a catalog, so
# that it never depends on one loading.
ERROR_END = "Хатогӣ. Баъдтар такрор кунед. / Ошибка. Повторите позже."
