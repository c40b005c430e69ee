"""Settings.from_env(): the one reader of the environment; fails fast and names the variable."""

from __future__ import annotations

import fcntl
import json
import os
import secrets
import stat
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from config.reader import ConfigError, Reader
from gateway.channels.registry import CHANNELS

ROOT = Path(__file__).resolve().parent.parent
# The Procfile's bind address when HOST is unset: every interface. Only read here, to know that
# the web process may be reached from elsewhere.
ANY_ADDRESS = "0.0.0.0"  # noqa: S104

# Generated once in development and kept under VAR_DIR, so restarts keep decrypting old data.
DEV_SECRETS = (
    "DATA_KEY",
    "USSD_KEY",
    "OPERATOR_PASSWORD",
    *(name for channel in CHANNELS for name in channel.generated),
)
# Variables holding secrets: `make run`'s record in VAR_DIR names them, never keeps their values.
SECRETS = tuple(
    dict.fromkeys([*DEV_SECRETS, *(name for channel in CHANNELS for name in channel.secrets)])
)
# In VAR_DIR: the settings `make run` last started its processes with, for the `hamdam` commands.
RUN_RECORD = "run.json"


@dataclass(frozen=True)
class Settings:
    """Every setting of the gateway, read once at a composition root and passed down."""

    env: str = "development"
    redis_url: str = "redis://127.0.0.1:6379/0"
    # Replicas that must have a new case (and a send's claim) before it counts as written.
    redis_wait_replicas: int = 0
    public_url: str = "http://127.0.0.1:5000"
    host: str = ANY_ADDRESS  # the address the web process binds (HOST, as in the Procfile)
    port: int = 5000
    var_dir: Path = ROOT / "var"
    data_keys: tuple[str, ...] = ()
    ussd_key: str = ""
    directory_file: Path = ROOT / "config" / "directory.example.yaml"
    sms_routes: tuple[str, ...] = ("console",)
    # Each channel's own settings (gateway/channels/<name>.py: Config), by channel name.
    channels: dict[str, Any] = field(default_factory=dict)
    operator_user: str = "operator"
    operator_password: str = ""
    metrics_token: str = ""
    escalate_after: int = 600
    escalate_after_urgent: int = 180
    retention_days: int = 90
    session_ttl: int = 180
    remind_every: int = 900
    follow_up_answer_hours: int = 48
    quiet_days: int = 14
    referral_hours: int = 48
    segment_prices: dict[str, float] = field(default_factory=dict)  # route -> price of one segment
    send_retry_delays: tuple[int, ...] = (10, 30, 90)
    send_rate: int = 1
    send_timeout: int = 5  # seconds to read a provider's answer (connect: 3 s)
    alerts_per_hour: int = 30
    receipt_timeout: int = 3600
    sms_validity: int = 3600
    log_level: str = "INFO"
    health_worker_stale: int = 120
    health_queue_age: int = 120
    health_schedule_late: int = 60
    health_phone_silent: int = 5400
    watch_raise_after: int = 120  # seconds a problem lasts before the duty officers are told
    watch_recover_after: int = 600  # seconds it has passed before they are told it recovered
    # route -> a phone number of the organisation's own that gets the route's daily self-test
    selftest_numbers: dict[str, str] = field(default_factory=dict)
    simulator: bool = True
    generated: tuple[str, ...] = field(default=(), compare=False)
    variables: tuple[str, ...] = field(default=(), compare=False)  # every variable read

    @property
    def production(self) -> bool:
        """True when running with HAMDAM_ENV=production."""
        return self.env == "production"

    @property
    def first_admin(self) -> tuple[str, str]:
        """OPERATOR_USER / OPERATOR_PASSWORD: an admin of every organisation while no stored
        operator account has that name (installations from before accounts)."""
        return self.operator_user, self.operator_password

    @property
    def secret_values(self) -> tuple[str, ...]:
        """Every configured secret, for the log redaction to replace wherever one shows up."""
        values = (
            *self.data_keys,
            self.ussd_key,
            *(value for config in self.channels.values() for value in config.secrets()),
            self.operator_password,
            self.metrics_token,
        )
        return tuple(v for v in values if v)

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Settings:
        """Settings built from the environment (os.environ unless given); raises ConfigError."""
        env = dict(os.environ if environ is None else environ)
        r = Reader(env)
        mode = r.choice("HAMDAM_ENV", ("development", "production"), "development")
        production = mode == "production"
        var_dir = r.path("VAR_DIR", ROOT / "var")
        dev = {} if production else _dev_secrets(var_dir, env)
        routes = r.routes("SMS_ROUTES")
        values = dict(
            env=mode,
            redis_url=r.redis_url("REDIS_URL", "redis://127.0.0.1:6379/0"),
            redis_wait_replicas=r.integer("REDIS_WAIT_REPLICAS", 0, low=0, high=8),
            public_url=r.url("PUBLIC_URL", None if production else "http://127.0.0.1:5000"),
            host=r.text("HOST", ANY_ADDRESS),
            port=r.integer("PORT", 5000, low=1, high=65535),
            var_dir=var_dir,
            data_keys=r.fernet_keys("DATA_KEY", dev.get("DATA_KEY")),
            ussd_key=r.secret("USSD_KEY", dev.get("USSD_KEY"), min_len=16),
            directory_file=r.existing_file(
                "DIRECTORY_FILE", None if production else ROOT / "config/directory.example.yaml"
            ),
            sms_routes=routes,
            channels={
                c.name: c.config.read(r, needed=c.name in routes, generated=dev) for c in CHANNELS
            },
            operator_user=r.text("OPERATOR_USER", "operator"),
            operator_password=r.secret("OPERATOR_PASSWORD", dev.get("OPERATOR_PASSWORD"), 12),
            metrics_token=r.secret("METRICS_TOKEN", "", 24) if r.raw("METRICS_TOKEN") else "",
            escalate_after=r.integer("ESCALATE_AFTER", 600, low=10),
            escalate_after_urgent=r.integer("ESCALATE_AFTER_URGENT", 180, low=10),
            retention_days=r.integer("RETENTION_DAYS", 90, low=1),
            session_ttl=r.integer("SESSION_TTL", 180, low=30, high=3600),
            remind_every=r.integer("REMIND_EVERY", 900, low=10),
            follow_up_answer_hours=r.integer("FOLLOW_UP_ANSWER_HOURS", 48, low=1, high=720),
            quiet_days=r.integer("QUIET_DAYS", 14, low=1, high=365),
            referral_hours=r.integer("REFERRAL_HOURS", 48, low=1, high=720),
            segment_prices=r.prices("SEGMENT_PRICES"),
            send_retry_delays=r.delays("SEND_RETRY_DELAYS", (10, 30, 90)),
            send_rate=r.integer("SEND_RATE", 1, low=1, high=1000),
            send_timeout=r.integer("SEND_TIMEOUT", 5, low=1, high=60),
            alerts_per_hour=r.integer("ALERTS_PER_HOUR", 30, low=1, high=10000),
            receipt_timeout=r.integer("RECEIPT_TIMEOUT", 3600, low=10),
            sms_validity=r.integer("SMS_VALIDITY", 3600, low=60, high=36000),
            log_level=r.choice("LOG_LEVEL", ("DEBUG", "INFO", "WARNING", "ERROR"), "INFO"),
            # /healthz says degraded past these (gateway/health.py)
            health_worker_stale=r.integer("HEALTH_WORKER_STALE", 120, low=10),
            health_queue_age=r.integer("HEALTH_QUEUE_AGE", 120, low=5),
            health_schedule_late=r.integer("HEALTH_SCHEDULE_LATE", 60, low=5),
            health_phone_silent=r.integer("HEALTH_PHONE_SILENT", 5400, low=60),
            watch_raise_after=r.integer("WATCH_RAISE_AFTER", 120, low=0),
            watch_recover_after=r.integer("WATCH_RECOVER_AFTER", 600, low=0),
            selftest_numbers=r.selftest_numbers("SELFTEST_NUMBERS", routes),
            simulator=r.simulator("SIMULATOR", production, routes),
            generated=tuple(sorted(k for k in dev if not env.get(k))),
        )
        values["variables"] = tuple(dict.fromkeys(r.names))
        return cls(**values)


