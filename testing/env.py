"""Test settings: a complete, explicit environment for Settings.from_env (synthetic values)."""

from __future__ import annotations

from pathlib import Path

from config.settings import ROOT
from gateway.privacy import new_key


def make_env(redis_url: str, var_dir: Path, **extra: str) -> dict[str, str]:
    """A complete, explicit environment for Settings.from_env in tests."""
    env = {
        "HAMDAM_ENV": "development",
        "REDIS_URL": redis_url,
        "VAR_DIR": str(var_dir),
        "DATA_KEY": new_key(),
        "USSD_KEY": "test-ussd-key-0123456789",
        "OPERATOR_USER": "operator",
        "OPERATOR_PASSWORD": "test-operator-password",
        "PUBLIC_URL": "https://gateway.example.org",
        "DIRECTORY_FILE": str(ROOT / "config" / "directory.example.yaml"),
    }
    env.update(extra)
    return env
