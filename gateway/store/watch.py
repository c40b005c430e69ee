"""What the gateway's watch keeps (gateway/usecases/watch.py): when each Android phone was last
heard from, each route's last self-test, the problems already told to the duty officers, and
until when each route's inbound SMS were reconciled (gateway/usecases/reconcile.py)."""

from __future__ import annotations

import json

import redis

from gateway.store.keys import HEARD, RECONCILED, SELFTEST, TOLD, WATCH_TURN, WATCHED
from gateway.store.pipes import run

# Count one telling of a problem, once per time it began: KEYS the day's hash; ARGV the problem,
# when it began, the hash's TTL. A notice cut short by a failure is tried again next minute, and
# that try is the same telling. Returns the day's count for the problem.
COUNT_TOLD = """
if redis.call('HSETNX', KEYS[1], ARGV[1] .. '@' .. ARGV[2], 1) == 1 then
  redis.call('HINCRBY', KEYS[1], ARGV[1], 1)
end
redis.call('EXPIRE', KEYS[1], ARGV[3])
return tonumber(redis.call('HGET', KEYS[1], ARGV[1]))
"""


class Watching:
    def __init__(self, client: redis.Redis):
        self.redis = client
        self._count_told = client.register_script(COUNT_TOLD)

    def heard(self, route: str, phone: str, at: float) -> None:
        """A route's phone sent a signed webhook (a ping, its start, an SMS, a report); only
        the route's own phones can sign, so the hash stays small."""
        self.redis.hset(HEARD, f"{route}:{phone}", f"{at:.0f}")

    def last_heard(self, route: str = "") -> dict[tuple[str, str], float]:
        """(route, phone) -> when that phone was last heard from (of one route, when given)."""
        found = {}
        for key, at in self.redis.hgetall(HEARD).items():
            of, _, phone = key.decode().partition(":")
            if not route or of == route:
                found[(of, phone)] = float(at)
        return found

    def forget(self, route: str, phone: str) -> None:
        """A phone taken out of service: no longer watched."""
        self.redis.hdel(HEARD, f"{route}:{phone}")

    def selftest_sent(self, route: str, message_id: str, at: float) -> None:
        self.redis.hset(SELFTEST, route, json.dumps({"message": message_id, "at": at}))

    def selftests(self) -> dict[str, dict]:
        """route -> {message, at} of its newest self-test."""
        return {k.decode(): json.loads(v) for k, v in self.redis.hgetall(SELFTEST).items()}

    def reconciled(self) -> dict[str, float]:
        """route -> until when its inbound SMS were fetched and handled (gateway.reconcile)."""
        return {k.decode(): float(v) for k, v in self.redis.hgetall(RECONCILED).items()}

    def reconciled_until(self, route: str, until: float) -> None:
        self.redis.hset(RECONCILED, route, f"{until:.0f}")

    def problems(self) -> dict[str, dict]:
        """problem -> {since, gone, told}: what the watch saw last time."""
        return {k.decode(): json.loads(v) for k, v in self.redis.hgetall(WATCHED).items()}

    def keep(self, problems: dict[str, dict]) -> None:
        """Replace what the watch saw with `problems`."""
        with self.redis.pipeline(transaction=True) as pipe:
            pipe.delete(WATCHED)
            if problems:
                pipe.hset(WATCHED, mapping={k: json.dumps(v) for k, v in problems.items()})
            pipe.execute()

    def count_told(self, problem: str, since: float, now: float) -> int:
        """One more telling today (UTC) of `problem`, failing since `since`, unless that one was
        counted already; how many there were, this one included."""
        key = TOLD.format(day=int(now // 86400))
        return run(self._count_told, [key], [problem, f"{since:.0f}", 2 * 86400])

    def turn(self, now: float) -> bool:
        """True for the first watch of this minute (two clocks do not watch twice)."""
        key = WATCH_TURN.format(minute=int(now // 60))
        return bool(self.redis.set(key, "1", nx=True, ex=120))
