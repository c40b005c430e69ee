"""Log redaction: phone numbers in any written form, and secrets, never reach a log line."""

from __future__ import annotations

import io
import logging
import os
import re
import signal
import socket
from urllib.parse import quote, quote_plus, unquote_plus

import phonenumbers
import pytest
import requests
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from gateway import logs
from gateway.localredis import free_port
from gateway.phone import SEPARATORS, normalise
from testing.env import make_env
from testing.processes import Processes, process_env, procfile, spawn, wait_for, web_answers

PHONE = "+992900009902"
KEY = "test-ussd-key-0123456789"


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("from +992900001234 ok", "from ***34 ok"),
        ("from 992 90 000 1234", "from ***34"),
        ("raw 900001234.", "raw ***34."),
        ("job 12345 took 250 ms", "job 12345 took 250 ms"),
        ("ref 4821", "ref 4821"),
        ("8900001234 and 00992900001234", "***34 and ***34"),
        ("127.0.0.1 GET /healthz 200 113 68ms", "127.0.0.1 GET /healthz 200 113 68ms"),
        ("Worker c91cd4e2718da8ad563bdff8: started", "Worker c91cd4e2718da8ad563bdff8: started"),
        ("job 9f1b2c3d4e5f60718293a4b5c6d7e8f9", "job 9f1b2c3d4e5f60718293a4b5c6d7e8f9"),
        ("at 2026-11-22T00:04:11Z", "at 2026-11-22T00:04:11Z"),
        # The leaks found on a running gateway and in review.
        ("Messages.json?To=%2B992900009902&PageSize=50", "Messages.json?To=***02&PageSize=50"),
        ("tel:+992900001234", "tel:***34"),
        ("+992 (93) 555-12-34", "***34"),
        ("+992.93.555.12.34", "***34"),
        ("992  93 555 12 34", "***34"),
        ("992\u00a093\u00a0555\u00a01234", "***34"),
        ("+992 93\u2013555\u20131234", "***34"),
        ("992/93/555/12/34 and 900_001_234", "***34 and ***34"),
        ("to +992900001234: sent", "to ***34: sent"),
        ("phone992900001234x", "phone***34x"),
        ('{"to": "\\u002b992\\u00a0900001234"}', '{"to": "***34"}'),
        ("+683 4002", "***02"),  # a short foreign number (Niue) after its '+'
        # Masking too much is acceptable: a long digit run may hide a number glued to others.
        ("id 123456789012345678901", "id ***01"),
    ],
)
def test_redact(line, expected):
    assert logs.redact(line) == expected


# ---- every written form normalise() accepts, in plain, URL-encoded and JSON-escaped form -----

SPACES = [chr(c) for c in range(0x3001) if chr(c).isspace()]
SEPARATOR = st.text(st.sampled_from(sorted(SEPARATORS) + SPACES), max_size=3)
TAJIK_PREFIXES = ["+992", "992", "00992", "810992", "8", ""]
FOREIGN = sorted(
    phonenumbers.format_number(n, phonenumbers.PhoneNumberFormat.E164)
    for region in phonenumbers.SUPPORTED_REGIONS
    if region != "TJ"
    and (n := phonenumbers.example_number_for_type(region, phonenumbers.PhoneNumberType.MOBILE))
)


@st.composite
def written_numbers(draw) -> tuple[str, str]:
    """(a written form that normalise() accepts, the national digits that must not show)."""
    if draw(st.booleans()):
        nsn = draw(st.text("0123456789", min_size=9, max_size=9))
        head, e164 = draw(st.sampled_from(TAJIK_PREFIXES)), "+992" + nsn
    else:
        e164 = draw(st.sampled_from(FOREIGN))
        nsn = str(phonenumbers.parse(e164).national_number)
        head = draw(st.sampled_from(["+", "00", "810"])) + e164[1 : -len(nsn)]
    chars = list(head + nsn)
    form = draw(SEPARATOR) + "".join(c + draw(SEPARATOR) for c in chars)
    assume(len(form) <= 32)
    read = normalise(form)  # accepted; a short foreign number after 00 may read as Tajik
    assert read == e164 or not e164.startswith("+992"), form
    return form, nsn


