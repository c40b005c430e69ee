"""Logging set-up with a last line of defence: digit runs that could be phone numbers are masked."""

from __future__ import annotations

import logging
import re

# Nine to fifteen digits, optionally after '+', possibly split by single spaces or dashes: every
# phone form we accept. Runs glued to letters (hex ids) or to ':' and '.' (times, versions) survive.
_PHONE_LIKE = re.compile(r"(?<![\w:.+-])\+?\d(?:[ -]?\d){8,14}(?![\w:]|\.\d)")
_installed = False


def redact(text: str) -> str:
    """The text with every phone-number-like digit run masked except its last two digits."""
    return _PHONE_LIKE.sub(lambda m: "***" + re.sub(r"\D", "", m.group())[-2:], text)


def configure(level: str = "INFO") -> None:
    """Set up root logging once, with phone-number redaction on every record of every logger."""
    global _installed
    logging.basicConfig(
        level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=False
    )
    logging.getLogger().setLevel(level)
    if _installed:
        return
    previous = logging.getLogRecordFactory()

    def factory(*args, **kwargs):
        record = previous(*args, **kwargs)
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            return record
        record.msg, record.args = redact(message), ()
        return record

    logging.setLogRecordFactory(factory)
    _installed = True
