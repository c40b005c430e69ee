"""RQ entry points: each takes ids, never phone numbers or message bodies, and calls a use-case."""

from __future__ import annotations

import functools
import time

from rq import get_current_job

from config.settings import load
from gateway import logs, retention
from gateway.compose import Context, build
from gateway.usecases.sending import GiveUp


def _context() -> Context:
    context = _built()
    context.roster.refresh()  # a `flask directory reload` reaches running workers
    return context


@functools.cache
def _built() -> Context:
    settings = load()
    logs.configure(settings.log_level, settings.secret_values)
    return build(settings)


def plan_alerts(case_id: str) -> str:
    """Alert the first tier of a new case and start its escalation timer."""
    return _context().alerting.start(case_id)


def send_message(message_id: str) -> str:
    """Send one stored message through the routes; retried by RQ on RetryLater."""
    try:
        return _context().sending.deliver(message_id)
    except GiveUp:
        job = get_current_job()
        if job is not None:
            job.retries_left = 0  # every route refused: retrying cannot help, an operator can
        raise


def send_digest(responder_id: str, window: int) -> str:
    """Send one digest of the alerts held for a saturated responder."""
    return _context().digests.digest(responder_id, window)


def escalate(case_id: str, tier: int) -> str:
    """Alert the next tier of a case nobody accepted (re-checked atomically)."""
    return _context().alerting.escalate(case_id, tier)


def follow_up(case_id: str, n: int) -> str:
    """Remind the holder of a case that its follow-up is due."""
    return _context().followup.due(case_id, n)


def follow_up_check(case_id: str, n: int) -> str:
    """Tell the duty officer when a follow-up reminder got no answer."""
    return _context().followup.check(case_id, n)


def referral_check(case_id: str, n: int) -> str:
    """Return a referral nobody took in time to the organisation that made it."""
    return _context().referrals.check(case_id, n)


def broadcast(broadcast_id: str, n: int) -> str:
    """Queue the next few sends of a broadcast to a group, then this pump again."""
    return _context().groups.pump(broadcast_id, n)


def resume_broadcasts() -> int:
    """Restart the pump of a broadcast whose jobs were lost (see config/cron.py)."""
    return _context().groups.resume()


def remind_quiet() -> int:
    """Remind the holders of taken cases without news (daily, see config/cron.py)."""
    return _context().followup.quiet()


def watch() -> str:
    """The health checks; the duty officers told of what started failing or recovered."""
    return _context().watch.run()


def reconcile() -> str:
    """Inbound SMS that reached a provider but no webhook, fetched and handled once."""
    return _context().reconciliation.run()


def self_test() -> str:
    """Each route's daily test SMS to a phone of the organisation's own."""
    return _context().watch.self_test()


def expire_receipt(message_id: str) -> str:
    """Mark a message without a delivery receipt as unknown."""
    return _context().receipts.expire(message_id)


def purge_cases(case_ids: list[str]) -> int:
    """Purge her number and words from the cases her STOP found; returns cases purged."""
    return _context().store.consent.purge_cases(case_ids)


def purge_phone(digest: str) -> int:
    """Purge jobs enqueued by older versions (by her phone's keyed hash); returns cases purged."""
    return _context().store.consent.purge_phone(digest)


def sweep() -> str:
    """The hourly retention sweep (run by `rq cron`, see config/cron.py)."""
    context = _context()
    settings = context.settings
    return retention.sweep(
        context.store,
        time.time(),
        settings.retention_days,
        settings.sms_validity + settings.receipt_timeout,
        dry_run=False,
    ).summary()


def warm() -> None:
    """Build the service now (in a worker's parent process, before it forks for jobs)."""
    _built()
