"""Replaying failed jobs: an operator's replay from the dashboard or `flask replay`, and the
re-drive of alerts every route refused while their case still waits."""

from __future__ import annotations

from gateway.jobs import Jobs, sent_message
from gateway.message import SENDABLE, MessageState
from gateway.store import Store
from gateway.usecases.outbox import Outbox, is_alert


class Replay:
    """Requeues failed jobs once and safely: never a message a provider already has."""

    def __init__(self, store: Store, jobs: Jobs, outbox: Outbox):
        self.store = store
        self.jobs = jobs
        self.outbox = outbox

    def replay(self, job_id: str, who: str, why: str) -> str:
        """Requeue one failed job once, safely; returns what happened, in words.

        A send whose earlier attempt may have reached a provider keeps that mark: the requeued
        job asks that provider before it sends anything.
        """
        if not self.jobs.is_failed(job_id):
            return "not in the failed registry: nothing to replay"
        mid = sent_message(job_id)
        if mid is None:
            self.jobs.requeue_failed(job_id, self.jobs.retry.other())
            self.store.audit.record("replayed", job=job_id, by=who, why=why)
            return "requeued"
        message = self.store.messages.get(mid)
        if message is None:
            self.jobs.discard_failed(job_id)
            return "dropped: the message no longer exists"
        if message.get("provider_id") or message["state"] not in SENDABLE:
            self.jobs.discard_failed(job_id)
            self.store.audit.record("replay_refused", message=mid, by=who, why="already sent")
            return "dropped: already handed to a provider, not sent again"
        stale = self.outbox.stale(message, count=False)
        if stale:
            self.jobs.discard_failed(job_id)
            self.outbox.drop(mid, message, stale, volume=False)
            self.store.audit.record("replay_refused", message=mid, by=who, why=stale)
            return f"dropped: {stale}"
        self.store.messages.reset(mid)
        self.jobs.requeue_failed(job_id, self.jobs.retry.send(self.outbox.routes))
        self.store.audit.record(
            "replayed", message=mid, case=message.get("case", ""), by=who, why=why
        )
        return "requeued"

    def redrive(self) -> list[str]:
        """Requeue failed sends of alerts whose case still waits (and the duty notices)."""
        again = []
        for job_id in self.jobs.failed():
            mid = sent_message(job_id)
            if mid is None:
                continue
            message = self.store.messages.get(mid)
            if message is None or message["state"] != MessageState.FAILED:
                continue
            purpose = message.get("purpose", "")
            if purpose.startswith("reminder"):
                continue  # the next reminder goes anyway; a stale one would only repeat it
            if not is_alert(purpose):
                # Digests and notices to the duty officer: for a day (an alert's case settles).
                recent = float(message.get("created", 0)) > self.outbox.clock() - 86400
                if purpose not in ("digest", "outage", "flood") or not recent:
                    continue
            if self.replay(job_id, "gateway", "re-drive while the case waits") == "requeued":
                again.append(job_id)
        return again
