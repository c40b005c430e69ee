"""Operator commands through Flask's CLI runner."""

from __future__ import annotations

import dataclasses
import os
import subprocess

from config.settings import ROOT, Settings, command_environment, record_run
from gateway.app import create_app
from gateway.privacy import Vault, new_key
from gateway.store import Store
from testing.env import make_env

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
    Store(redis_client, Vault([old_key])).phones.update_profile(PHONE, lang="uz")
    app = create_app(dataclasses.replace(settings, data_keys=(new, old_key)))
    result = app.test_cli_runner().invoke(args=["keys", "rotate"])
    assert result.exit_code == 0, result.output
    assert "rotated 1 fields in 1 records; re-keyed 1 phone profiles" in result.output
    assert Store(redis_client, Vault([new])).phones.profile(PHONE) == {"lang": "uz"}


def test_keys_rotate_moves_group_members_so_leave_still_finds_them(settings, redis_client):
    old_key, new = new_key(), new_key()
    Store(redis_client, Vault([old_key])).members.join(PHONE, "levakand-women", "tg", "sms")
    Store(redis_client, Vault([new])).members.join(PHONE, "vakhsh-circle", "tg", "sms")  # both
    app = create_app(dataclasses.replace(settings, data_keys=(new, old_key)))
    assert app.test_cli_runner().invoke(args=["keys", "rotate"]).exit_code == 0
    members = Store(redis_client, Vault([new])).members  # the old key is gone
    assert sorted(members.groups(PHONE)) == ["levakand-women", "vakhsh-circle"]
    assert members.is_member("levakand-women", members.digest(PHONE))
    assert sorted(members.leave(PHONE)) == ["levakand-women", "vakhsh-circle"]
    assert members.count("levakand-women") == members.count("vakhsh-circle") == 0
    assert not list(redis_client.scan_iter("hd:member:*"))


def test_menus_check(app):
    result = app.test_cli_runner().invoke(args=["menus", "check"])
    assert result.exit_code == 0, result.output
    assert "fit their USSD budget" in result.output and "7 districts" in result.output


def test_menus_check_fails_on_an_over_long_district_name(app, tmp_path):
    roster = app.extensions["hamdam"].roster
    roster.sources["districts"].append(
        ("x", {"tg": "Ҷ" * 90, "ru": "Ж" * 90, "uz": "x", "en": "x"})
    )
    result = app.test_cli_runner().invoke(args=["menus", "check"])
    assert result.exit_code == 1
    assert "budget 80" in result.output


def test_operators_password_prints_the_generated_development_password(settings):
    generated = dataclasses.replace(settings, generated=("OPERATOR_PASSWORD",))
    result = create_app(generated).test_cli_runner().invoke(args=["operators", "password"])
    assert result.exit_code == 0, result.output
    assert result.output == "test-operator-password\n"


def test_operators_password_never_prints_one_set_in_the_environment(app):
    result = app.test_cli_runner().invoke(args=["operators", "password"])
    assert result.exit_code == 1
    assert "test-operator-password" not in result.output
    assert "comes from OPERATOR_PASSWORD" in result.output


def test_run_record_keeps_settings_but_never_a_secret(redis_url, tmp_path):
    environ = make_env(redis_url, tmp_path / "var", SMS_ROUTES="console", SECRET_OTHER="x")
    recorded = Settings.from_env(environ)
    path = record_run(recorded, environ)
    text = path.read_text()
    for name in ("DATA_KEY", "USSD_KEY", "OPERATOR_PASSWORD"):
        assert environ[name] not in text
    assert "SECRET_OTHER" not in text  # not a setting
    assert path.stat().st_mode & 0o077 == 0
    # A command from another shell: VAR_DIR only, and a directory file of its own.
    own = str(tmp_path / "mine.yaml")
    here = {"VAR_DIR": str(tmp_path / "var"), "DIRECTORY_FILE": own}
    merged, missing = command_environment(here)
    assert merged["REDIS_URL"] == redis_url and merged["SMS_ROUTES"] == "console"
    assert merged["DIRECTORY_FILE"] == own  # what is set here wins
    assert missing == ["DATA_KEY", "OPERATOR_PASSWORD", "USSD_KEY"]


def test_bin_hamdam_help_lists_every_operator_command(redis_url, tmp_path):
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "REDIS_URL": redis_url,
        "VAR_DIR": str(tmp_path / "var"),
    }
    shown = subprocess.run(
        [str(ROOT / "bin" / "hamdam"), "--help"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.startswith("Usage: hamdam [OPTIONS] COMMAND [ARGS]...")
    assert "settings `make run` last started with" in shown.stdout
    listed = shown.stdout.split("Commands:\n", 1)[1]
    described = dict(line.split(None, 1) for line in listed.splitlines() if line.strip())
    names = {"audit", "directory", "keys", "menus", "operators", "purge", "replay", "report"}
    assert set(described) == names
    assert "--app" not in shown.stdout  # no other app to pick
    replay = subprocess.run(
        [str(ROOT / "bin" / "hamdam"), "replay", "--help"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert replay.returncode == 0 and "--reason TEXT" in replay.stdout
