"""Test settings: a complete, explicit environment for Settings.from_env (synthetic values)."""

from __future__ import annotations

from pathlib import Path

import yaml

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
        "DIRECTORY_FILE": str(EXAMPLE_DIRECTORY),
    }
    env.update(extra)
    return env


EXAMPLE_DIRECTORY = ROOT / "config" / "directory.example.yaml"


def directory_with(path: Path, **group: object) -> Path:
    """A copy of the example directory at `path` with one more group (id, name, organisation,
    code, hours...): e.g. a group whose hours are the whole day, so a broadcast goes at once."""
    data = yaml.safe_load(EXAMPLE_DIRECTORY.read_text(encoding="utf-8"))
    data["groups"].append(group)
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path
