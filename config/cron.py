"""Periodic jobs for the Procfile's `clock` process (workers/clock.py, RQ's cron scheduler)."""

from rq.cron import register

from gateway.jobs import ALERTS_QUEUE
from workers import jobs

# Hourly, so STOP/DELETE and expired data never wait long; the sweep is idempotent, so a second
# clock process or a restart that runs it early does no harm.
# Daily: taken cases without a word from their holder for QUIET_DAYS are reminded (at most
# once per period, so a second clock or an early run sends nothing twice).
register(
    jobs.remind_quiet, queue_name=ALERTS_QUEUE, interval=86400, job_timeout=600, name="quiet cases"
)
# Every ten minutes: a broadcast whose pump jobs were lost (retries spent in a long Redis outage)
# while messages were pending is pumped again (a second pump of one broadcast is harmless).
register(
    jobs.resume_broadcasts,
    queue_name=ALERTS_QUEUE,
    interval=600,
    job_timeout=120,
    name="stalled broadcasts",
)
register(
    jobs.sweep, queue_name=ALERTS_QUEUE, interval=3600, job_timeout=600, name="retention sweep"
)
# Daily: each route's test SMS to a phone of the organisation's own (SELFTEST_NUMBERS).
register(jobs.self_test, queue_name=ALERTS_QUEUE, interval=86400, job_timeout=60, name="self-test")
# Every ten minutes: inbound SMS that reached a provider while the gateway could not be reached
# (Twilio's message list, the Android phones' inbox), through the normal intake and its dedupe.
register(jobs.reconcile, queue_name=ALERTS_QUEUE, interval=600, job_timeout=300, name="reconcile")
