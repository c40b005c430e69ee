"""Riding out a Redis outage: what counts as one, and waiting for Redis with a backoff."""

from __future__ import annotations

import logging
import time

import redis

log = logging.getLogger(__name__)

# What a Redis that is restarting, unreachable, frozen, loading its AOF, at maxmemory
# (noeviction: writes answer OOM) or a read-only replica after a failover raises. Every one
# passes by itself; none is a reason to stop a process.
REDIS_OUTAGE: tuple[type[Exception], ...] = (
    redis.exceptions.ConnectionError,  # BusyLoadingError included
    redis.exceptions.TimeoutError,
    redis.exceptions.OutOfMemoryError,
    redis.exceptions.ReadOnlyError,
)
FIRST_WAIT = 0.5  # seconds before the first retry; doubled per failure up to LONGEST_WAIT
LONGEST_WAIT = 8.0


class Backoff:
    """Waits that double from FIRST_WAIT to LONGEST_WAIT; reset when Redis answers again."""

    def __init__(self, first: float = FIRST_WAIT, longest: float = LONGEST_WAIT):
        self.first, self.longest = first, longest
        self.next = first

    def wait(self) -> float:
        """Sleep the next wait; returns how long it was."""
        seconds = self.next
        self.next = min(self.longest, self.next * 2)
        time.sleep(seconds)
        return seconds

    def reset(self) -> None:
        self.next = self.first


def until_redis_answers(what: str, call, *args, noticed=None, **kwargs):
    """call(*args, **kwargs), retried with a backoff while Redis is away; its result.

    noticed(): called when an outage was seen, for whoever must catch up once Redis is back."""
    backoff = Backoff()
    while True:
        try:
            return call(*args, **kwargs)
        except REDIS_OUTAGE as error:
            if noticed is not None:
                noticed()
            log.warning(
                "%s: Redis unavailable (%s: %s); retrying in %.1f s",
                what,
                type(error).__name__,
                error,
                backoff.next,
            )
            backoff.wait()


def caused_by_outage(error: BaseException | None) -> bool:
    """True when `error`, or an error it was raised from or during, is a Redis outage."""
    for _ in range(5):
        if error is None:
            return False
        if isinstance(error, REDIS_OUTAGE):
            return True
        error = error.__cause__ or error.__context__
    return False
