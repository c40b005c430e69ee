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
