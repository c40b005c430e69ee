"""Bodies providers may send that we cannot use: a 2xx or a 400 with a reason, never a 5xx."""

from __future__ import annotations

import json

import pytest

from config.settings import Settings
from gateway.app import create_app
from gateway.channels.android import EVENTS
from testing.app import (
    SECRET,
    TOKEN,
    android_body,
    open_cases,
    post_android,
    post_twilio,
    twilio_form,
)
from testing.env import make_env

USSD = "/ussd/africastalking?key=test-ussd-key-0123456789"


@pytest.fixture
def app(redis_url, redis_client, tmp_path):
    env = make_env(redis_url, tmp_path, TWILIO_AUTH_TOKEN=TOKEN, ANDROID_WEBHOOK_SECRET=SECRET)
    return create_app(Settings.from_env(env))


def signed_json(data: dict) -> bytes:
    return json.dumps(data).encode()  # ASCII with \\u escapes, as the app may send them


@pytest.mark.parametrize("kind", sorted(EVENTS))
def test_every_documented_event_kind_gets_a_2xx(app, kind):
    payloads = {
        "sms:received": {"messageId": "k-1", "message": "salom", "phoneNumber": "+992900009003"},
        "sms:sent": {"messageId": "unknown-message", "phoneNumber": "+992900009003"},
        "sms:delivered": {"messageId": "unknown-message", "phoneNumber": "+992900009003"},
        "sms:failed": {"messageId": "unknown-message", "reason": "no service"},
        "sms:data-received": {"messageId": "d-1", "data": "AAEC", "phoneNumber": "+99290000"},
        "mms:received": {"messageId": "m-1", "phoneNumber": "+992900009003", "subject": None},
        "mms:downloaded": {"messageId": "m-1", "body": "x", "attachments": []},
        "system:ping": {"health": {"status": "pass"}},
        "app:started": {},
    }
    body = signed_json({"event": kind, "payload": payloads[kind], "deviceId": "dev-1"})
    response = post_android(app.test_client(), body)
    assert 200 <= response.status_code < 300, response.get_data(as_text=True)


def test_an_event_kind_not_documented_is_ignored_with_a_2xx(app):
    body = signed_json({"event": "future:thing", "payload": {}})
    assert post_android(app.test_client(), body).status_code == 200


def test_a_lone_surrogate_in_the_message_id_is_no_5xx(app):
    body = signed_json(
        {
            "event": "sms:received",
            "payload": {"messageId": "\ud83d", "message": "Ёрдам", "phoneNumber": "+992900009004"},
        }
    )
    response = post_android(app.test_client(), body)
    assert response.status_code == 200
    assert len(open_cases(app)) == 1


def test_half_an_emoji_in_a_note_is_kept_not_lost(app):
    client = app.test_client()
    assert post_android(client, android_body(messageId="first")).status_code == 200
    body = signed_json(
        {
            "event": "sms:received",
            "payload": {
                "messageId": "second",
                "message": "Дар хона \ud83d ҳастам",
                "phoneNumber": "+992900009002",
            },
        }
    )
    assert post_android(client, body).status_code == 200
    [case] = open_cases(app)
    assert app.extensions["hamdam"].store.cases.notes(case.id) == ["Дар хона \ufffd ҳастам"]


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"[" * 100_00 + b"]" * 100_00, "nested too deeply"),
        (
            b'{"event": "sms:received", "payload": {"message": "x", "phoneNumber": "+99290000"}}',
            "messageId",
        ),
        (b'{"event": "sms:received", "payload": {"messageId": 7, "message": "x"}}', "messageId"),
        (
            b'{"event": "sms:received", "payload": {"messageId": "a", "message": ["x"]}}',
            "payload.message",
        ),
        (b'{"event": 5, "payload": {}}', "event"),
        (b'{"event": "sms:sent", "payload": []}', "payload"),
        (b'"just a string"', "object"),
        (b"\xff\xfe", "not JSON"),
    ],
    ids=[
        "deep",
        "no-id",
        "numeric-id",
        "list-text",
        "numeric-event",
        "list-payload",
        "string",
        "not-utf8",
    ],
)
def test_a_malformed_signed_body_is_400_with_a_reason(app, body, reason):
    response = post_android(app.test_client(), body)
    assert response.status_code == 400
    assert reason in response.get_data(as_text=True)


def test_a_signature_with_non_ascii_characters_is_403_not_500(app):
    body = android_body()
    response = post_android(app.test_client(), body, signature="é" * 64)
    assert response.status_code == 403


# ---- the USSD endpoint answers END text/plain whatever goes wrong --------------------------------
def test_ussd_wrong_method_is_a_plain_end(app):
    response = app.test_client().get(USSD)
    assert response.status_code == 405
    assert response.mimetype == "text/plain"
    assert response.get_data(as_text=True).startswith("END ")


def test_ussd_oversized_body_is_a_plain_end(app):
    form = {"sessionId": "s1", "phoneNumber": "+992900009001", "text": "1" * 100_000}
    response = app.test_client().post(USSD, data=form)
    assert response.status_code == 413
    assert response.mimetype == "text/plain"
    assert response.get_data(as_text=True).startswith("END ")


def test_other_paths_keep_their_own_error_pages(app):
    assert app.test_client().get("/sms/twilio").status_code == 405
    assert app.test_client().get("/no/such/page").mimetype == "text/html"


# ---- dedupe window ------------------------------------------------------------------------------
def test_an_inbound_id_is_remembered_for_thirty_days(app, redis_client):
    assert post_twilio(app.test_client(), twilio_form()).status_code == 200
    [key] = [k for k in redis_client.scan_iter("hd:seen:twilio:*")]
    assert redis_client.ttl(key) > 29 * 86400
