"""Operators' sign-ins: throttling and lock-out of failures, and their audit."""

from __future__ import annotations

from collections.abc import Callable

import redis

from gateway.store.audit import Audit
from gateway.store.keys import (
    LOGIN_FAILS,
    LOGIN_MEMORY,
    LOGIN_SEEN,
)


class Logins:
    """Operators' sign-ins: throttling and lock-out of failures, and their audit."""

    def __init__(self, client: redis.Redis, audit: Audit):
        self.redis = client
        self.audit = audit

    def record(self, ok: bool, user: str = "", every: bool = False, **failure: str) -> None:
        """Audit operator logins: every failure with what `failure` says (source, count, wait);
        a success each time when `every` (a console sign-in), else at most every 10 minutes
        per operator (browsers send a basic login with every request)."""
        if not ok:
            self.audit.record("operator_login_failed", user=user, **failure)
        elif every:
            self.audit.record("operator_login", user=user, via="console")
        elif self.redis.set(LOGIN_SEEN.format(outcome="ok:" + user), "1", nx=True, ex=600):
            self.audit.record("operator_login", user=user)

    def wait(self, subjects: dict[str, str], now: float) -> float:
        """Seconds before a password may be checked for these subjects (kind -> keyed hash)."""
        with self.redis.pipeline(transaction=False) as pipe:
            for kind, digest in subjects.items():
                pipe.hget(LOGIN_FAILS.format(kind=kind, digest=digest), "until")
            untils = [float(value) for value in pipe.execute() if value]
        return max([0.0, *(until - now for until in untils)])

    def failed(
        self, subjects: dict[str, str], now: float, delay: Callable[[int], float]
    ) -> tuple[int, float]:
        """Count a failed login for every subject; block them all for `delay(highest count)`.
        Returns that count and the delay."""
        keys = [LOGIN_FAILS.format(kind=kind, digest=digest) for kind, digest in subjects.items()]
        with self.redis.pipeline(transaction=True) as pipe:
            for key in keys:
                pipe.hincrby(key, "count", 1)
                pipe.expire(key, LOGIN_MEMORY)
            count = max(pipe.execute()[::2])
        wait = delay(count)
        if wait > 0:
            with self.redis.pipeline(transaction=True) as pipe:
                for key in keys:
                    pipe.hset(key, "until", f"{now + wait:.3f}")
                pipe.execute()
        return count, wait

    def unlock(self, subjects: dict[str, str] | None = None) -> int:
        """Forget the failed logins of these subjects (every subject when None); how many."""
        if subjects is None:
            keys = list(self.redis.scan_iter(match=LOGIN_FAILS.format(kind="*", digest="*")))
        else:
            keys = [LOGIN_FAILS.format(kind=kind, digest=d) for kind, d in subjects.items()]
        return self.redis.delete(*keys) if keys else 0
