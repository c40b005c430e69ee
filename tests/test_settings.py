"""Settings.from_env: defaults, one-line errors naming the variable, production strictness."""

from __future__ import annotations

import json
import subprocess
import sys
import threading

import pytest

from config.settings import ROOT, ConfigError, Settings
from testing.env import make_env


def test_development_defaults_generate_secrets_once(tmp_path):
    env = {"VAR_DIR": str(tmp_path)}
    first = Settings.from_env(env)
    second = Settings.from_env(env)
    assert first.env == "development"
    assert first.sms_routes == ("console",)
    assert first.data_keys == second.data_keys and first.ussd_key == second.ussd_key
    assert first.operator_password == second.operator_password
    stored = tmp_path / "secrets.json"
    assert stored.stat().st_mode & 0o777 == 0o600
    assert set(json.loads(stored.read_text())) == {
        "DATA_KEY",
        "USSD_KEY",
        "OPERATOR_PASSWORD",
        "ANDROID_WEBHOOK_SECRET",
    }
    assert first.generated == (
        "ANDROID_WEBHOOK_SECRET",
        "DATA_KEY",
        "OPERATOR_PASSWORD",
        "USSD_KEY",
    )
    assert first.channels["android"].webhook_secret


def test_processes_starting_together_share_one_set_of_secrets(tmp_path):
    # Web, worker and clock start at once: none may fail on another's temporary file, and all
    # must end up with the same keys (different DATA_KEYs could not read each other's data).
    # Threads behind a barrier make "at once" likely; the lock works between processes alike.
    for round_ in range(20):
        var = tmp_path / str(round_)
        start = threading.Barrier(8)
        keys, errors = [], []

        def load(var=var, start=start, keys=keys, errors=errors):
            start.wait(10)
            try:
                keys.append(Settings.from_env({"VAR_DIR": str(var)}).data_keys[0])
            except Exception as error:  # noqa: BLE001 - every failure is the finding
                errors.append(repr(error))

        threads = [threading.Thread(target=load) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert errors == [] and len(keys) == 8 and len(set(keys)) == 1, (errors, set(keys))


def test_explicit_environment_wins_over_generated(tmp_path):
    settings = Settings.from_env(make_env("redis://127.0.0.1:6379/3", tmp_path))
    assert settings.ussd_key == "test-ussd-key-0123456789"
    assert settings.redis_url == "redis://127.0.0.1:6379/3"
    assert settings.public_url == "https://gateway.example.org"


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("REDIS_URL", "localhost:6379", "REDIS_URL: expected redis://host:port/db"),
        ("PUBLIC_URL", "gateway.example.org", "PUBLIC_URL: expected an http:// or https:// URL"),
        ("ESCALATE_AFTER", "ten", "ESCALATE_AFTER: expected a whole number, got 'ten'"),
        ("ESCALATE_AFTER", "2", "ESCALATE_AFTER: expected at least 10, got 2"),
        ("RETENTION_DAYS", "0", "RETENTION_DAYS: expected at least 1"),
        ("PORT", "70000", "PORT: expected at least 1 and at most 65535"),
        ("SMS_ROUTES", "twilio,pigeon", "SMS_ROUTES: expected a comma-separated list"),
        ("SMS_ROUTES", "twilio", "TWILIO_ACCOUNT_SID: required by the SMS route"),
        ("SMS_ROUTES", "android", "ANDROID_GATEWAY_URL: required"),
        ("DATA_KEY", "not-a-key", "DATA_KEY: key 1 is not a Fernet key"),
        ("USSD_KEY", "short", "USSD_KEY: too short"),
        ("DIRECTORY_FILE", "/nonexistent/dir.yaml", "DIRECTORY_FILE: no such file"),
        ("HAMDAM_ENV", "staging", "HAMDAM_ENV: expected one of development, production"),
        ("LOG_LEVEL", "LOUD", "LOG_LEVEL: expected one of"),
    ],
)
def test_malformed_value_names_the_variable(tmp_path, name, value, expected):
    env = make_env("redis://127.0.0.1:6379/0", tmp_path, **{name: value})
    with pytest.raises(ConfigError) as caught:
        Settings.from_env(env)
    assert str(caught.value).startswith(expected)
    assert "\n" not in str(caught.value)


