"""The console route records messages in the outbox and logs them masked, without the body."""

from __future__ import annotations

import logging

import pytest
from rq.registry import ScheduledJobRegistry

from gateway.channels.base import Outbound
from gateway.channels.console import ConsoleSender
from gateway.jobs import ALERTS_QUEUE
from gateway.privacy import Vault, new_key
from gateway.store import Store
from testing.app import app_with, ask_for_help, login, work
from testing.env import make_env


def test_console_send_records_and_masks(redis_client, caplog):
    store = Store(redis_client, Vault([new_key()]))
    body = "Хабар барои санҷиш"
    message_id = "m-console"
    store.messages.create(message_id, "+992900001234", body, route="console")
    with caplog.at_level(logging.INFO):
        result = ConsoleSender(store).send(Outbound(message_id, "+992900001234", body))
    assert result.ok and result.provider_id == "console-" + message_id
    assert [m["id"] for m in store.messages.outbox()] == [message_id]
    assert "+992*****1234" in caplog.text
    assert "900001234" not in caplog.text and body not in caplog.text
    assert "UCS-2" in caplog.text


@pytest.fixture
def console_app(redis_url, redis_client, tmp_path, monkeypatch):
    env = make_env(redis_url, tmp_path / "var", SMS_ROUTES="console", SEND_RATE="100")
    yield from app_with(env, monkeypatch)


def test_the_console_route_delivers_at_once(console_app, redis_client):
    ask_for_help(console_app, sms="yes")  # her group (two responders) and her acknowledgement
    ask_for_help(console_app, phone="+992900009302", sms="yes")
    work(console_app)
    store = console_app.extensions["hamdam"].store
    outbox = store.messages.outbox()
    assert len(outbox) == 6
    assert {m["state"] for m in outbox} == {"delivered"}
    assert all(m["route"] == "console" for m in outbox)
    assert not [
        j
        for j in ScheduledJobRegistry(ALERTS_QUEUE, connection=redis_client).get_job_ids()
        if j.startswith("rcpt-")
    ]  # no receipt to wait for
    # A late "queued" (a retry, a replayed status) never moves it back.
    assert not console_app.extensions["hamdam"].receipts.status(outbox[0]["id"], "queued")

    metrics = (
        console_app.test_client().get("/metrics", headers=login(console_app)).get_data(as_text=True)
    )
    assert 'hamdam_sends_total{route="console",state="delivered"} 6' in metrics
    table = console_app.test_cli_runner().invoke(args=["report"]).output
    assert "console: delivered" in table and "100%" in table
