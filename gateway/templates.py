"""SMS texts to responders, per language: the minimum a responder needs, nothing of hers.

An alert carries the reference, kind, urgency, coarse place, the safe-contact instruction and
how to accept; never her number, name or words. Every text fits two UCS-2 segments (134
characters) with the longest district name and a 6-digit reference: tests/test_templates.py.
"""

from __future__ import annotations

from gateway.text import measure
from menus import languages

LANGS = languages.CODES
MAX_SEGMENTS = 2

KIND = {
    "tg": {
        "danger": "хатари фаврӣ",
        "legal": "маслиҳати ҳуқуқӣ",
        "shelter": "ҷойи бехатар",
        "money": "пул ё кор",
        "talk": "суҳбат",
        "callback": "занги бозгашт",
    },
    "ru": {
        "danger": "опасность сейчас",
        "legal": "юридический вопрос",
        "shelter": "безопасное жильё",
        "money": "деньги или работа",
        "talk": "поговорить",
        "callback": "просит перезвонить",
    },
    "uz": {
        "danger": "xavf hozir",
        "legal": "huquqiy maslahat",
        "shelter": "xavfsiz joy",
        "money": "pul yoki ish",
        "talk": "suhbat",
        "callback": "qayta qo'ng'iroq",
    },
    "en": {
        "danger": "danger now",
        "legal": "legal advice",
        "shelter": "a safe place to stay",
        "money": "money or work",
        "talk": "someone to talk to",
        "callback": "asks to be called back",
    },
}
URGENT = {"tg": "ФАВРӢ ", "ru": "СРОЧНО ", "uz": "SHOSHILINCH ", "en": "URGENT "}
CONTACT = {
    "tg": {"any": "Ҳар вақт занг задан мумкин.", "day": "Танҳо рӯзона занг занед.",
           "none": "Занг назанед."},
    "ru": {"any": "Звонить можно всегда.", "day": "Звонить только днём.", "none": "Не звонить."},
    "uz": {"any": "Istalgan vaqt qo'ng'iroq mumkin.", "day": "Faqat kunduzi qo'ng'iroq qiling.",
           "none": "Qo'ng'iroq qilmang."},
    "en": {"any": "Safe to call any time.", "day": "Call only in daytime.",
           "none": "Do not call her."},
}  # fmt: skip
TEXT = {
    "tg": {
        "alert": "{urgency}#{ref}: {kind}, {district}. {contact} Барои қабул: OK {ref}",
        "details": "#{ref} аз они шумо. Рақам: {phone}. {contact} Баъд: ТАМОМ {ref}",
        "details_nocall": "#{ref} аз они шумо. Ӯ хоҳиш кард: занг назанед, SMS нафиристед. "
        "Баъд: ТАМОМ {ref}",
        "taken": "#{ref}-ро шахси дигар гирифт. Ташаккур.",
        "late": "#{ref} аллакай гирифта шудааст.",
        "closed": "#{ref} баста шуд. Ташаккур.",
        "declined": "#{ref}: фаҳмидем, ташаккур.",
        "reminder": "Ёдрас: #{ref} ({kind}, {district}) интизор аст. OK {ref}",
        "unclear": "Фаҳмида нашуд. Барои қабул OK ва рамзи паси # нависед, масалан OK 1234",
    },
    "ru": {
        "alert": "{urgency}#{ref}: {kind}, {district}. {contact} Принять: OK {ref}",
        "details": "#{ref} за вами. Номер: {phone}. {contact} Закрыть: ГОТОВО {ref}",
        "details_nocall": "#{ref} за вами. Она просила не звонить и не писать. "
        "Закрыть: ГОТОВО {ref}",
        "taken": "#{ref} принял другой. Спасибо.",
        "late": "#{ref} уже принят другим.",
        "closed": "#{ref} закрыт. Спасибо.",
        "declined": "#{ref}: отмечено, спасибо.",
        "reminder": "Напоминание: #{ref} ({kind}, {district}) ждёт. OK {ref}",
        "unclear": "Не понято. Чтобы принять, напишите OK и код после #, например OK 1234",
    },
    "uz": {
        "alert": "{urgency}#{ref}: {kind}, {district}. {contact} Qabul: OK {ref}",
        "details": "#{ref} sizda. Raqam: {phone}. {contact} Yopish: TAYYOR {ref}",
        "details_nocall": "#{ref} sizda. U qo'ng'iroq qilmaslik va SMS yozmaslikni so'radi. "
        "Yopish: TAYYOR {ref}",
        "taken": "#{ref} boshqa kishi oldi. Rahmat.",
        "late": "#{ref} allaqachon olingan.",
        "closed": "#{ref} yopildi. Rahmat.",
        "declined": "#{ref}: qayd etildi, rahmat.",
        "reminder": "Eslatma: #{ref} ({kind}, {district}) kutmoqda. OK {ref}",
        "unclear": "Tushunilmadi. Qabul uchun OK va # dan keyingi kodni yozing, masalan OK 1234",
    },
    "en": {
        "alert": "{urgency}#{ref}: {kind}, {district}. {contact} To take it reply OK {ref}",
        "details": "#{ref} is yours. Number: {phone}. {contact} When done reply DONE {ref}",
        "details_nocall": "#{ref} is yours. She asked not to be called or texted. "
        "When done reply DONE {ref}",
        "taken": "#{ref} was taken by another responder. Thank you.",
        "late": "#{ref} is already taken by another responder.",
        "closed": "#{ref} is closed. Thank you.",
        "declined": "#{ref}: noted, thank you.",
        "reminder": "Reminder: #{ref} ({kind}, {district}) is still waiting. OK {ref}",
        "unclear": "Not understood. To take a request reply OK and the code after #, e.g. OK 1234",
    },
}


