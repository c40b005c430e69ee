"""A basic phone on the USSD endpoint that walks the menus by what each screen means.

Tests, drills and the bench ask for help by meaning ("legal advice, Vakhsh, my group may be
told, call any time, no SMS"), not by key paths: the phone reads each screen, finds the line
whose text is the label of an option that records what she wants (or a district of that name),
and presses its number, paging with 00 when it is on a later page. A new screen, a reordered
option or a second page therefore changes no test.
"""

from __future__ import annotations

import re
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import cache

from gateway.text import fits_ussd, ussd_budget, ussd_length
from menus import engine

SERVICE_CODE = "*384*1234#"
NETWORK_CODE = "43612"
# The options that lead into a new help request: the menu's "ask for advice", and on the offer
# to continue a dropped session, starting again.
INTO_HELP = ("main.help", "resume.restart")
_LINE = re.compile(r"(\d+) (.+)")


@dataclass(frozen=True)
class Help:
    """What she asks for, as the values the flow records; None: whatever the screen offers."""

    lang: str = "en"
    kind: str = "legal"
    district: str = "Vakhsh"  # as the district list shows it, in her language
    consent: str | None = "group"  # danger now records `group` itself and never asks
    call: str = "any"
    sms: str = "no"

    def wanted(self) -> dict[str, str | None]:
        return {
            "lang": self.lang,
            "kind": self.kind,
            "consent": None if self.kind == "danger" else self.consent,
            "call": self.call,
            "sms": self.sms,
        }


@cache
def _meanings() -> Mapping[str, tuple[Mapping[str, str], ...]]:
    """Option text in any language -> what choosing it records, with its label key."""
    menus, found = engine.load(), defaultdict(list)
    for texts in menus.texts.values():
        for screen in menus.screens.values():
            for option in screen.options:
                found[" ".join(texts[option.label].split())].append(
                    {"label": option.label, **dict(option.sets)}
                )
    return {text: tuple(meanings) for text, meanings in found.items()}


def _fits(meaning: Mapping[str, str], wanted: Mapping[str, str | None]) -> bool:
    sets = {k: v for k, v in meaning.items() if k != "label"}
    cared = {k: v for k, v in sets.items() if wanted.get(k) is not None}
    return bool(cared) and all(wanted[k] == v for k, v in cared.items())


def key_for(body: str, help: Help, also: Iterable[str] = INTO_HELP) -> str:
    """The key that moves her towards `help` on this screen (CON text); AssertionError if none."""
    lines = body.removeprefix("CON ").split("\n")
    also, wanted = tuple(also), help.wanted()
    for line in lines:
        match = _LINE.fullmatch(line)
        if not match or match.group(1).startswith("0"):  # 0 Exit, 00 More
            continue
        number, text = match.groups()
        meanings = _meanings().get(text)
        if meanings is None and text == help.district:  # a district list line
            return number
        if any(m["label"] in also or _fits(m, wanted) for m in meanings or ()):
            return number
    if any(line.startswith("00 ") for line in lines):
        return "00"
    raise AssertionError(f"nothing on this screen leads to {help}: {body!r}")


def form(session: str, phone: str, inputs: list[str]) -> dict[str, str]:
    """An Africa's Talking USSD form: the text is every input of the session joined by '*'."""
    return {
        "sessionId": session,
        "serviceCode": SERVICE_CODE,
        "phoneNumber": phone,
        "networkCode": NETWORK_CODE,
        "text": "*".join(inputs),
    }


def new_session() -> str:
    return "ATUid_" + uuid.uuid4().hex


def ref_of(end: str) -> str:
    """The case reference an END screen gives her (its last run of 4 to 6 digits)."""
    found = re.findall(r"\d{4,6}", end)
    assert found, end
    return found[-1]


class UssdPhone:
    """A basic phone talking to the endpoint as the aggregator would: text accumulates.

    `post(form)` sends one hop and returns the answer's body; every body is checked to be a
    CON or END screen within its USSD budget.
    """

    STEPS = 30  # bounded: the help flow has eight screens plus district pages

    def __init__(self, post: Callable[[dict[str, str]], str], number: str):
        self.send, self.number = post, number
        self.session, self.inputs = "", []
        self.screens: list[str] = []

    def post(self, text: str, session: str | None = None) -> str:
        inputs = text.split("*") if text else []
        return self._show(self.send(form(session or self.session, self.number, inputs)))

    def dial(self) -> str:
        self.session, self.inputs = new_session(), []
        return self._show(self.send(form(self.session, self.number, [])))

    def press(self, *keys: str) -> str:
        body = ""
        for key in keys:
            self.inputs.append(key)
            body = self._show(self.send(form(self.session, self.number, self.inputs)))
        return body

    def ask(self, help: Help = Help()) -> str:
        """Dial and walk to the end of a help request; the END screen."""
        body = self.dial()
        for _ in range(self.STEPS):
            if body.startswith("END "):
                return body
            body = self.press(key_for(body, help))
        raise AssertionError(f"no end after {self.STEPS} screens: {self.screens[-3:]}")

    def _show(self, body: str) -> str:
        assert body.startswith(("CON ", "END ")), body
        screen = body[4:]
        assert fits_ussd(screen), f"{ussd_length(screen)} > {ussd_budget(screen)}: {screen!r}"
        self.screens.append(body)
        return body


def flask_post(client, key: str) -> Callable[[dict[str, str]], str]:
    """`post` for a UssdPhone on a Flask test client (checks the answer is 200 text/plain)."""

    def post(data: dict[str, str]) -> str:
        response = client.post(f"/ussd/africastalking?key={key}", data=data)
        assert response.status_code == 200, response.status_code
        assert response.mimetype == "text/plain", response.mimetype
        return response.get_data(as_text=True)

    return post


def flask_phone(client, key: str, number: str) -> UssdPhone:
    """A UssdPhone on a Flask test client, with the endpoint's key."""
    return UssdPhone(flask_post(client, key), number)


def http_help(
    http, url: str, phone: str, help: Help = Help(), strict: bool = True
) -> tuple[str | None, float]:
    """Her help request over HTTP (a requests.Session) to the USSD endpoint at `url`: the
    reference, and when the hop that submitted it began (time.time()).

    Not strict: an answer without a reference (the neutral error screen, a refused connection, a
    screen the walk does not understand) gives None instead of an exception."""
    import requests

    session, inputs, began = new_session(), [], 0.0
    for _ in range(UssdPhone.STEPS):
        began = time.time()
        try:
            body = http.post(url, data=form(session, phone, inputs), timeout=10).text
        except requests.RequestException:
            if strict:
                raise
            return None, began
        if not body.startswith("CON "):
            break
        try:
            inputs.append(key_for(body, help))
        except AssertionError:
            if strict:
                raise
            return None, began
    ref = body.split()[-1] if body.startswith("END ") else ""
    if not ref.isdigit():
        if strict:
            raise AssertionError(f"the help flow did not end with a reference: {body!r}")
        return None, began
    return ref, began
