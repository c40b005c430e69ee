"""The console's words in English, Russian and Tajik (the first is the default).

The Russian and Tajik texts await review by native speakers, as the menus' do.
"""

from __future__ import annotations

LANGUAGES = ("en", "ru", "tg")

WORDS: dict[str, dict[str, str]] = {
    "title": {
        "en": "Hamdam cases",
        "ru": "Hamdam: случаи",
        "tg": "Hamdam: парвандаҳо",
    },
    "sign_in": {
        "en": "Sign in",
        "ru": "Войти",
        "tg": "Ворид шудан",
    },
    "sign_out": {
        "en": "Sign out",
        "ru": "Выйти",
        "tg": "Баромадан",
    },
    "name": {
        "en": "Name",
        "ru": "Имя",
        "tg": "Ном",
    },
    "password": {
        "en": "Password",
        "ru": "Пароль",
        "tg": "Парол",
    },
    "wrong": {
        "en": "Wrong name, password or code.",
        "ru": "Неверное имя, пароль или код.",
        "tg": "Ном, парол ё код нодуруст аст.",
    },
    "code": {
        "en": "Code from your authenticator app (if your account has one)",
        "ru": "Код из приложения-аутентификатора (если он у вас есть)",
        "tg": "Код аз барномаи тасдиқкунанда (агар дошта бошед)",
    },
    "needs_second_factor": {
        "en": "An admin needs a second factor here: ask for `flask operators totp NAME`.",
        "ru": "Администратору нужен второй фактор: `flask operators totp ИМЯ`.",
        "tg": "Ба маъмур дар ин ҷо омили дуюм лозим аст: `flask operators totp NAME`.",
    },
    "blocked": {
        "en": "Too many failed sign-ins: try again in {seconds} seconds.",
        "ru": "Слишком много неудачных попыток: попробуйте через {seconds} с.",
        "tg": "Кӯшишҳои ноком зиёд шуданд: баъд аз {seconds} сония боз кӯшиш кунед.",
    },
    "signed_in_as": {
        "en": "Signed in as {name} ({role}, {org})",
        "ru": "Вы вошли как {name} ({role}, {org})",
        "tg": "Шумо ҳамчун {name} ({role}, {org}) ворид шудед",
    },
    "every_org": {
        "en": "every organisation",
        "ru": "все организации",
        "tg": "ҳамаи ташкилотҳо",
    },
    "overdue_count": {
        "en": "{count} waiting past their deadline",
        "ru": "Ждут дольше срока: {count}",
        "tg": "Аз мӯҳлат гузаштаанд: {count}",
    },
    "search": {
        "en": "Reference",
        "ru": "Номер",
        "tg": "Рақам",
    },
    "filter": {
        "en": "Show",
        "ru": "Показать",
        "tg": "Нишон додан",
    },
    "any": {
        "en": "any",
        "ru": "все",
        "tg": "ҳама",
    },
    "state": {
        "en": "State",
        "ru": "Состояние",
        "tg": "Ҳолат",
    },
    "district": {
        "en": "District",
        "ru": "Район",
        "tg": "Ноҳия",
    },
    "kind": {
        "en": "Kind",
        "ru": "Вид",
        "tg": "Намуд",
    },
    "urgency": {
        "en": "Urgency",
        "ru": "Срочность",
        "tg": "Фаврият",
    },
    "older": {
        "en": "Older than (hours)",
        "ru": "Старше (часов)",
        "tg": "Кӯҳнатар аз (соат)",
    },
    "overdue": {
        "en": "Past its deadline",
        "ru": "Срок прошёл",
        "tg": "Мӯҳлаташ гузашт",
    },
    "opened": {
        "en": "Opened",
        "ru": "Открыт",
        "tg": "Кушода шуд",
    },
    "taken_by": {
        "en": "Taken by",
        "ru": "Принял",
        "tg": "Қабул кард",
    },
    "no_cases": {
        "en": "No cases match.",
        "ru": "Случаев нет.",
        "tg": "Парванда нест.",
    },
    "refreshes": {
        "en": "This list refreshes every 30 seconds.",
        "ru": "Список обновляется каждые 30 секунд.",
        "tg": "Ин рӯйхат ҳар 30 сония нав мешавад.",
    },
    "case": {
        "en": "Case {ref}",
        "ru": "Случай {ref}",
        "tg": "Парвандаи {ref}",
    },
    "her_choices": {
        "en": "Her choices",
        "ru": "Её выбор",
        "tg": "Интихоби ӯ",
    },
    "consent": {
        "en": "Who may be told",
        "ru": "Кому можно сообщить",
        "tg": "Ба кӣ гуфтан мумкин",
    },
    "call": {
        "en": "Call window",
        "ru": "Когда звонить",
        "tg": "Вақти занг",
    },
    "sms": {
        "en": "One SMS to her",
        "ru": "Одно SMS ей",
        "tg": "Як SMS ба ӯ",
    },
    "channel": {
        "en": "Asked by",
        "ru": "Канал",
        "tg": "Тавассути",
    },
    "timeline": {
        "en": "Timeline",
        "ru": "Ход случая",
        "tg": "Ҷараёни парванда",
    },
    "her_number": {
        "en": "Her number",
        "ru": "Её номер",
        "tg": "Рақами ӯ",
    },
    "hidden": {
        "en": "hidden",
        "ru": "скрыт",
        "tg": "пинҳон",
    },
    "reason": {
        "en": "Why you need it (recorded with your name)",
        "ru": "Зачем он нужен (записывается с вашим именем)",
        "tg": "Чаро лозим аст (бо номи шумо сабт мешавад)",
    },
    "reveal": {
        "en": "Show her number",
        "ru": "Показать номер",
        "tg": "Рақами ӯро нишон додан",
    },
    "replay": {
        "en": "Send again",
        "ru": "Отправить снова",
        "tg": "Аз нав фиристодан",
    },
    "outcome": {
        "en": "Replay: {outcome}",
        "ru": "Повтор: {outcome}",
        "tg": "Такрор: {outcome}",
    },
    "back": {
        "en": "All cases",
        "ru": "Все случаи",
        "tg": "Ҳамаи парвандаҳо",
    },
    "not_found": {
        "en": "No such case.",
        "ru": "Такого случая нет.",
        "tg": "Чунин парванда нест.",
    },
    "forbidden_form": {
        "en": "This form is out of date or did not come from this console: open the page again.",
        "ru": "Форма устарела или отправлена не из консоли: откройте страницу заново.",
        "tg": "Ин шакл кӯҳна шудааст ё аз консол фиристода нашудааст: саҳифаро аз нав кушоед.",
    },
    "role_refused": {
        "en": "Your role cannot do this.",
        "ru": "Ваша роль не позволяет это.",
        "tg": "Нақши шумо ба ин иҷозат намедиҳад.",
    },
    "figures_only": {
        "en": "Your role sees anonymous figures only.",
        "ru": "Ваша роль видит только обезличенные цифры.",
        "tg": "Нақши шумо танҳо рақамҳои беномро мебинад.",
    },
    "cases_nav": {
        "en": "Cases",
        "ru": "Случаи",
        "tg": "Парвандаҳо",
    },
    "reports": {
        "en": "Figures",
        "ru": "Цифры",
        "tg": "Рақамҳо",
    },
    "directory": {
        "en": "Directory",
        "ru": "Справочник",
        "tg": "Феҳрист",
    },
    "dashboard": {
        "en": "Queues",
        "ru": "Очереди",
        "tg": "Навбатҳо",
    },
    "download_csv": {
        "en": "Download CSV",
        "ru": "Скачать CSV",
        "tg": "CSV-ро боргирӣ кардан",
    },
    "from": {
        "en": "From",
        "ru": "С",
        "tg": "Аз",
    },
    "to": {
        "en": "To (not included)",
        "ru": "По (не включая)",
        "tg": "То (дохил намешавад)",
    },
    "organisation": {
        "en": "Organisation",
        "ru": "Организация",
        "tg": "Ташкилот",
    },
    "all_orgs": {
        "en": "all",
        "ru": "все",
        "tg": "ҳама",
    },
    "suppressed": {
        "en": "Counts under {n} are shown as <{n}: a small number could point at a person.",
        "ru": "Числа меньше {n} показаны как <{n}: малое число может указать на человека.",
        "tg": (
            "Рақамҳои камтар аз {n} ҳамчун <{n} нишон дода мешаванд: рақами хурд метавонад ба "
            "одам ишора кунад."
        ),
    },
    "chart": {
        "en": "Cases by district and kind; minutes to acceptance",
        "ru": "Случаи по районам и видам; минуты до принятия",
        "tg": "Парвандаҳо аз рӯи ноҳия ва намуд; дақиқаҳо то қабул",
    },
    "check_ok": {
        "en": "The directory file passes the check.",
        "ru": "Файл справочника проверен: ошибок нет.",
        "tg": "Файли феҳрист санҷида шуд: хато нест.",
    },
    "check_problems": {
        "en": "The directory file has problems (the gateway keeps the last good one):",
        "ru": "В файле справочника ошибки (шлюз работает с последним исправным):",
        "tg": "Дар файли феҳрист хатоҳо ҳаст (шлюз бо охирин феҳристи дуруст кор мекунад):",
    },
    "version": {
        "en": "Version",
        "ru": "Версия",
        "tg": "Версия",
    },
    "districts": {
        "en": "Districts",
        "ru": "Районы",
        "tg": "Ноҳияҳо",
    },
    "responders": {
        "en": "Responders",
        "ru": "Откликающиеся",
        "tg": "Ҷавобдиҳандагон",
    },
    "role": {
        "en": "Role",
        "ru": "Роль",
        "tg": "Нақш",
    },
    "tier": {
        "en": "Tier",
        "ru": "Очередь",
        "tg": "Навбат",
    },
    "languages_of": {
        "en": "Languages",
        "ru": "Языки",
        "tg": "Забонҳо",
    },
    "duty_officer": {
        "en": "Duty officer",
        "ru": "Дежурный",
        "tg": "Навбатдор",
    },
    "act": {
        "en": "Act on this case",
        "ru": "Действия",
        "tg": "Амал бо ин парванда",
    },
    "hand_to": {
        "en": "Hand it to",
        "ru": "Передать",
        "tg": "Супоридан ба",
    },
    "hand": {
        "en": "Hand over (they get the details by SMS)",
        "ru": "Передать (данные придут по SMS)",
        "tg": "Супоридан (маълумот бо SMS мерасад)",
    },
    "close_reason": {
        "en": "Why it is closed (recorded with your name)",
        "ru": "Почему закрыт (записывается с вашим именем)",
        "tg": "Чаро баста мешавад (бо номи шумо сабт мешавад)",
    },
    "close": {
        "en": "Close the case",
        "ru": "Закрыть случай",
        "tg": "Парвандаро бастан",
    },
    "said_closed": {
        "en": "The case is closed.",
        "ru": "Случай закрыт.",
        "tg": "Парванда баста шуд.",
    },
    "said_handed": {
        "en": "The case is handed over.",
        "ru": "Случай передан.",
        "tg": "Парванда супорида шуд.",
    },
    "said_unchanged": {
        "en": "Nothing changed: the case had moved on.",
        "ru": "Ничего не изменилось: случай уже изменился.",
        "tg": "Ҳеҷ чиз тағйир наёфт: парванда аллакай дигар шудааст.",
    },
    "aid_given": {
        "en": "Aid she received",
        "ru": "Полученная помощь",
        "tg": "Ёрии гирифтааш",
    },
    "record_aid": {
        "en": "Aid given (kinds only, nothing about her)",
        "ru": "Оказанная помощь (только виды, ничего о ней)",
        "tg": "Ёрии расонида (танҳо намуд, на дар бораи ӯ)",
    },
    "record": {
        "en": "Record",
        "ru": "Записать",
        "tg": "Сабт кардан",
    },
    "said_aid": {
        "en": "The aid is recorded.",
        "ru": "Помощь записана.",
        "tg": "Ёрӣ сабт шуд.",
    },
    "quiet": {
        "en": "No news",
        "ru": "Нет новостей",
        "tg": "Хабар нест",
    },
    "quiet_count": {
        "en": "{count} taken without news for {days} days",
        "ru": "Без новостей {days} дн.: {count}",
        "tg": "{days} рӯз бехабар: {count}",
    },
    "follow_up": {
        "en": "Follow-up",
        "ru": "Проверка",
        "tg": "Санҷиш",
    },
    "follow_up_days": {
        "en": "Follow up in (days; its holder is reminded then)",
        "ru": "Проверить через (дней; принявшему придёт напоминание)",
        "tg": "Санҷиш баъд аз (рӯз; ба қабулкунанда ёдрас мешавад)",
    },
    "set_follow_up": {
        "en": "Set the follow-up",
        "ru": "Назначить проверку",
        "tg": "Санҷишро таъин кардан",
    },
    "notes": {
        "en": "Notes by the responder",
        "ru": "Заметки принявшего",
        "tg": "Қайдҳои ҷавобдиҳанда",
    },
    "said_follow_up": {
        "en": "The follow-up is set.",
        "ru": "Проверка назначена.",
        "tg": "Санҷиш таъин шуд.",
    },
    "download_donor": {
        "en": "Donor summary (CSV)",
        "ru": "Сводка для доноров (CSV)",
        "tg": "Хулоса барои донорон (CSV)",
    },
    "refer": {
        "en": "Refer to another organisation",
        "ru": "Передать другой организации",
        "tg": "Ба ташкилоти дигар супоридан",
    },
    "refer_to": {
        "en": "Organisation",
        "ru": "Организация",
        "tg": "Ташкилот",
    },
    "refer_reason": {
        "en": "For",
        "ru": "Для",
        "tg": "Барои",
    },
    "refer_agreed": {
        "en": (
            "She agreed to be referred (she said so at intake or on the "
            "phone); kept in the audit with your name"
        ),
        "ru": (
            "Она согласилась на передачу (при обращении или по "
            "телефону); записывается в журнал с вашим именем"
        ),
        "tg": (
            "Ӯ ба супоридан розӣ шуд (ҳангоми муроҷиат ё бо телефон); бо "
            "номи шумо дар сабт нигоҳ дошта мешавад"
        ),
    },
    "said_referred": {
        "en": "Referred: the other organisation's duty officer is alerted.",
        "ru": "Передано: дежурный другой организации оповещён.",
        "tg": "Супорида шуд: навбатдори ташкилоти дигар огоҳ шуд.",
    },
    "referral": {
        "en": "Referral",
        "ru": "Передача",
        "tg": "Супоридан",
    },
    "referral_state": {
        "en": "{state}: from {sender} to {to}, {reason}, on {day}",
        "ru": "{state}: от {sender} в {to}, {reason}, {day}",
        "tg": "{state}: аз {sender} ба {to}, {reason}, {day}",
    },
    "referred_out": {
        "en": "referred out",
        "ru": "передан",
        "tg": "супорида шуд",
    },
    "stub": {
        "en": (
            "Your organisation referred this case to {to}, which took "
            "it. You see only the referral and its outcome."
        ),
        "ru": (
            "Ваша организация передала этот случай в {to}, и там его "
            "приняли. Вам видны только передача и итог."
        ),
        "tg": (
            "Ташкилоти шумо ин парвандаро ба {to} супорид ва он ҷо қабул "
            "шуд. Шумо танҳо супоридан ва натиҷаро мебинед."
        ),
    },
    "groups": {
        "en": "Groups",
        "ru": "Группы",
        "tg": "Гурӯҳҳо",
    },
    "group": {
        "en": "Group",
        "ru": "Группа",
        "tg": "Гурӯҳ",
    },
    "group_code": {
        "en": "Code to join",
        "ru": "Код для вступления",
        "tg": "Рамзи дохилшавӣ",
    },
    "group_hours": {
        "en": "Hours members receive in",
        "ru": "Часы получения сообщений",
        "tg": "Соатҳои гирифтани паём",
    },
    "members": {
        "en": "Members",
        "ru": "Участники",
        "tg": "Аъзоён",
    },
    "no_groups": {
        "en": "Your organisation has no groups in the directory.",
        "ru": "У вашей организации нет групп в справочнике.",
        "tg": "Ташкилоти шумо дар феҳрист гурӯҳ надорад.",
    },
    "add_member": {
        "en": "Add a member",
        "ru": "Добавить участника",
        "tg": "Илова кардани аъзо",
    },
    "member_phone": {
        "en": "Her or his phone number",
        "ru": "Номер телефона",
        "tg": "Рақами телефон",
    },
    "member_lang": {
        "en": "Language of the messages",
        "ru": "Язык сообщений",
        "tg": "Забони паёмҳо",
    },
    "member_agreed": {
        "en": (
            "They agreed in person to receive the group's messages; kept "
            "in the audit with your name"
        ),
        "ru": (
            "Человек лично согласился получать сообщения группы; "
            "записывается в журнал с вашим именем"
        ),
        "tg": (
            "Шахс шахсан розӣ шуд, ки паёмҳои гурӯҳро гирад; бо номи "
            "шумо дар сабт нигоҳ дошта мешавад"
        ),
    },
    "said_member": {
        "en": "Added: a neutral confirmation goes to the phone once.",
        "ru": "Добавлено: на телефон один раз придёт нейтральное подтверждение.",
        "tg": "Илова шуд: ба телефон як бор тасдиқи бетараф меравад.",
    },
    "broadcast": {
        "en": "Write to the group",
        "ru": "Написать группе",
        "tg": "Ба гурӯҳ навиштан",
    },
    "template": {
        "en": "Message",
        "ru": "Сообщение",
        "tg": "Паём",
    },
    "day": {
        "en": "Day",
        "ru": "День",
        "tg": "Рӯз",
    },
    "time": {
        "en": "Time (HH:MM)",
        "ru": "Время (ЧЧ:ММ)",
        "tg": "Вақт (СС:ДД)",
    },
    "free_text": {
        "en": "Own words (admins; checked against the words no group message may hold)",
        "ru": "Свой текст (администраторы; проверяется на запрещённые слова)",
        "tg": "Матни худ (маъмурон; барои калимаҳои манъшуда санҷида мешавад)",
    },
    "preview": {
        "en": "Preview",
        "ru": "Предпросмотр",
        "tg": "Пешнамоиш",
    },
    "recipients": {
        "en": "Recipients",
        "ru": "Получатели",
        "tg": "Гирандагон",
    },
    "segments": {
        "en": "SMS segments in all",
        "ru": "Всего SMS-сегментов",
        "tg": "Ҳамагӣ қисмҳои SMS",
    },
    "cost_on": {
        "en": "Cost on {route}",
        "ru": "Стоимость через {route}",
        "tg": "Арзиш тавассути {route}",
    },
    "send_at": {
        "en": "Goes out",
        "ru": "Отправка",
        "tg": "Фиристодан",
    },
    "send_broadcast": {
        "en": "Send to {n} members",
        "ru": "Отправить {n} участникам",
        "tg": "Ба {n} аъзо фиристодан",
    },
    "said_sent": {
        "en": "Queued: it goes out in the group's hours, behind any alert.",
        "ru": "В очереди: уйдёт в часы группы, после любых оповещений.",
        "tg": "Дар навбат: дар соатҳои гурӯҳ, баъд аз ҳар огоҳӣ меравад.",
    },
    "broadcasts": {
        "en": "Messages sent to the group",
        "ru": "Сообщения группе",
        "tg": "Паёмҳо ба гурӯҳ",
    },
    "by": {
        "en": "By",
        "ru": "Кто",
        "tg": "Кӣ",
    },
    "delivery": {
        "en": "Delivery",
        "ru": "Доставка",
        "tg": "Расонидан",
    },
}


def pick(lang: str | None) -> str:
    """A console language from a request's choice, else the default."""
    return lang if lang in LANGUAGES else LANGUAGES[0]


def words(lang: str) -> dict[str, str]:
    """Every word in one language (English where a word has no translation)."""
    return {key: texts.get(lang) or texts[LANGUAGES[0]] for key, texts in WORDS.items()}
