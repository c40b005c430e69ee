"""Which directory the processes run: its generation and the snapshot a reload compares with."""

from __future__ import annotations

import json

import redis

from gateway.store.keys import DIRECTORY_GEN, DIRECTORY_SNAPSHOT


class DirectoryVersions:
    """Which directory the processes run: its generation and the snapshot a reload compares with."""

    def __init__(self, client: redis.Redis):
        self.redis = client

    def generation(self) -> int:
        """How many times the directory was reloaded (processes reload when it changes)."""
        return int(self.redis.get(DIRECTORY_GEN) or 0)

    def note(self, snapshot: dict) -> bool:
        """Record the directory a process runs, unless one is recorded already (so the first
        reload compares with what is running, not with nothing); True when recorded."""
        return bool(
            self.redis.set(DIRECTORY_SNAPSHOT, json.dumps(snapshot, sort_keys=True), nx=True)
        )

    def swap(self, snapshot: dict) -> tuple[dict | None, int]:
        """Store the new directory snapshot; the previous one and the new generation."""
        with self.redis.pipeline(transaction=True) as pipe:
            pipe.getset(DIRECTORY_SNAPSHOT, json.dumps(snapshot, sort_keys=True))
            pipe.incr(DIRECTORY_GEN)
            previous, generation = pipe.execute()
        return (json.loads(previous) if previous else None), generation
