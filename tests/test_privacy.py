"""Vault: authenticated encryption, keyed lookup hashes, rotation."""

from __future__ import annotations

import pytest

from gateway.privacy import PrivacyError, Vault, main, new_key

PHONE = "+992900001234"


def test_round_trip_and_no_clear_text():
    vault = Vault([new_key()])
    token = vault.encrypt(PHONE)
    assert PHONE not in token and "900001234" not in token
    assert vault.decrypt(token) == PHONE
    assert vault.encrypt(PHONE) != token  # random IV: equal values do not look equal


def test_tampered_token_is_refused():
    vault = Vault([new_key()])
    token = vault.encrypt("Ёрдам")
    tampered = token[:-6] + ("A" if token[-6] != "A" else "B") + token[-5:]
    with pytest.raises(PrivacyError):
        vault.decrypt(tampered)


def test_digest_is_stable_keyed_and_not_the_number():
    key = new_key()
    assert Vault([key]).digest(PHONE) == Vault([key]).digest(PHONE)
    assert Vault([key]).digest(PHONE) != Vault([new_key()]).digest(PHONE)
    assert len(Vault([key]).digest(PHONE)) == 32


def test_rotation_moves_tokens_to_the_newest_key():
    old, new = new_key(), new_key()
    token = Vault([old]).encrypt(PHONE)
    both = Vault([new, old])
    assert both.decrypt(token) == PHONE
    assert not both.is_current(token)
    rotated = both.rotate(token)
    assert both.is_current(rotated)
    assert Vault([new]).decrypt(rotated) == PHONE
    with pytest.raises(PrivacyError):
        Vault([old]).decrypt(rotated)
    assert both.digests(PHONE) == [Vault([new]).digest(PHONE), Vault([old]).digest(PHONE)]


def test_new_key_command(capsys):
    assert main(["--new-key"]) == 0
    key = capsys.readouterr().out.strip()
    Vault([key])  # a usable key


def test_sealed_state_is_compact_authenticated_and_rotates():
    old, new = new_key(), new_key()
    state = {"menu": {"screen": "kind", "answers": {"lang": "tg"}}, "text": "4*1", "phone": PHONE}
    token = Vault([old]).seal_json(state)
    assert isinstance(token, bytes) and b"900001234" not in token
    assert len(token) < len(Vault([old]).encrypt_json(state)) * 3 // 4
    both = Vault([new, old])
    assert both.decrypt_json(token) == state
    assert not both.is_current(token)
    rotated = both.rotate(token)
    assert isinstance(rotated, bytes) and both.is_current(rotated)
    assert Vault([new]).decrypt_json(rotated) == state
    with pytest.raises(PrivacyError):
        Vault([old]).decrypt_json(rotated)
    tampered = token[:-1] + bytes([token[-1] ^ 1])
    with pytest.raises(PrivacyError):
        both.decrypt(tampered)
    assert Vault([old]).seal_json(state) != token  # a fresh nonce each time