@st.composite
def encoded(draw, written) -> tuple[str, str]:
    form, nsn = draw(written)
    how = draw(st.sampled_from(["plain", "url", "url-plus", "url-lower", "json", "repr"]))
    if how == "url":
        form = quote(form, safe="")
    elif how == "url-plus":
        form = quote_plus(form, safe="")
    elif how == "url-lower":
        form = re.sub(r"%[0-9A-F]{2}", lambda m: m.group().lower(), quote(form, safe=""))
    elif how == "json":  # every non-digit either as is or escaped, as JSON encoders differ
        form = "".join(
            c
            if c.isdigit() or (c.isprintable() and c.isascii() and draw(st.booleans()))
            else draw(st.sampled_from(["\\u%04x", "\\u%04X"])) % ord(c)
            for c in form
        )
    elif how == "repr":
        form = repr(form)[1:-1]
    return form, nsn


def _readable(text: str) -> str:
    """The text as a reader could decode it, with everything between digits of a number gone."""
    text = re.sub(r"\\u([0-9a-fA-F]{4})", lambda m: chr(int(m.group(1), 16)), text)
    text = re.sub(r"\\x([0-9a-fA-F]{2})", lambda m: chr(int(m.group(1), 16)), text)
    text = unquote_plus(text)
    drop = SEPARATORS | set(SPACES) | set("+/_")
    return "".join(c for c in text if c not in drop)


def _windows(nsn: str) -> list[str]:
    size = min(7, len(nsn))
    return [nsn[i : i + size] for i in range(len(nsn) - size + 1)]


ANY_TEXT = st.text(st.characters(exclude_categories=["Cs"]), max_size=20)


@settings(
    max_examples=1500, suppress_health_check=[HealthCheck.too_slow], deadline=None, database=None
)
@given(before=ANY_TEXT, number=encoded(written_numbers()), after=ANY_TEXT)
def test_every_written_form_is_masked_inside_any_text(before, number, after):
    form, nsn = number
    assume(not any(w in _readable(before + " " + after) for w in _windows(nsn)))
    line = logs.redact(before + form + after)
    readable = _readable(line)
    assert not any(w in readable for w in _windows(nsn)), (before + form + after, line)


# ---- every logger, every level, tracebacks and stacks -------------------------------------

THIRD_PARTY = (
    "twilio.http_client",
    "urllib3.connectionpool",
    "rq.worker",
    "gunicorn.error",
    "gunicorn.access",
    "werkzeug",
)


def _send(logger: logging.Logger, number: str) -> None:
    # The number is in this line of source, so it is in the stack that stack_info prints.
    logger.debug("stack of a send", stack_info=True)


