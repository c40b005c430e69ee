"""The hash-chained audit trail: append, read, verify, export."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import redis

from gateway.store.keys import AUDIT, AUDIT_HEAD

GENESIS = "0" * 64


def entry_hash(prev: str, fields: dict[str, str]) -> str:
    """SHA-256 over the previous hash and the entry's fields in canonical JSON."""
    body = json.dumps(fields, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256((prev + body).encode()).hexdigest()


@dataclass(frozen=True)
class Verdict:
    """The result of checking the chain: entries checked, the first problem if any, and the
    hash of the last good entry (keep it apart from an exported file to detect cut-off lines)."""

    entries: int
    problem: str = ""
    last_hash: str = GENESIS

    @property
    def ok(self) -> bool:
        return not self.problem


def check_chain(entries: Iterable[tuple[str, dict[str, str]]], head: str | None = None) -> Verdict:
    """Check (stream id, fields with prev and hash) entries from the first one on; `head`, when
    known, is the chain's recorded end, so removed newest entries are found too."""
    prev, count = GENESIS, 0
    try:
        for sid, entry in entries:
            row = dict(entry)
            stored_prev, stored_hash = row.pop("prev", ""), row.pop("hash", "")
            if stored_prev != prev:
                return Verdict(count, f"entry {sid}: does not follow the entry before it", prev)
            if entry_hash(prev, row) != stored_hash:
                return Verdict(count, f"entry {sid}: content does not match its hash", prev)
            prev, count = stored_hash, count + 1
    except ExportError as error:
        return Verdict(count, str(error), prev)
    if head is not None and head != prev:
        return Verdict(count, "the newest entries were removed (chain end does not match)", prev)
    return Verdict(count, last_hash=prev)


class ExportError(ValueError):
    """A line of an exported file that is not an audit entry."""


def export_line(sid: str, entry: dict[str, str]) -> str:
    """One entry as a JSON line: its stream id, its chain fields and its own fields."""
    fields = {k: v for k, v in entry.items() if k not in ("prev", "hash")}
    line = {"stream_id": sid, "prev": entry.get("prev", ""), "hash": entry.get("hash", "")}
    return json.dumps({**line, "fields": fields}, sort_keys=True, ensure_ascii=False)


def read_export(lines: Iterable[str]) -> Iterator[tuple[str, dict[str, str]]]:
    """The entries of an exported file, for check_chain; a broken line raises ExportError."""
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
            fields = {str(k): str(v) for k, v in item["fields"].items()}
            yield str(item["stream_id"]), {**fields, "prev": item["prev"], "hash": item["hash"]}
        except (ValueError, KeyError, TypeError, AttributeError):
            raise ExportError(f"line {number}: not an exported audit entry") from None


class Audit:
    """The hash-chained audit trail: append, read, verify."""

    def __init__(self, client: redis.Redis):
        self.redis = client

    def record(self, event: str, **fields: str) -> str:
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

    def trail(self, count: int = 1000) -> list[dict[str, str]]:
        """The newest audit entries, oldest first."""
        rows = self.redis.xrevrange(AUDIT, count=count)
        return [{k.decode(): v.decode() for k, v in row.items()} for _, row in reversed(rows)]

    def entries(self, until: str = "+") -> Iterator[tuple[str, dict[str, str]]]:
        """Entries up to stream id `until`, oldest first, as (stream id, fields with prev and
        hash), read in pages."""
        last = "-"
        while True:
            rows = self.redis.xrange(AUDIT, min=last, max=until, count=1000)
            if not rows:
                return
            for stream_id, raw in rows:
                yield stream_id.decode(), {k.decode(): v.decode() for k, v in raw.items()}
            last = f"({rows[-1][0].decode()}"

    def verify(self) -> Verdict:
        """Walk the whole chain; a changed, inserted or removed entry is reported by stream id."""
        with self.redis.pipeline(transaction=True) as pipe:  # the end and its entry, together
            pipe.get(AUDIT_HEAD)
            pipe.xrevrange(AUDIT, count=1)
            head, newest = pipe.execute()
        until = newest[0][0].decode() if newest else "+"
        return check_chain(self.entries(until), (head or GENESIS.encode()).decode())
