"""Logging set-up with a last line of defence: phone numbers and secrets never reach a log line.

Every record of every logger (ours, twilio, urllib3, rq, gunicorn; at every level) is scrubbed
when it is created: its message, its traceback and its stack. A phone number is masked in every
written form that phone.normalise() accepts, also URL-encoded or JSON-escaped, wherever it sits
in the text; secrets (the configured ones, and any `key=`, `token=`... value) are replaced.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Iterable, Mapping
from urllib.parse import quote

from gateway.phone import SEPARATORS

# What may stand between two digits of a written number: whitespace and normalise()'s separators
# (plus '/', '_' and '+', the URL form of a space), in clear, URL-encoded (%2B, %20, %C2%A0,
# %u2013), or escaped by JSON or Python (\u00a0, \n, \xa0), or as an HTML entity.
_SEP_CHARS = re.escape("".join(sorted(SEPARATORS | set("/_+"))))
SEPARATOR = (
    rf"(?:[\s{_SEP_CHARS}]|%[0-9A-Fa-f]{{2}}|%u[0-9A-Fa-f]{{4}}|\\u[0-9A-Fa-f]{{4}}"
    r"|\\U[0-9A-Fa-f]{8}|\\x[0-9A-Fa-f]{2}|\\[bfnrt/]|&(?:nbsp|#\d{1,7}|#x[0-9A-Fa-f]{1,6});)"
)
# Nine or more digits joined by separators only: the shortest number we accept is a 9-digit
# NSN. No look-around: a number glued to letters ("To%2B992...", "tel:+992...", "id992...") is
# masked too. Longer runs, dates with an hour and the odd hex id with nine digits in a row are
# masked as well: masking too much is acceptable, too little is not.
# After a '+' (in clear or encoded), seven digits are enough: a few countries have numbers
# that short.
_PLUS = r"(?:\+|%2[Bb]|\\u002[Bb])"
_PHONE_LIKE = re.compile(
    rf"{_PLUS}{SEPARATOR}*\d(?:{SEPARATOR}*\d){{6,}}|\d(?:{SEPARATOR}*\d){{8,}}"
)
_SECRET_FIELD = re.compile(
    r"(?i)((?:key|token|secret|password|passwd|signature|auth)[\w-]*=)[^&\s\"'<>,;]+"
    r"|(\"(?:[\w-]*(?:key|token|secret|password|signature))\"\s*:\s*)\"[^\"]*\""
    r"|\b(basic|bearer)\s+[\w+/=.~-]{8,}"
    r"|(//)[^/\s@'\"]*:[^/\s@'\"]*@"  # user:password@ in a URL (a Redis or gateway URL)
)
MASK = "[secret]"
ACCESS_LOG = "gunicorn.access"
_secrets: tuple[str, ...] = ()
_installed = False


def redact(text: str) -> str:
    """The text with every phone-number-like digit run masked (all but its last two digits kept
    only when they are plain digits) and every secret replaced by [secret]."""
    for secret in _secrets:
        if secret in text:
            text = text.replace(secret, MASK)
    text = _SECRET_FIELD.sub(_secret_field, text)
    return _PHONE_LIKE.sub(_masked, text)


def holds_number(text: str) -> bool:
    """True when the text holds something redact() would mask as a phone number."""
    return _PHONE_LIKE.search(text) is not None


def _masked(match: re.Match) -> str:
    tail = match.group()[-2:]
    return "***" + (tail if tail.isdigit() and tail.isascii() else "")


def _secret_field(match: re.Match) -> str:
    label = match.group(1) or match.group(2)
    if label:
        return label + (MASK if match.group(1) else f'"{MASK}"')
    if match.group(4):
        return f"//{MASK}@"
    return f"{match.group(3)} {MASK}"


def scrub(record: logging.LogRecord) -> logging.LogRecord:
    """Redact a record's message, traceback and stack in place; its arguments are merged in."""
    access = record.name == ACCESS_LOG and isinstance(record.args, Mapping)
    if access:
        # gunicorn's access line: separate fields (status, bytes, ms ...) that must not read as
        # one long number together; each is redacted on its own, and none can hold a piece of a
        # number that another holds the rest of. Only the fields the format names are kept
        # (gunicorn passes some 30, every request header among them): the others never reach
        # a line, and redacting them all was a fifth of a bare request's CPU.
        atoms = record.args
        fields = {name: _redacted(atoms, name) for name in _fields(str(record.msg))}
        record.args = fields
        # Path and status outlive the arguments (dropped below), for QuietAccess; redacted
        # once, when the format shows them.
        record.access = {
            name: fields[name] if name in fields else _redacted(atoms, name) for name in ("U", "s")
        }
    try:
        message = record.getMessage()
    except Exception:  # a bad format string must not carry its arguments out unredacted
        message = f"{record.msg} {record.args!r}"
    if not access:
        message = redact(str(message))
    record.msg, record.args = str(message), ()
    if record.exc_info:
        # Formatted now and cached where every logging.Formatter looks first; the live exception
        # is dropped so that no handler can format it again without redaction.
        record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        record.exc_info = None
    elif record.exc_text:
        record.exc_text = redact(record.exc_text)
    if record.stack_info:
        record.stack_info = redact(record.stack_info)
    return record


