"""The console route records messages in the outbox and logs them masked, without the body."""

from __future__ import annotations

import logging

from gateway.channels.base import Outbound
from gateway.channels.console import ConsoleSender
from gateway.privacy import Vault, new_key
from gateway.store import Store


def test_console_send_records_and_masks(redis_client, caplog):
    store = Store(redis_client, Vault([new_key()]))
    body = "Хабар барои санҷиш"
    message_id = store.add_message("+992900001234", body, "console", 1, "queued")
    with caplog.at_level(logging.INFO):
        result = ConsoleSender(store).send(Outbound(message_id, "+992900001234", body))
    assert result.ok and result.provider_id == "console-" + message_id
    assert [m["id"] for m in store.outbox()] == [message_id]
    assert "+992*****1234" in caplog.text
    assert "900001234" not in caplog.text and body not in caplog.text
    assert "UCS-2" in caplog.text
