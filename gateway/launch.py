"""`make run`: check settings, make sure Redis answers (starting one if needed), run Procfile."""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
from urllib.parse import urlsplit, urlunsplit

from config.settings import ROOT, Settings, load
from gateway import localredis


def _say(line: str) -> None:
    sys.stderr.write(f"hamdam: {line}\n")
    sys.stderr.flush()


def _prepare(settings: Settings) -> tuple[dict[str, str], subprocess.Popen | None]:
    """The environment for the Procfile processes, and the Redis started for them if any."""
    env = dict(os.environ)
    try:
        url, redis_proc = localredis.ensure(settings.redis_url, settings.var_dir / "redis")
    except RuntimeError as error:
        _say(f"cannot start: {error}")
        raise SystemExit(2) from None
    parts = urlsplit(url)
    where = urlunsplit(parts._replace(netloc=f"{parts.hostname}:{parts.port or 6379}"))
    if redis_proc:
        _say(f"started redis-server on {where} (AOF on, data in {settings.var_dir / 'redis'})")
    else:
        _say(f"using the Redis that answers at {where}")
    env["REDIS_URL"] = url
    env.setdefault("HOST", "127.0.0.1")
    env["PORT"] = str(settings.port)
    env["PYTHONUNBUFFERED"] = "1"
    # gunicorn and rq are console scripts of this virtualenv.
    env["PATH"] = os.pathsep.join([os.path.dirname(sys.executable), env.get("PATH", "")])
    return env, redis_proc


def main(argv: list[str] | None = None) -> int:
    """Run web + worker (with scheduler) under honcho until Ctrl-C; returns honcho's exit code."""
    parser = argparse.ArgumentParser(
        prog="make run",
        description="Start the Hamdam gateway: web on http://127.0.0.1:$PORT, an RQ worker with "
        "the scheduler, and a local redis-server when REDIS_URL does not answer. "
        "Configuration comes from the environment only (see the README's settings table).",
    )
    parser.parse_args(argv)
    settings = load()
    env, redis_proc = _prepare(settings)
    routes = ",".join(settings.sms_routes)
    _say(f"mode {settings.env}; SMS routes: {routes}")
    if settings.generated:
        _say(
            f"development secrets ({', '.join(settings.generated)}) are kept in "
            f"{settings.var_dir / 'secrets.json'}"
        )
    base = f"http://127.0.0.1:{settings.port}"
    if settings.simulator:
        _say(f"try it: {base}/simulator  (a phone and the responders' inboxes)")
    _say(f"operators: {base}/rq  (user {settings.operator_user}); health: {base}/healthz")
    _say("Ctrl-C stops everything")
    honcho = [
        sys.executable,
        "-m",
        "honcho",
        "-f",
        str(ROOT / "Procfile"),
        "-d",
        str(ROOT),
        "start",
    ]
    proc = subprocess.Popen(honcho, env=env, cwd=ROOT)
    try:
        return proc.wait()
    except KeyboardInterrupt:
        # The terminal sent SIGINT to honcho too; give it time to stop its children.
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGTERM)
            proc.wait()
        return 0
    finally:
        localredis.stop(redis_proc)
        if redis_proc:
            _say("stopped redis-server")


if __name__ == "__main__":
    raise SystemExit(main())