@pytest.fixture
def captured():
    """A handler of its own on each logger (as rq and gunicorn install), at DEBUG."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    level = root.level
    saved = {name: logging.getLogger(name).level for name in ("", *THIRD_PARTY)}
    logs.configure("DEBUG", secrets=[KEY])
    for name in THIRD_PARTY:
        logging.getLogger(name).addHandler(handler)
        logging.getLogger(name).setLevel(logging.DEBUG)
    yield stream
    for name in THIRD_PARTY:
        logging.getLogger(name).removeHandler(handler)
    for name, value in saved.items():
        logging.getLogger(name).setLevel(value)
    root.setLevel(level)


def test_third_party_loggers_tracebacks_and_stacks_are_scrubbed_at_debug(captured, caplog):
    for name in THIRD_PARTY:
        logger = logging.getLogger(name)
        logger.debug("GET Request: /Messages.json?To=%s", quote(PHONE, safe=""))
        logger.info("Invalid request from ip=127.0.0.1: /ussd?key=%s", KEY)
        try:
            raise RuntimeError(f"The 'To' number {PHONE} is not valid (key {KEY})")
        except RuntimeError:
            logger.exception("send failed")
            logger.debug("retrying", exc_info=True)
        _send(logger, "+992 90 000 9902")
    # gunicorn's access log formats a dict of atoms; a format with the request line shows the key.
    access = {"r": f"GET /ussd/africastalking?key={KEY}&to=%2B992900009902 HTTP/1.1", "s": "200"}
    logging.getLogger("gunicorn.access").info('"%(r)s" %(s)s', access)
    text = captured.getvalue() + caplog.text
    assert text.count("send failed") == 2 * len(THIRD_PARTY)
    assert "RuntimeError: The 'To' number ***02 is not valid (key [secret])" in text
    assert "in _send" in text and "stack of a send" in text
    assert '"GET /ussd/africastalking?key=[secret]&to=***02 HTTP/1.1" 200' in text
    assert "INFO werkzeug Invalid request from ip=127.0.0.1: /ussd?key=[secret]" in text
    for leak in ("900009902", "900 9902", "%2B992", KEY, "0123456789"):
        assert leak not in text


def test_the_access_log_keeps_its_figures_and_masks_each_field(captured):
    from gunicorn.glogging import SafeAtoms

    atoms = {"h": "127.0.0.1", "r": f"GET /x?to={PHONE} HTTP/1.1", "s": "200", "B": "12345"}
    logging.getLogger("gunicorn.access").info(
        '%(h)s "%(r)s" %(s)s %(B)s %(M)sms %({x-missing}i)s', SafeAtoms({**atoms, "M": 25})
    )
    line = captured.getvalue().strip()
    assert line == 'INFO gunicorn.access 127.0.0.1 "GET /x?to=***02 HTTP/1.1" 200 12345 25ms -'


def test_a_broken_format_string_does_not_carry_its_arguments_out(captured, capsys):
    logging.getLogger("rq.worker").warning("to %s and %s", PHONE)
    output = captured.getvalue() + capsys.readouterr().err
    assert "900009902" not in output and "***02" in output


def test_every_logger_is_redacted(caplog):
    logs.configure("INFO")
    with caplog.at_level(logging.INFO):
        logging.getLogger("rq.worker").info("sending to %s", "+992900001234")
    assert "900001234" not in caplog.text
    assert "***34" in caplog.text


def test_secret_fields_and_configured_secrets_are_replaced():
    logs.install([KEY])
    line = logs.redact(
        f"GET /ussd/africastalking?key=other-key-value&x=1 {KEY} {quote(KEY)} "
        'Authorization: Basic b3BlcmF0b3I6c2VjcmV0 {"auth_token": "abc"} token=zz '
        "REDIS_URL: got 'rediss//:redis-pass@cache:6380' http://gateway:gw-pass@10.0.0.2/api"
    )
    assert line == (
        "GET /ussd/africastalking?key=[secret]&x=1 [secret] [secret] "
        'Authorization: Basic [secret] {"auth_token": "[secret]"} token=[secret] '
        "REDIS_URL: got 'rediss//[secret]@cache:6380' http://[secret]@10.0.0.2/api"
    )


# ---- gunicorn, started exactly as the Procfile says ----------------------------------------


def test_gunicorn_logs_no_secret_from_a_broken_request_line(redis_url, redis_client, tmp_path):
    port = free_port()
    env = process_env(make_env(redis_url, tmp_path / "var", USSD_KEY=KEY), port)
    log = tmp_path / "web.log"
    web = spawn(procfile()["web"], env, log)
    try:
        wait_for(lambda: _answers(port), Processes.START_TIMEOUT, "gunicorn")
        for line in (
            f"GET /ussd/africastalking?key={KEY}&phoneNumber=%2B992900009902\x01 HTTP/1.1",
            f"GET /ussd/africastalking?key=other-secret-value\x7f&to={PHONE} HTTP/1.1",
        ):
            with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
                conn.sendall(line.encode() + b"\r\nHost: localhost\r\n\r\n")
                assert conn.recv(1024).startswith(b"HTTP/1.1 400")
        wait_for(lambda: log.read_text().count("Invalid request") >= 2, 10, "the warnings")
    finally:
        _stop(web)
    text = log.read_text()
    assert "key=[secret]" in text
    # (no worker here, so /healthz answers 503 degraded: the line's shape is what counts)
    assert re.search(r'127\.0\.0\.1 "GET /healthz" (200|503) \d+ \d+ms', text), text
    for leak in (KEY, "0123456789", "other-secret-value", "900009902"):
        assert leak not in text, text


def test_the_simulator_poll_is_not_in_the_access_log(redis_url, redis_client, tmp_path):
    port = free_port()
    env = process_env(make_env(redis_url, tmp_path / "var", SIMULATOR="1"), port)
    log = tmp_path / "web.log"
    web = spawn(procfile()["web"], env, log)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: _answers(port), Processes.START_TIMEOUT, "gunicorn")
        with requests.Session() as session:
            for _ in range(30):  # half a minute of the page's polling
                poll = session.get(base + "/simulator/inboxes", params={"phone": PHONE})
                assert poll.status_code == 200
            assert session.get(base + "/simulator").status_code == 200
            failed = session.get(base + "/simulator/inboxes", params={"phone": "12ab"})
            assert failed.status_code == 400
        wait_for(lambda: '"GET /simulator/inboxes" 400' in log.read_text(), 10, "the failed poll")
    finally:
        _stop(web)
    lines = log.read_text().splitlines()
    access = [line for line in lines if '"GET ' in line]
    assert [line for line in access if "/simulator/inboxes" in line and '" 200 ' in line] == []
    assert len([line for line in access if '"GET /simulator/inboxes" 400' in line]) == 1
    assert any('"GET /simulator" 200' in line for line in access)  # the page itself still logs
    assert any('"GET /healthz" ' in line for line in access)
    assert "900009902" not in "\n".join(lines)


def _answers(port: int) -> bool:
    return web_answers(f"http://127.0.0.1:{port}")


def _stop(proc) -> None:
    os.killpg(proc.pid, signal.SIGTERM)
    proc.wait(20)


def test_the_twilio_sdk_recovery_lookup_logs_no_number(captured):
    # The recovery path after a read timeout asks Twilio for earlier messages to her number.
    from gateway.channels.base import Outbound
    from gateway.channels.twilio import TwilioSender
    from testing.fakes import FakeTwilio

    fake = FakeTwilio()
    try:
        sender = TwilioSender("AC" + "0" * 32, "twilio-auth-token-0123", "+15005550006", fake.url)
        message = Outbound(message_id="m1", to=PHONE, body="hello")
        assert sender.send(message).ok
        assert sender.find(message, since=0) is not None
    finally:
        fake.close()
    text = captured.getvalue()
    assert "GET Request:" in text and "To=***02" in text, text
    assert "900009902" not in text and "%2B992" not in text


def test_the_access_log_redacts_the_fields_its_format_names_and_drops_the_others(captured):
    from gunicorn.glogging import SafeAtoms

    atoms = SafeAtoms(
        {
            "h": "127.0.0.1",
            "s": "200",
            "{x-forwarded-for}i": f"tel:{PHONE}",
            "{x-caller}i": PHONE,  # named by no format below
        }
    )
    logging.getLogger("gunicorn.access").info("%(h)s %({X-Forwarded-For}i)s %(s)s", atoms)
    logging.getLogger("gunicorn.access").info("%(h)s %(s)s", atoms)
    lines = captured.getvalue().splitlines()
    assert lines == [
        "INFO gunicorn.access 127.0.0.1 tel:***02 200",
        "INFO gunicorn.access 127.0.0.1 200",
    ]
