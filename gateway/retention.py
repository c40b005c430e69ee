"""Retention: what personal data has outlived its use, and its removal."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from gateway.cases import CaseState
from gateway.message import FINAL
from gateway.store import Store

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class GoingCase:
    """A closed case whose number and notes go: its reference, kind and closing time."""

    ref: str
    kind: str
    closed_at: float


@dataclass(frozen=True)
class GoingMessage:
    """A message whose recipient and body go: its id, purpose and its case's reference."""

    id: str
    purpose: str
    case_ref: str


@dataclass
class Purge:
    """Cases and messages whose personal data goes (or would go, in a dry run)."""

    cases: list[GoingCase] = field(default_factory=list)
    messages: list[GoingMessage] = field(default_factory=list)
    dry_run: bool = True

    def summary(self) -> str:
        """One line for operators and logs."""
        verb = "would remove" if self.dry_run else "removed"
        return (
            f"{verb} the personal data of {len(self.cases)} closed cases and the recipient and "
            f"body of {len(self.messages)} messages"
        )


def sweep(
    store: Store, now: float, retention_days: int, message_window: int, dry_run: bool
) -> Purge:
    """Purge closed cases older than the retention period and bodies past their window."""
    result = Purge(dry_run=dry_run)
    cutoff = now - retention_days * 86400
    refs = {}
    for case in store.cases.iter():
        refs[case.get("id", "")] = case.get("ref", "?")
        closed_at = float(case.get("closed_at") or 0)
        if (
            case.get("state") == CaseState.CLOSED
            and 0 < closed_at < cutoff
            and not case.get("purged")
        ):
            result.cases.append(GoingCase(case.get("ref", "?"), case.get("kind", "?"), closed_at))
            if not dry_run:
                store.cases.purge(case["id"])
    for message in store.messages.iter():
        old = float(message.get("created") or 0) < now - message_window
        if message["has_body"] and old and message.get("state") in FINAL:
            ref = refs.get(message.get("case", ""), "")
            result.messages.append(GoingMessage(message["id"], message.get("purpose", "?"), ref))
            if not dry_run:
                store.messages.purge(message["id"])
    if not dry_run:
        store.audit.record(
            "purged", cases=str(len(result.cases)), messages=str(len(result.messages))
        )
        log.info("retention: %s", result.summary())
    return result
