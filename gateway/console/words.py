"""The console's words in English and Russian (the first is the default)."""

from __future__ import annotations

LANGUAGES = ("en", "ru")

WORDS: dict[str, dict[str, str]] = {
    "title": {"en": "Hamdam cases", "ru": "Hamdam: случаи"},
    "sign_in": {"en": "Sign in", "ru": "Войти"},
    "sign_out": {"en": "Sign out", "ru": "Выйти"},
    "name": {"en": "Name", "ru": "Имя"},
    "password": {"en": "Password", "ru": "Пароль"},
    "wrong": {
        "en": "Wrong name, password or code.",
        "ru": "Неверное имя, пароль или код.",
    },
    "code": {
        "en": "Code from your authenticator app (if your account has one)",
        "ru": "Код из приложения-аутентификатора (если он у вас есть)",
    },
    "needs_second_factor": {
        "en": "An admin needs a second factor here: ask for `flask operators totp NAME`.",
        "ru": "Администратору нужен второй фактор: `flask operators totp ИМЯ`.",
    },
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
        "en": "Your role sees anonymous figures only.",
        "ru": "Ваша роль видит только обезличенные цифры.",
    },
    "cases_nav": {"en": "Cases", "ru": "Случаи"},
    "reports": {"en": "Figures", "ru": "Цифры"},
    "directory": {"en": "Directory", "ru": "Справочник"},
    "download_csv": {"en": "Download CSV", "ru": "Скачать CSV"},
    "from": {"en": "From", "ru": "С"},
    "to": {"en": "To (not included)", "ru": "По (не включая)"},
    "organisation": {"en": "Organisation", "ru": "Организация"},
    "all_orgs": {"en": "all", "ru": "все"},
    "suppressed": {
        "en": "Counts under {n} are shown as <{n}: a small number could point at a person.",
        "ru": "Числа меньше {n} показаны как <{n}: малое число может указать на человека.",
    },
    "chart": {
        "en": "Cases by district and kind; minutes to acceptance",
        "ru": "Случаи по районам и видам; минуты до принятия",
    },
    "check_ok": {
        "en": "The directory file passes the check.",
        "ru": "Файл справочника проверен: ошибок нет.",
    },
    "check_problems": {
        "en": "The directory file has problems (the gateway keeps the last good one):",
        "ru": "В файле справочника ошибки (шлюз работает с последним исправным):",
    },
    "version": {"en": "Version", "ru": "Версия"},
    "districts": {"en": "Districts", "ru": "Районы"},
    "responders": {"en": "Responders", "ru": "Откликающиеся"},
    "role": {"en": "Role", "ru": "Роль"},
    "tier": {"en": "Tier", "ru": "Очередь"},
    "languages_of": {"en": "Languages", "ru": "Языки"},
    "duty_officer": {"en": "Duty officer", "ru": "Дежурный"},
    "act": {"en": "Act on this case", "ru": "Действия"},
    "hand_to": {"en": "Hand it to", "ru": "Передать"},
    "hand": {
        "en": "Hand over (they get the details by SMS)",
        "ru": "Передать (данные придут по SMS)",
    },
    "close_reason": {
        "en": "Why it is closed (recorded with your name)",
        "ru": "Почему закрыт (записывается с вашим именем)",
    },
    "close": {"en": "Close the case", "ru": "Закрыть случай"},
    "said_closed": {"en": "The case is closed.", "ru": "Случай закрыт."},
    "said_handed": {"en": "The case is handed over.", "ru": "Случай передан."},
    "said_unchanged": {
        "en": "Nothing changed: the case had moved on.",
        "ru": "Ничего не изменилось: случай уже изменился.",
    },
}


def pick(lang: str | None) -> str:
    """A console language from a request's choice, else the default."""
    return lang if lang in LANGUAGES else LANGUAGES[0]


def words(lang: str) -> dict[str, str]:
    """Every word in one language (English where a word has no translation)."""
    return {key: texts.get(lang) or texts[LANGUAGES[0]] for key, texts in WORDS.items()}
