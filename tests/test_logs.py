"""Log redaction: phone-number-like digit runs never reach a log line."""

from __future__ import annotations

import logging

import pytest

from gateway import logs


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
        ("at 2026-11-22 00:04:11", "at 2026-11-22 00:04:11"),
        ("id 123456789012345678901", "id 123456789012345678901"),
    ],
)
def test_redact(line, expected):
    assert logs.redact(line) == expected


def test_every_logger_is_redacted(caplog):
    logs.configure("INFO")
    with caplog.at_level(logging.INFO):
        logging.getLogger("rq.worker").info("sending to %s", "+992900001234")
    assert "900001234" not in caplog.text
    assert "***34" in caplog.text