def test_twilio_route_with_its_credentials(tmp_path):
    env = make_env(
        "redis://127.0.0.1:6379/0",
        tmp_path,
        SMS_ROUTES="android, twilio",
        TWILIO_ACCOUNT_SID="AC00000000000000000000000000000000",
        TWILIO_AUTH_TOKEN="token",
        TWILIO_FROM="+15005550006",
        TWILIO_API_URL="http://127.0.0.1:9999/",
        ANDROID_GATEWAY_URL="http://127.0.0.1:9998",
        ANDROID_GATEWAY_USER="user",
        ANDROID_GATEWAY_PASSWORD="password",
    )
    settings = Settings.from_env(env)
    assert settings.sms_routes == ("android", "twilio")
    assert settings.channels["twilio"].api_url == "http://127.0.0.1:9999"


@pytest.mark.parametrize("missing", ["DATA_KEY", "USSD_KEY", "OPERATOR_PASSWORD", "PUBLIC_URL"])
def test_production_refuses_to_invent_secrets(tmp_path, missing):
    env = make_env("redis://127.0.0.1:6379/0", tmp_path, HAMDAM_ENV="production")
    del env[missing]
    with pytest.raises(ConfigError) as caught:
        Settings.from_env(env)
    assert caught.value.name == missing
    assert not (tmp_path / "secrets.json").exists()


def test_production_with_everything_set(tmp_path):
    env = make_env("redis://127.0.0.1:6379/0", tmp_path, HAMDAM_ENV="production")
    assert Settings.from_env(env).production


def test_data_key_list_keeps_order(tmp_path):
    from gateway.privacy import new_key

    keys = [new_key(), new_key()]
    env = make_env("redis://127.0.0.1:6379/0", tmp_path, DATA_KEY=" , ".join(keys))
    assert Settings.from_env(env).data_keys == tuple(keys)


def test_check_command_prints_one_line_and_exits_2(tmp_path):
    env = make_env("redis://127.0.0.1:6379/0", tmp_path, ESCALATE_AFTER="soon")
    done = subprocess.run(
        [sys.executable, "-m", "config.settings"],
        env={**env, "PATH": "/usr/bin:/bin"},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert done.stderr == (
        "hamdam: configuration error: ESCALATE_AFTER: expected a whole number, got 'soon'\n"
    )


_WATCHED: list = []  # (path, modes seen) while a test watches a file being written


def _watch(event: str, args: tuple) -> None:
    for path, modes in _WATCHED:
        try:
            modes.add(path.stat().st_mode & 0o777)
        except OSError:
            pass


sys.addaudithook(_watch)  # audit hooks cannot be removed; it does nothing unless a test watches


def test_secrets_are_never_readable_by_others_not_even_for_a_moment(tmp_path):
    import os

    var = tmp_path / "var"
    modes: set[int] = set()
    _WATCHED.append((var / "secrets.tmp", modes))
    old = os.umask(0o022)
    try:
        Settings.from_env({"VAR_DIR": str(var)})
    finally:
        os.umask(old)
        _WATCHED.clear()
    assert modes == {0o600}  # every time anything happened while the file existed
    assert (var / "secrets.json").stat().st_mode & 0o777 == 0o600
    assert var.stat().st_mode & 0o777 == 0o700


def test_an_existing_var_dir_and_secrets_file_are_tightened(tmp_path):
    var = tmp_path / "var"
    Settings.from_env({"VAR_DIR": str(var)})
    var.chmod(0o755)
    (var / "secrets.json").chmod(0o644)
    Settings.from_env({"VAR_DIR": str(var)})
    assert var.stat().st_mode & 0o777 == 0o700
    assert (var / "secrets.json").stat().st_mode & 0o777 == 0o600


def test_a_shared_var_dir_is_not_tightened(tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o1777)  # like /tmp
    Settings.from_env({"VAR_DIR": str(shared)})
    assert shared.stat().st_mode & 0o7777 == 0o1777
    assert (shared / "secrets.json").stat().st_mode & 0o777 == 0o600
