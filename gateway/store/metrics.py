"""Counters and histograms for /metrics, kept in Redis so every process adds to the same ones."""

from __future__ import annotations

import time

import redis

from gateway.cases import CaseState
from gateway.store.keys import (
    ALERTED,
    CLOSED_COUNT,
    METRIC_INBOUND_DROPPED,
    METRIC_LATENCY,
    METRIC_RECENT,
    METRIC_SENDS,
    METRIC_UNREPLICATED,
    OPEN_CASES,
    RECENT_BUCKET,
    RECENT_BUCKETS,
    TAKEN_CASES,
)
from gateway.store.pipes import Pipeline, on


class Metrics:
    """What /metrics reports, kept in Redis so every process adds to the same counters."""

    def __init__(self, client: redis.Redis):
        self.redis = client

    def count_send(self, route: str, state: str, pipeline: Pipeline | None = None) -> None:
        """Count a message reaching a state on a route (in `pipeline` when given), in all and
        in the current ten minutes (`recent`)."""
        field = f"{route}|{state}"
        recent = METRIC_RECENT.format(bucket=int(time.time() // RECENT_BUCKET))
        target = self.redis.pipeline(transaction=False) if pipeline is None else pipeline
        target.hincrby(METRIC_SENDS, field, 1)
        target.hincrby(recent, field, 1)
        target.expire(recent, RECENT_BUCKET * (RECENT_BUCKETS + 1))
        if pipeline is None:
            target.execute()

    def recent(self, now: float) -> dict[str, dict[str, int]]:
        """route -> state -> messages counted in the last hour (six ten-minute buckets, the
        current one included)."""
        newest = int(now // RECENT_BUCKET)
        with self.redis.pipeline(transaction=False) as pipe:
            for bucket in range(newest - RECENT_BUCKETS + 1, newest + 1):
                pipe.hgetall(METRIC_RECENT.format(bucket=bucket))
            buckets = pipe.execute()
        counts: dict[str, dict[str, int]] = {}
        for raw in buckets:
            for field, value in raw.items():
                route, state = field.decode().split("|", 1)
                per = counts.setdefault(route, {})
                per[state] = per.get(state, 0) + int(value)
        return counts

    def send_counts(self) -> dict[tuple[str, str], int]:
        """(route, state) -> messages counted."""
        raw = self.redis.hgetall(METRIC_SENDS)
        return {tuple(k.decode().split("|", 1)): int(v) for k, v in raw.items()}

    def count_inbound_dropped(
        self, channel: str, reason: str, pipeline: Pipeline | None = None
    ) -> None:
        """Count an inbound message dropped unhandled (e.g. over its sender's rate limit)."""
        on(self.redis, pipeline).hincrby(METRIC_INBOUND_DROPPED, f"{channel}|{reason}", 1)

    def inbound_dropped_counts(self) -> dict[tuple[str, str], int]:
        """(channel, reason) -> inbound messages dropped."""
        raw = self.redis.hgetall(METRIC_INBOUND_DROPPED)
        return {tuple(k.decode().split("|", 1)): int(v) for k, v in raw.items()}

    def count_unreplicated(self, what: str) -> None:
        """Count a write that fewer replicas than asked confirmed in time (Store.replicated)."""
        self.redis.hincrby(METRIC_UNREPLICATED, what, 1)

    def unreplicated_counts(self) -> dict[str, int]:
        """What was written -> writes not confirmed by the replicas asked for."""
        return {k.decode(): int(v) for k, v in self.redis.hgetall(METRIC_UNREPLICATED).items()}

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
