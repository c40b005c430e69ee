"""Store: personal data lands encrypted in a real Redis; key rotation re-encrypts and re-keys."""

from __future__ import annotations

from gateway.privacy import Vault, new_key
from gateway.store import Store
from tests.conftest import redis_dump as all_bytes

PHONE = "+992900001234"
BODY = "Ёрдам лозим"


def test_phone_profile_is_found_by_number_but_stored_without_it(redis_client):
    store = Store(redis_client, Vault([new_key()]))
    store.update_phone_profile(PHONE, lang="tg")
    assert store.phone_profile(PHONE) == {"lang": "tg"}
    assert store.phone_profile("+992900009999") == {}
    dump = all_bytes(redis_client)
    assert b"900001234" not in dump


def test_message_and_outbox_keep_body_encrypted(redis_client):
    store = Store(redis_client, Vault([new_key()]))
    message_id = store.add_message(PHONE, BODY, route="console", segments=1, state="queued")
    store.push_outbox(message_id)
    [shown] = store.outbox()
    assert shown["to"] == PHONE and shown["body"] == BODY and shown["route"] == "console"
    dump = all_bytes(redis_client)
    assert b"900001234" not in dump
    assert BODY.encode() not in dump


def test_rotation_reencrypts_everything_and_rekeys_profiles(redis_client):
    old, new = new_key(), new_key()
    before = Store(redis_client, Vault([old]))
    before.update_phone_profile(PHONE, lang="ru")
    message_id = before.add_message(PHONE, BODY, route="console", segments=1, state="sent")

    during = Store(redis_client, Vault([new, old]))
    assert during.phone_profile(PHONE) == {"lang": "ru"}  # found under the old hash
    report = during.rotate_keys()
    assert (report.records, report.fields, report.rekeyed) == (2, 3, 1)

    after = Store(redis_client, Vault([new]))
    assert after.phone_profile(PHONE) == {"lang": "ru"}
    assert after.message(message_id)["body"] == BODY
    assert during.rotate_keys().fields == 0  # nothing left to do
