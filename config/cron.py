"""Periodic jobs for the Procfile's `clock` process (workers/clock.py, RQ's cron scheduler)."""

from rq.cron import register

from gateway.jobs import ALERTS_QUEUE
from workers import jobs

# Hourly, so STOP/DELETE and expired data never wait long; the sweep is idempotent, so a second
# clock process or a restart that runs it early does no harm.
register(
    jobs.sweep, queue_name=ALERTS_QUEUE, interval=3600, job_timeout=600, name="retention sweep"
)
