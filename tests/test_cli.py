"""Operator commands through Flask's CLI runner."""

from __future__ import annotations

import dataclasses

from config.settings import ROOT
from gateway.app import create_app
from gateway.privacy import Vault, new_key
from gateway.store import Store

PHONE = "+992900001234"


def test_directory_check_default_file(app):
    result = app.test_cli_runner().invoke(args=["directory", "check"])
    assert result.exit_code == 0, result.output
    assert "ok: 3 organisations, 7 districts" in result.output


def test_directory_check_reports_line(app, tmp_path):
    text = (ROOT / "config" / "directory.example.yaml").read_text()
    entry = "\n    districts: [vakhsh]"
    line = 2 + text[: text.index(entry)].count("\n")
    bad = tmp_path / "dir.yaml"
    bad.write_text(text.replace(entry, "\n    districts: [vahsh]", 1))
    result = app.test_cli_runner().invoke(args=["directory", "check", str(bad)])
    assert result.exit_code == 1
    assert f"{bad}:{line}:" in result.output and "'vahsh'" in result.output


def test_keys_rotate_moves_records_to_the_new_key(settings, redis_client):
    old_key, new = new_key(), new_key()
    Store(redis_client, Vault([old_key])).update_phone_profile(PHONE, lang="uz")
    app = create_app(dataclasses.replace(settings, data_keys=(new, old_key)))
    result = app.test_cli_runner().invoke(args=["keys", "rotate"])
    assert result.exit_code == 0, result.output
    assert "rotated 1 fields in 1 records; re-keyed 1 phone profiles" in result.output
    assert Store(redis_client, Vault([new])).phone_profile(PHONE) == {"lang": "uz"}


def test_menus_check(app):
    result = app.test_cli_runner().invoke(args=["menus", "check"])
    assert result.exit_code == 0, result.output
    assert "fit their USSD budget" in result.output and "7 districts" in result.output


def test_menus_check_fails_on_an_over_long_district_name(app, tmp_path):
    service = app.extensions["hamdam"].service
    service.sources["districts"].append(
        ("x", {"tg": "Ҷ" * 90, "ru": "Ж" * 90, "uz": "x", "en": "x"})
    )
    result = app.test_cli_runner().invoke(args=["menus", "check"])
    assert result.exit_code == 1
    assert "budget 80" in result.output
