"""Deadlines and send limits of alerting, in seconds (from settings); retries are the jobs'."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Timing:
    """Deadlines and send limits, in seconds (from settings); retries are the jobs' policy."""

    escalate_after: int = 600
    escalate_after_urgent: int = 180
    remind_every: int = 900
    send_rate: int = 1
    receipt_timeout: int = 3600
    retention: int = 90 * 86400
    # Alerts sent one by one to a responder in an hour; past it they go out as digests.
    # For a phone that is no responder (her acknowledgement) it is a hard limit: loop protection.
    out_per_hour: int = 30
    digest_every: int = 60  # at most one digest per responder in this many seconds
    follow_up_answer: int = 2 * 86400  # after a follow-up reminder, then the duty officer
    quiet_after: int = 14 * 86400  # a taken case without a word from its holder this long
    referral_answer: int = 2 * 86400  # a referral nobody took this long returns to its sender
    slow_route_for: int = 60  # after a timeout, sends skip that route this long (a later exists)
