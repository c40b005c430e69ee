"""The audit trail: an append-only Redis stream whose entries are hash-chained."""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from typing import Any

import redis

from gateway.store.keys import AUDIT, AUDIT_HEAD, DIRECTORY_GEN, DIRECTORY_SNAPSHOT

GENESIS = "0" * 64


def entry_hash(prev: str, fields: dict[str, str]) -> str:
    """SHA-256 over the previous hash and the entry's fields in canonical JSON."""
    body = json.dumps(fields, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256((prev + body).encode()).hexdigest()


@dataclass(frozen=True)
class Verdict:
    """The result of checking the chain: entries checked and the first problem, if any."""

    entries: int
    problem: str = ""

    @property
    def ok(self) -> bool:
        return not self.problem


class AuditStore:
    """Append and verify the audit trail."""

    redis: Any

    def audit(self, event: str, **fields: str) -> str:
        """Append an event (ids and kinds only, never numbers); returns its stream id."""
        entry = {
            "event": event,
            "at": f"{time.time():.3f}",
            **{k: str(v) for k, v in fields.items()},
        }
        # Optimistic lock on the chain's end: two writers cannot both extend the same hash.
        while True:
            with self.redis.pipeline(transaction=True) as pipe:
                try:
                    pipe.watch(AUDIT_HEAD)
                    prev = (pipe.get(AUDIT_HEAD) or GENESIS.encode()).decode()
                    digest = entry_hash(prev, entry)
                    pipe.multi()
                    pipe.xadd(AUDIT, {**entry, "prev": prev, "hash": digest})
                    pipe.set(AUDIT_HEAD, digest)
                    stream_id, _ = pipe.execute()
                    return stream_id.decode()
                except redis.WatchError:
                    continue

    def audit_trail(self, count: int = 1000) -> list[dict[str, str]]:
        """The newest audit entries, oldest first."""
        rows = self.redis.xrevrange(AUDIT, count=count)
        return [{k.decode(): v.decode() for k, v in row.items()} for _, row in reversed(rows)]

    def verify_audit(self) -> Verdict:
        """Walk the whole chain; a changed, inserted or removed entry is reported by stream id."""
        prev, count, last = GENESIS, 0, "0-0"
        while True:
            rows = (
                self.redis.xrange(AUDIT, min=f"({last}", count=1000)
                if count
                else (self.redis.xrange(AUDIT, count=1000))
            )
            if not rows:
                break
            for stream_id, raw in rows:
                row = {k.decode(): v.decode() for k, v in raw.items()}
                sid = stream_id.decode()
                stored_prev, stored_hash = row.pop("prev", ""), row.pop("hash", "")
                if stored_prev != prev:
                    return Verdict(count, f"entry {sid}: does not follow the entry before it")
                if entry_hash(prev, row) != stored_hash:
                    return Verdict(count, f"entry {sid}: content does not match its hash")
                prev, last, count = stored_hash, sid, count + 1
        head = (self.redis.get(AUDIT_HEAD) or GENESIS.encode()).decode()
        if head != prev:
            return Verdict(count, "the newest entries were removed (chain end does not match)")
        return Verdict(count)

    # ---- directory history ------------------------------------------------------------------
    def directory_generation(self) -> int:
        """How many times the directory was reloaded (processes reload when it changes)."""
        return int(self.redis.get(DIRECTORY_GEN) or 0)

    def note_directory(self, snapshot: dict) -> bool:
        """Record the directory a process started with, unless one is recorded already (so the
        first reload compares with what is running, not with nothing); True when recorded."""
        return bool(
            self.redis.set(DIRECTORY_SNAPSHOT, json.dumps(snapshot, sort_keys=True), nx=True)
        )

    def swap_directory(self, snapshot: dict) -> tuple[dict | None, int]:
        """Store the new directory snapshot; the previous one and the new generation."""
        with self.redis.pipeline(transaction=True) as pipe:
            pipe.getset(DIRECTORY_SNAPSHOT, json.dumps(snapshot, sort_keys=True))
            pipe.incr(DIRECTORY_GEN)
            previous, generation = pipe.execute()
        return (json.loads(previous) if previous else None), generation