# Alerts held while a responder had too many this hour, listed in one SMS (as many references
# as fit MAX_SEGMENTS; the rest go in the next one).
DIGEST = {
    "tg": "{count} ҳолати нав: {refs}. Барои қабул: OK ва рамзи он.",
    "ru": "{count} новых: {refs}. Принять: OK и код.",
    "uz": "{count} yangi: {refs}. Qabul: OK va kodi.",
    "en": "{count} new: {refs}. To take one reply OK and its code.",
}
# To a duty officer, once per flood (per district and hour) or per outage (per hour).
NOTICE = {
    "flood": {
        "tg": "Сели ҳолатҳо дар {district}: дар ин соат огоҳиҳо якҷоя фиристода мешаванд. "
        "Панелро санҷед.",
        "ru": "Поток случаев в {district}: в этот час оповещения идут сводкой. Проверьте панель.",
        "uz": "{district}: ko'p holat, bu soat xabarlar jamlab yuboriladi. Panelni tekshiring.",
        "en": "Flood of cases in {district}: this hour alerts go out grouped. Check the dashboard.",
    },
    "outage": {
        "tg": "SMS ба посухдиҳандагон намеравад ({district}); такрор мекунем. Панелро санҷед.",
        "ru": "SMS не доходят до ответчиков ({district}); повторяем. Проверьте панель.",
        "uz": "SMS javobgarlarga yetmayapti ({district}); qayta yuboramiz. Panelni tekshiring.",
        "en": "SMS to responders are failing ({district}); retrying. Check the dashboard.",
    },
}


def digest(lang: str, refs: list[str]) -> str:
    """The digest of held alerts: how many, their references, how to take one."""
    lang = lang if lang in DIGEST else "en"
    listed = " ".join(f"#{ref}" for ref in refs)
    return DIGEST[lang].format(count=len(refs), refs=listed)


def notice(name: str, lang: str, **params: str) -> str:
    """A notice to the duty officer (`flood` or `outage`), in their language."""
    texts = NOTICE[name]
    return texts.get(lang, texts["en"]).format(**params)


# The only text ever sent to her: neutral (no service, no topic), one segment in every language.
SURVIVOR_TEXT = {
    "tg": "Рамз {ref}: қабул шуд. Ташаккур.",
    "ru": "Код {ref}: принято. Спасибо.",
    "uz": "Kod {ref}: qabul qilindi. Rahmat.",
    "en": "Code {ref}: received. Thank you.",
}


def acknowledgement(lang: str, ref: str) -> str:
    """The neutral acknowledgement for her, in her language."""
    return SURVIVOR_TEXT.get(lang, SURVIVOR_TEXT["tg"]).format(ref=ref)


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
