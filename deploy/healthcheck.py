"""Health check of the web container (deploy/compose.yaml): exit 0 when the web process on
127.0.0.1:$PORT answers /healthz and reaches Redis, else 1 with one line saying why.

/healthz answers 503 "degraded" also when only the worker is late or a message was held for a
digest: that is for monitoring, and this process still serves her. So a 503 whose body says
Redis is reachable counts as healthy here; no answer, or Redis unreachable, does not.
Standard library only: the image runs it with its own Python, every 10 s.
"""

from __future__ import annotations

import json
import os
import sys
import urllib.error
import urllib.request


def check(port: str, timeout: float = 4.0) -> str | None:
    """None when healthy, else why not."""
    url = f"http://127.0.0.1:{port}/healthz"
    try:
        with urllib.request.urlopen(url, timeout=timeout):  # noqa: S310 - a fixed http URL
            return None
    except urllib.error.HTTPError as error:
        try:
            body = json.load(error)
        except ValueError:
            return f"/healthz answered {error.code} without JSON"
        redis = body.get("redis") if isinstance(body, dict) else None
        if isinstance(redis, dict) and redis.get("reachable") is True:
            return None  # degraded elsewhere (a worker, a queue): this process serves
        return f"/healthz answered {error.code}: Redis unreachable"
    except (OSError, ValueError) as error:
        return f"no answer from {url}: {error}"


def main() -> int:
    problem = check(os.environ.get("PORT") or "5000")
    if problem is None:
        return 0
    sys.stderr.write(f"unhealthy: {problem}\n")
    return 1


if __name__ == "__main__":
    raise SystemExit(main())
