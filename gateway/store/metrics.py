"""Counters and histograms for /metrics, kept in Redis so every process adds to the same ones."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gateway.cases import CaseState
from gateway.store.keys import (
    ALERTED,
    CLOSED_COUNT,
    LOGIN_FAILS,
    LOGIN_MEMORY,
    LOGIN_SEEN,
    METRIC_INBOUND_DROPPED,
    METRIC_LATENCY,
    METRIC_SENDS,
    OPEN_CASES,
    TAKEN_CASES,
)


class MetricStore:
    """What /metrics reports, and the audit of operator logins."""

    redis: Any

    def count_send(self, route: str, state: str) -> None:
        """Count a message reaching a state on a route."""
        self.redis.hincrby(METRIC_SENDS, f"{route}|{state}", 1)

    def send_counts(self) -> dict[tuple[str, str], int]:
        """(route, state) -> messages counted."""
        raw = self.redis.hgetall(METRIC_SENDS)
        return {tuple(k.decode().split("|", 1)): int(v) for k, v in raw.items()}

    def count_inbound_dropped(self, channel: str, reason: str) -> None:
        """Count an inbound message dropped unhandled (e.g. over its sender's rate limit)."""
        self.redis.hincrby(METRIC_INBOUND_DROPPED, f"{channel}|{reason}", 1)

    def inbound_dropped_counts(self) -> dict[tuple[str, str], int]:
        """(channel, reason) -> inbound messages dropped."""
        raw = self.redis.hgetall(METRIC_INBOUND_DROPPED)
        return {tuple(k.decode().split("|", 1)): int(v) for k, v in raw.items()}

    def add_latencies(self, batch: dict[str, dict[str, float]]) -> None:
        """Add counted webhook answer times: endpoint -> {bucket bound or 'over': n, 'sum': s}."""
        with self.redis.pipeline(transaction=False) as pipe:
            for endpoint, fields in batch.items():
                key = METRIC_LATENCY.format(endpoint=endpoint)
                for name, value in fields.items():
                    if name == "sum":
                        pipe.hincrbyfloat(key, name, value)
                    else:
                        pipe.hincrby(key, name, int(value))
            pipe.execute()

    def latency_histograms(self, buckets: tuple[float, ...]) -> dict[str, dict]:
        """endpoint -> cumulative buckets (Prometheus style), sum and count."""
        out = {}
        prefix = METRIC_LATENCY.format(endpoint="")
        for key in self.redis.scan_iter(match=prefix + "*"):
            raw = {k.decode(): v.decode() for k, v in self.redis.hgetall(key).items()}
            running, cumulative = 0, []
            for bound in buckets:
                running += int(raw.get(str(bound), 0))
                cumulative.append((str(bound), running))
            total = running + int(raw.get("over", 0))
            cumulative.append(("+Inf", total))
            out[key.decode()[len(prefix) :]] = {
                "buckets": cumulative,
                "sum": float(raw.get("sum", 0)),
                "count": total,
            }
        return out

    def case_counts(self) -> dict[str, int]:
        """Cases open (waiting for a responder), taken and closed."""
        with self.redis.pipeline(transaction=False) as pipe:
            pipe.zcard(OPEN_CASES)
            pipe.zcard(TAKEN_CASES)
            pipe.get(CLOSED_COUNT)
            opened, taken, closed = pipe.execute()
        return {CaseState.OPEN: opened, CaseState.TAKEN: taken, CaseState.CLOSED: int(closed or 0)}

    def alerts_awaiting(self) -> int:
        """Responders alerted for cases that nobody has accepted yet."""
        open_ids = [i.decode() for i in self.redis.zrange(OPEN_CASES, 0, -1)]
        with self.redis.pipeline(transaction=False) as pipe:
            for case_id in open_ids:
                pipe.scard(ALERTED.format(case=case_id))
            return sum(pipe.execute())

    def audit_login(self, ok: bool, user: str = "", **failure: str) -> None:
        """Audit operator logins: a success at most every 10 minutes (browsers send the login
        with every request), every failure with what `failure` says (source, count, wait)."""
        if not ok:
            self.audit("operator_login_failed", user=user, **failure)
        elif self.redis.set(LOGIN_SEEN.format(outcome="ok"), "1", nx=True, ex=600):
            self.audit("operator_login", user=user)

    def login_wait(self, subjects: dict[str, str], now: float) -> float:
        """Seconds before a password may be checked for these subjects (kind -> keyed hash)."""
        with self.redis.pipeline(transaction=False) as pipe:
            for kind, digest in subjects.items():
                pipe.hget(LOGIN_FAILS.format(kind=kind, digest=digest), "until")
            untils = [float(value) for value in pipe.execute() if value]
        return max([0.0, *(until - now for until in untils)])

    def login_failed(
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

    def login_unlock(self, subjects: dict[str, str] | None = None) -> int:
        """Forget the failed logins of these subjects (every subject when None); how many."""
        if subjects is None:
            keys = list(self.redis.scan_iter(match=LOGIN_FAILS.format(kind="*", digest="*")))
        else:
            keys = [LOGIN_FAILS.format(kind=kind, digest=d) for kind, d in subjects.items()]
        return self.redis.delete(*keys) if keys else 0