@functools.lru_cache(maxsize=8)
def _fields(form: str) -> tuple[str, ...]:
    """The fields a %-format names: `%(h)s "%(r)s"` names h and r."""
    return tuple(dict.fromkeys(re.findall(r"%\(([^)]*)\)", form)))


def _redacted(atoms: Mapping, name: str):
    """One field of gunicorn's atoms, redacted; '-' when it has none (as gunicorn shows it)."""
    try:
        value = atoms[name]  # gunicorn's mapping finds {header}i whatever its case
    except KeyError:
        return "-"
    return redact(value) if isinstance(value, str) else value


class QuietAccess(logging.Filter):
    """Drops gunicorn's access line of a successful request (2xx, 3xx) to one of `paths`: a
    page that polls every second would otherwise fill the log. A failed request still logs."""

    def __init__(self, paths: Iterable[str]) -> None:
        super().__init__()
        self.paths = frozenset(paths)

    def filter(self, record: logging.LogRecord) -> bool:
        fields = record.args if isinstance(record.args, Mapping) else getattr(record, "access", {})
        if fields.get("U") not in self.paths:
            return True
        return not str(fields.get("s", "")).startswith(("2", "3"))


def quiet_access(*paths: str) -> None:
    """Keep successful requests to `paths` out of gunicorn's access log (added to earlier ones)."""
    logger = logging.getLogger(ACCESS_LOG)
    quiet = set(paths)
    for old in [f for f in logger.filters if isinstance(f, QuietAccess)]:
        quiet |= old.paths
        logger.removeFilter(old)
    logger.addFilter(QuietAccess(quiet))


def install(secrets: Iterable[str] = ()) -> None:
    """Scrub every log record this process creates from now on (idempotent); `secrets` are
    values never to be logged in any form, added to those given before."""
    global _installed, _secrets
    known = set(_secrets)
    for secret in secrets:
        if secret and len(secret) >= 8:
            known.update({secret, quote(secret, safe="")})
    # Longest first, so that no secret is left half-replaced by a shorter one inside it.
    _secrets = tuple(sorted(known, key=len, reverse=True))
    if _installed:
        return
    previous = logging.getLogRecordFactory()

    def factory(*args, **kwargs):
        return scrub(previous(*args, **kwargs))

    logging.setLogRecordFactory(factory)
    _installed = True


def configure(level: str = "INFO", secrets: Iterable[str] = ()) -> None:
    """Set up root logging once, with the redaction of install() on every record of every logger."""
    logging.basicConfig(
        level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=False
    )
    logging.getLogger().setLevel(level)
    install(secrets)
