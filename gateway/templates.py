"""SMS texts to responders, per language: the minimum a responder needs, nothing of hers.

An alert carries the reference, kind, urgency, coarse place, the safe-contact instruction and
how to accept; never her number, name or words. Every text fits two UCS-2 segments (134
characters) with the longest district name and a 6-digit reference: tests/test_templates.py.
The texts themselves are in each language's catalog (menus/locales/<lang>.yaml, under `messages`).
"""

from __future__ import annotations

from gateway.text import measure
from menus import catalog, languages

LANGS = languages.CODES
MAX_SEGMENTS = 2
# The responder texts render() fills in.
_NAMES = ("alert", "details", "details_nocall", "taken", "late", "closed", "declined", "reminder",
          "unclear", "aid_recorded", "aid_codes", "later_set", "follow_up", "follow_up_missed",
          "note_kept", "quiet", "referral", "referral_back", "meet_preview", "meet_sent",
          "meet_how", "referred", "refer_how")  # fmt: skip

_SMS = catalog.section("messages")
# Texts by language (menus/locales/<lang>.yaml, under `messages`), then by name.
KIND = catalog.section("messages.kind")
CONTACT = catalog.section("messages.contact")
AID = catalog.section("messages.aid")  # the label of each kind of aid
AID_CODES = catalog.section("keywords.aid_codes")  # the SMS codes of each kind of aid
URGENT = {lang: t["urgent"] + " " for lang, t in _SMS.items()}
TEXT = {lang: {name: t[name] for name in _NAMES} for lang, t in _SMS.items()}


# Alerts held while a responder had too many this hour, listed in one SMS (as many references
# as fit MAX_SEGMENTS; the rest go in the next one).
DIGEST = {lang: t["digest"] for lang, t in _SMS.items()}
# To a duty officer, once per flood (per district and hour) or per outage (per hour); from the
# gateway's watch, when a check starts failing or passes again (gateway/usecases/watch.py); and
# a route's daily self-test, to a phone of the organisation's own.
NOTICES = ("flood", "outage", "problem", "recovered", "selftest")
NOTICE = {name: {lang: t[f"notice.{name}"] for lang, t in _SMS.items()} for name in NOTICES}


def digest(lang: str, refs: list[str]) -> str:
    """The digest of held alerts: how many, their references, how to take one."""
    lang = lang if lang in DIGEST else "en"
    listed = " ".join(f"#{ref}" for ref in refs)
    return DIGEST[lang].format(count=len(refs), refs=listed)


def notice(name: str, lang: str, **params: str) -> str:
    """A notice (one of NOTICES) in the reader's language."""
    texts = NOTICE[name]
    return texts.get(lang, texts["en"]).format(**params)


# The only text ever sent to her: neutral (no service, no topic), one segment in every language.
SURVIVOR_TEXT = {lang: t["acknowledgement"] for lang, t in _SMS.items()}


def acknowledgement(lang: str, ref: str) -> str:
    """The neutral acknowledgement for her, in her language."""
    return SURVIVOR_TEXT.get(lang, SURVIVOR_TEXT["tg"]).format(ref=ref)


def aid_labels(lang: str, kinds: tuple[str, ...]) -> str:
    """Kinds of aid as a responder reads them, in their language."""
    lang = lang if lang in AID else "en"
    return ", ".join(AID[lang].get(kind, kind) for kind in kinds)


def aid_codes(lang: str, kinds: tuple[str, ...]) -> str:
    """Kinds of aid as their first SMS code in a language: short enough for any confirmation."""
    lang = lang if lang in AID_CODES else "en"
    return " ".join(AID_CODES[lang][kind].split()[0] for kind in kinds)


def render(name: str, lang: str, **params: str) -> str:
    """The text `name` in `lang` (English when the language is unknown)."""
    lang = lang if lang in TEXT else "en"
    kind = params.pop("kind", "")
    call = params.pop("call", "")
    values = {
        "kind": KIND[lang].get(kind, kind),
        "contact": CONTACT[lang].get(call, ""),
        "urgency": URGENT[lang] if params.pop("urgency", "") == "urgent" else "",
        **params,
    }
    return TEXT[lang][name].format(**values)


def over_budget(body: str) -> bool:
    """True when a text needs more than MAX_SEGMENTS segments (an operator's long name can)."""
    return measure(body).segments > MAX_SEGMENTS
