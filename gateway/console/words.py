"""The console's words in English and Russian (the first is the default)."""

from __future__ import annotations

LANGUAGES = ("en", "ru")

WORDS: dict[str, dict[str, str]] = {
    "title": {"en": "Hamdam cases", "ru": "Hamdam: случаи"},
    "sign_in": {"en": "Sign in", "ru": "Войти"},
    "sign_out": {"en": "Sign out", "ru": "Выйти"},
    "name": {"en": "Name", "ru": "Имя"},
    "password": {"en": "Password", "ru": "Пароль"},
    "wrong": {"en": "Wrong name or password.", "ru": "Неверное имя или пароль."},
    "blocked": {
        "en": "Too many failed sign-ins: try again in {seconds} seconds.",
        "ru": "Слишком много неудачных попыток: попробуйте через {seconds} с.",
    },
    "signed_in_as": {
        "en": "Signed in as {name} ({role}, {org})",
        "ru": "Вы вошли как {name} ({role}, {org})",
    },
    "every_org": {"en": "every organisation", "ru": "все организации"},
    "overdue_count": {
        "en": "{count} waiting past their deadline",
        "ru": "Ждут дольше срока: {count}",
    },
    "search": {"en": "Reference", "ru": "Номер"},
    "filter": {"en": "Show", "ru": "Показать"},
    "any": {"en": "any", "ru": "все"},
    "state": {"en": "State", "ru": "Состояние"},
    "district": {"en": "District", "ru": "Район"},
    "kind": {"en": "Kind", "ru": "Вид"},
    "urgency": {"en": "Urgency", "ru": "Срочность"},
    "older": {"en": "Older than (hours)", "ru": "Старше (часов)"},
    "overdue": {"en": "Past its deadline", "ru": "Срок прошёл"},
    "opened": {"en": "Opened", "ru": "Открыт"},
    "waiting": {"en": "Waiting", "ru": "Ждёт"},
    "taken_by": {"en": "Taken by", "ru": "Принял"},
    "no_cases": {"en": "No cases match.", "ru": "Случаев нет."},
    "refreshes": {
        "en": "This list refreshes every 30 seconds.",
        "ru": "Список обновляется каждые 30 секунд.",
    },
    "case": {"en": "Case {ref}", "ru": "Случай {ref}"},
    "her_choices": {"en": "Her choices", "ru": "Её выбор"},
    "consent": {"en": "Who may be told", "ru": "Кому можно сообщить"},
    "call": {"en": "Call window", "ru": "Когда звонить"},
    "sms": {"en": "One SMS to her", "ru": "Одно SMS ей"},
    "channel": {"en": "Asked by", "ru": "Канал"},
    "timeline": {"en": "Timeline", "ru": "Ход случая"},
    "her_number": {"en": "Her number", "ru": "Её номер"},
    "hidden": {"en": "hidden", "ru": "скрыт"},
    "reason": {
        "en": "Why you need it (recorded with your name)",
        "ru": "Зачем он нужен (записывается с вашим именем)",
    },
    "reveal": {"en": "Show her number", "ru": "Показать номер"},
    "replay": {"en": "Send again", "ru": "Отправить снова"},
    "outcome": {"en": "Replay: {outcome}", "ru": "Повтор: {outcome}"},
    "back": {"en": "All cases", "ru": "Все случаи"},
    "not_found": {"en": "No such case.", "ru": "Такого случая нет."},
    "forbidden_form": {
        "en": "This form is out of date or did not come from this console: open the page again.",
        "ru": "Форма устарела или отправлена не из консоли: откройте страницу заново.",
    },
    "role_refused": {"en": "Your role cannot do this.", "ru": "Ваша роль не позволяет это."},
    "figures_only": {
        "en": "Your role sees anonymous figures only: `flask report` for now.",
        "ru": "Ваша роль видит только обезличенные цифры: пока `flask report`.",
    },
}


def pick(lang: str | None) -> str:
    """A console language from a request's choice, else the default."""
    return lang if lang in LANGUAGES else LANGUAGES[0]


def words(lang: str) -> dict[str, str]:
    """Every word in one language (English where a word has no translation)."""
    return {key: texts.get(lang) or texts[LANGUAGES[0]] for key, texts in WORDS.items()}