def _dev_secrets(var_dir: Path, env: dict[str, str]) -> dict[str, str]:
    """Development secrets, generated on first use and kept in VAR_DIR/secrets.json (mode 600)."""
    path = var_dir / "secrets.json"
    var_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    _private(var_dir, 0o700)
    # Processes that start together (web, worker and clock) must not each invent different
    # keys, nor trip over each other's temporary file: one generates, the others read its file.
    lock = os.open(var_dir / "secrets.lock", os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return _read_or_make_secrets(path, env)
    finally:
        os.close(lock)


def _read_or_make_secrets(path: Path, env: dict[str, str]) -> dict[str, str]:
    stored: dict[str, str] = {}
    if path.is_file():
        _private(path, 0o600)
        stored = json.loads(path.read_text())
    missing = [k for k in DEV_SECRETS if k not in stored and not env.get(k)]
    if missing:
        from base64 import urlsafe_b64encode

        fresh = {
            "DATA_KEY": urlsafe_b64encode(secrets.token_bytes(32)).decode(),
            "USSD_KEY": secrets.token_urlsafe(24),
            "OPERATOR_PASSWORD": secrets.token_urlsafe(12),
            # Lets the simulator sign its SMS exactly as the Android gateway app would.
            "ANDROID_WEBHOOK_SECRET": secrets.token_urlsafe(24),
        }
        stored.update({k: fresh[k] for k in missing})
        tmp = path.with_suffix(".tmp")
        tmp.unlink(missing_ok=True)  # a leftover could have a wider mode; O_EXCL refuses it
        # Created 0600 by the open itself: a write-then-chmod leaves the keys readable between.
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(json.dumps(stored, indent=2))
        tmp.replace(path)
    return stored


def _private(path: Path, mode: int) -> None:
    """Take group and other permissions away from a path of ours that has them. A shared
    directory given as VAR_DIR by mistake (sticky like /tmp, or /) is left alone: the secrets
    file in it is 0600 anyway."""
    st = path.stat()
    shared = st.st_mode & stat.S_ISVTX or path == path.parent or st.st_uid != os.getuid()
    if st.st_mode & 0o077 and not shared:
        path.chmod(mode)


def record_run(settings: Settings, environ: dict[str, str]) -> Path:
    """Keep in VAR_DIR the settings variables `make run` gave its processes (a secret by name
    only), so that `bin/hamdam` commands run with the same Redis, directory and routes."""
    given = {name: environ[name] for name in settings.variables if environ.get(name)}
    record = {
        "environment": {k: v for k, v in given.items() if k not in SECRETS},
        "secrets_from_environment": sorted(k for k in given if k in SECRETS),
    }
    path = settings.var_dir / RUN_RECORD
    path.touch(mode=0o600)
    _private(path, 0o600)
    path.write_text(json.dumps(record, indent=2) + "\n")
    return path


def command_environment(environ: dict[str, str]) -> tuple[dict[str, str], list[str]]:
    """The environment for an operator command: what `make run` last recorded in VAR_DIR, with
    the variables set here taking precedence; and the secrets `make run` had from its
    environment that are missing here (their values were never recorded)."""
    var_dir = Reader(environ).path("VAR_DIR", Settings.var_dir)
    path = var_dir / RUN_RECORD
    record = json.loads(path.read_text()) if path.is_file() else {}
    merged = {**record.get("environment", {}), **{k: v for k, v in environ.items() if v}}
    missing = [k for k in record.get("secrets_from_environment", []) if not environ.get(k)]
    return merged, missing


def load() -> Settings:
    """Settings from the environment, or exit 2 with one line naming the bad variable."""
    try:
        return Settings.from_env()
    except ConfigError as error:
        sys.stderr.write(f"hamdam: configuration error: {error}\n")
        raise SystemExit(2) from None


if __name__ == "__main__":
    # `python -m config.settings` checks the environment before processes start.
    settings = load()
    sys.stderr.write(
        f"hamdam: configuration ok ({settings.env}; routes {','.join(settings.sms_routes)})\n"
    )
