"""RQ entry points: each takes ids, never phone numbers or message bodies, and calls the service."""

from __future__ import annotations

import functools
import time

from rq import get_current_job

from config.settings import load
from gateway import logs, retention
from gateway.compose import build_service
from gateway.dispatch import GiveUp
from gateway.service import Service


def _service() -> Service:
    service = _built()
    service.refresh_directory()
    return service


@functools.cache
def _built() -> Service:
    settings = load()
    logs.configure(settings.log_level, settings.secret_values)
    return build_service(settings)


def plan_alerts(case_id: str) -> str:
    """Alert the first tier of a new case and start its escalation timer."""
    return _service().dispatcher.start(case_id)


def send_message(message_id: str) -> str:
    """Send one stored message through the routes; retried by RQ on RetryLater."""
    try:
        return _service().dispatcher.deliver(message_id)
    except GiveUp:
        job = get_current_job()
        if job is not None:
            job.retries_left = 0  # every route refused: retrying cannot help, an operator can
        raise


def send_digest(responder_id: str, window: int) -> str:
    """Send one digest of the alerts held for a saturated responder."""
    return _service().dispatcher.digest(responder_id, window)


def escalate(case_id: str, tier: int) -> str:
    """Alert the next tier of a case nobody accepted (re-checked atomically)."""
    return _service().dispatcher.escalate(case_id, tier)


def expire_receipt(message_id: str) -> str:
    """Mark a message without a delivery receipt as unknown."""
    return _service().dispatcher.expire_receipt(message_id)


def purge_cases(case_ids: list[str]) -> int:
    """Purge her number and words from the cases her STOP found; returns cases purged."""
    return _service().store.purge_cases(case_ids)


def purge_phone(digest: str) -> int:
    """Purge jobs enqueued by older versions (by her phone's keyed hash); returns cases purged."""
    return _service().store.purge_phone(digest)


def sweep() -> str:
    """The hourly retention sweep (run by `rq cron`, see config/cron.py)."""
    service = _service()
    settings = load()
    return retention.sweep(
        service.store,
        time.time(),
        settings.retention_days,
        settings.sms_validity + settings.receipt_timeout,
        dry_run=False,
    ).summary()


def warm() -> None:
    """Build the service now (in a worker's parent process, before it forks for jobs)."""
    _built()
