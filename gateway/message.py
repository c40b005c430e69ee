"""The states of an outbound message: their order, which are final, which reached a provider.

Stdlib only. Values are the strings stored in Redis, so a state compares equal to its text.
"""

from __future__ import annotations

from enum import StrEnum


class MessageState(StrEnum):
    """Where one outbound SMS is."""

    NEW = "new"  # stored, its send job queued
    SENDING = "sending"
    HELD = "held"  # waits for the responder's next digest (too many alerts this hour)
    QUEUED = "queued"  # a provider took it
    SENT = "sent"
    UNKNOWN = "unknown"  # no receipt came in time: never assumed delivered
    DELIVERED = "delivered"
    UNDELIVERED = "undelivered"
    FAILED = "failed"  # every route refused it
    DROPPED = "dropped"  # not sent on purpose (stale, her STOP, loop protection)
    COALESCED = "coalesced"  # went out inside a digest


S = MessageState
# Ranked so a status update never moves a message backwards (status callbacks come out of order).
RANK: dict[str, int] = {
    S.NEW: 0,
    S.SENDING: 1,
    S.HELD: 1,
    S.QUEUED: 2,
    S.SENT: 3,
    S.UNKNOWN: 4,
    S.DELIVERED: 5,
    S.UNDELIVERED: 5,
    S.FAILED: 5,
    S.DROPPED: 5,
    S.COALESCED: 5,
}
# Nothing will change these any more: their bodies may go after the retention period.
FINAL = frozenset({S.DELIVERED, S.UNDELIVERED, S.FAILED, S.UNKNOWN, S.DROPPED, S.COALESCED})
# Handed to a provider (counted per route in reports).
HANDED = frozenset({S.QUEUED, S.SENT, S.DELIVERED, S.UNDELIVERED, S.FAILED, S.UNKNOWN})
# A send may (still) be attempted from these.
SENDABLE = frozenset({S.NEW, S.FAILED})
