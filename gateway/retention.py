"""Retention: what personal data has outlived its use, and its removal."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from gateway.store import Store

log = logging.getLogger(__name__)
FINAL = {"delivered", "undelivered", "failed", "unknown", "dropped", "coalesced"}


@dataclass
class Purge:
    """Cases and messages whose personal data goes (or would go, in a dry run)."""

    cases: list[tuple[str, float]] = field(default_factory=list)  # (ref, closed at)
    messages: int = 0
    dry_run: bool = True

    def summary(self) -> str:
        """One line for operators and logs."""
        verb = "would remove" if self.dry_run else "removed"
        return (
            f"{verb} the personal data of {len(self.cases)} closed cases and the recipient and "
            f"body of {self.messages} messages"
        )


def sweep(
    store: Store, now: float, retention_days: int, message_window: int, dry_run: bool
) -> Purge:
    """Purge closed cases older than the retention period and bodies past their window."""
    result = Purge(dry_run=dry_run)
    cutoff = now - retention_days * 86400
    for case in store.iter_cases():
        closed_at = float(case.get("closed_at") or 0)
        if case.get("state") == "closed" and 0 < closed_at < cutoff and not case.get("purged"):
            result.cases.append((case.get("ref", "?"), closed_at))
            if not dry_run:
                store.purge_case(case["id"])
    for message in store.iter_messages():
        old = float(message.get("created") or 0) < now - message_window
        if message["has_body"] and old and message.get("state") in FINAL:
            result.messages += 1
            if not dry_run:
                store.purge_message(message["id"])
    if not dry_run:
        store.audit("purged", cases=str(len(result.cases)), messages=str(result.messages))
        log.info("retention: %s", result.summary())
    return result
