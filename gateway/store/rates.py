"""Per-phone counts in hourly windows, kept under her keyed hash."""

from __future__ import annotations

import time

import redis

from gateway.privacy import Vault
from gateway.store.keys import (
    RATE,
)
from gateway.store.pipes import Pipeline, run

# Count one event in a phone's window. The hash keeps her number encrypted beside the count, so
# `flask keys rotate` can move it to the new key's hash; counts still under older keys' hashes
# (KEYS[2..], before a rotation ran) are added. A plain counter of an older version is converted.
RATE_COUNT = """
if redis.call('TYPE', KEYS[1]).ok == 'string' then
  local old = redis.call('GET', KEYS[1])
  redis.call('DEL', KEYS[1])
  redis.call('HSET', KEYS[1], 'n', old)
end
local n = redis.call('HINCRBY', KEYS[1], 'n', 1)
redis.call('HSETNX', KEYS[1], 'enc:phone', ARGV[1])
redis.call('EXPIRE', KEYS[1], ARGV[2])
for i = 2, #KEYS do
  local kind = redis.call('TYPE', KEYS[i]).ok
  if kind == 'hash' then n = n + tonumber(redis.call('HGET', KEYS[i], 'n') or '0') end
  if kind == 'string' then n = n + tonumber(redis.call('GET', KEYS[i]) or '0') end
end
return n
"""


class Rates:
    """Per-phone counts in hourly windows, kept under her keyed hash."""

    def __init__(self, client: redis.Redis, vault: Vault):
        self.redis = client
        self.vault = vault
        self._count = client.register_script(RATE_COUNT)

    def count(
        self, what: str, phone: str, window: int = 3600, pipeline: Pipeline | None = None
    ) -> int | None:
        """Count one event for the phone; how many happened in this window, this one included
        (in the caller's pipeline when given: its result says)."""
        slot = int(time.time() // window)
        keys = [RATE.format(what=what, digest=d, window=slot) for d in self.vault.digests(phone)]
        found = run(self._count, keys, [self.vault.encrypt(phone), window], pipeline)
        return None if pipeline is not None else int(found)

    def within(self, what: str, phone: str, limit: int, window: int = 3600) -> bool:
        """Count one event for the phone; True while at most `limit` happened in this window."""
        return int(self.count(what, phone, window) or 0) <= limit
