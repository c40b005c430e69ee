"""Background jobs: the queue, the job ids, the retry policies and the job functions, in one place.

The only code that creates the gateway's jobs (config/cron.py's hourly sweep aside); the health
checks, the dashboard and the workers read RQ's registries or run its worker. Jobs take
ids, never a phone number or a message body: RQ stores arguments in Redis and the dashboard
shows them. Every job id is deterministic where a repeat must be one job (`unique=True`).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

import redis
from rq import Queue, Retry
from rq.exceptions import DuplicateJobError
from rq.job import Job

from gateway.cases import LOCAL_UTC_OFFSET

# RQ queues, by role. One queue per worker keeps RQ on its crash-safe BLMOVE path.
ALERTS_QUEUE = "alerts"  # every job: sends, escalation timers, receipts, digests, purges
QUEUES = (ALERTS_QUEUE,)

# The job functions, by what they do: the one place that names workers.jobs (a test checks that
# each resolves to a function there; the workers import this layer, never the other way round).
PLAN = "workers.jobs.plan_alerts"
SEND = "workers.jobs.send_message"
ESCALATE = "workers.jobs.escalate"
DIGEST = "workers.jobs.send_digest"
RECEIPT = "workers.jobs.expire_receipt"
PURGE = "workers.jobs.purge_cases"
FOLLOW_UP = "workers.jobs.follow_up"
FOLLOW_CHECK = "workers.jobs.follow_up_check"
REFERRAL_CHECK = "workers.jobs.referral_check"
BROADCAST = "workers.jobs.broadcast"
FUNCTIONS = (
    PLAN,
    SEND,
    ESCALATE,
    DIGEST,
    RECEIPT,
    PURGE,
    FOLLOW_UP,
    FOLLOW_CHECK,
    REFERRAL_CHECK,
    BROADCAST,
)

# Job ids: each format written once.
SEND_ID = "send-{message}"
PLAN_ID = "plan-{case}"
ESCALATE_ID = "esc-{case}-{tier}"
RECEIPT_ID = "rcpt-{message}"
DIGEST_ID = "digest-{responder}-{window}"
PURGE_ID = "purge-{nonce}"
FOLLOW_UP_ID = "follow-{case}-{n}"
FOLLOW_CHECK_ID = "followchk-{case}-{n}"
REFERRAL_CHECK_ID = "referchk-{case}-{n}"
BROADCAST_ID = "bcast-{id}-{n}"  # the n-th run of a broadcast's pump

TIMEOUT = 60  # seconds a job may run
FAILED_KEPT = 30 * 86400  # a failed job stays replayable this long
# A job that succeeded is deleted at once (RQ's result_ttl=0): its outcome is in the store (the
# message's state, the case's tier), and a year of cases must not be a year of job payloads.
# A send job's id still guards against a second copy while it waits or runs; after it ran, the
# message's state does (Sending.deliver sends only a message that is still new).
RESULT_KEPT = 0


@dataclass(frozen=True)
class RetryPolicy:
    """How often and after how long a job that failed runs again, in seconds."""

    delays: tuple[int, ...] = (10, 30, 90)  # SEND_RETRY_DELAYS
    plan: tuple[int, ...] = (5, 30, 120)  # planning a case's alerts
    purge: tuple[int, ...] = (10, 60, 300, 900, 1800)  # purging her cases after a STOP

    def send(self, routes: int) -> list[int]:
        """Retry intervals of a send job: one per RetryLater on every route, plus two for a
        worker dying mid-job (RQ spends a retry on an abandoned job)."""
        delays = list(self.delays) or [1]
        total = len(delays) * max(1, routes) + 2
        return [delays[i % len(delays)] for i in range(total)]

    def other(self) -> list[int]:
        """Retry intervals of any other job (escalation, receipt expiry, digest): three."""
        delays = list(self.delays) or [1]
        return [delays[i % len(delays)] for i in range(max(3, len(delays)))]

    def per_route(self) -> int:
        """RetryLater answers a message gets on its last route before it gives up."""
        return len(self.delays)


def send_job(message_id: str) -> str:
    """The id of a message's send job."""
    return SEND_ID.format(message=message_id)


def sent_message(job_id: str) -> str | None:
    """The message id of a send job's id; None for any other job."""
    head = SEND_ID.format(message="")
    return job_id[len(head) :] if job_id.startswith(head) else None


def job_case(store, job_id: str) -> str:
    """The case a send job's message belongs to ('' for other jobs)."""
    message_id = sent_message(job_id)
    return store.messages.case_of(message_id) if message_id else ""


def run_time(at: float) -> str:
    """A job's run time as operators read it: local time (UTC+5) and UTC."""
    utc = datetime.fromtimestamp(at, UTC)
    local = datetime.fromtimestamp(at + LOCAL_UTC_OFFSET, UTC)
    zone = f"UTC+{LOCAL_UTC_OFFSET // 3600}"
    return f"{local:%Y-%m-%d %H:%M:%S} {zone} ({utc:%Y-%m-%d %H:%M:%S} UTC)"


@dataclass(frozen=True)
class Timer:
    """A scheduled job of a case that was moved to run now."""

    job_id: str
    func: str
    due: datetime  # when it would have run


class Jobs:
    """Enqueues, schedules and replays the gateway's jobs on its RQ queue."""

    def __init__(self, client: redis.Redis, retry: RetryPolicy = RetryPolicy()):  # noqa: B008
        self.redis = client
        self.retry = retry
        self.queue = Queue(ALERTS_QUEUE, connection=client)

    def _enqueue(self, func: str, args: tuple, job_id: str, about: str, delays, **options) -> bool:
        try:
            self.queue.enqueue_call(
                func,
                args=args,
                job_id=job_id,
                description=about,
                timeout=options.pop("timeout", TIMEOUT),
                retry=Retry(max=len(delays), interval=list(delays)),
                failure_ttl=FAILED_KEPT,
                result_ttl=options.pop("result_ttl", RESULT_KEPT),
                **options,
            )
        except DuplicateJobError:
            return False
        return True

    def send(self, message_id: str, routes: int, about: str, at_front: bool = False) -> bool:
        """Queue a message's send job (id only); False when that job already exists."""
        return self._enqueue(
            SEND,
            (message_id,),
            send_job(message_id),
            about,
            self.retry.send(routes),
            unique=True,
            at_front=at_front,
        )

    def plan(self, case_id: str, ref: str, pipeline: redis.client.Pipeline) -> None:
        """Queue the planning of a new case's alerts inside the caller's MULTI."""
        self._enqueue(
            PLAN,
            (case_id,),
            PLAN_ID.format(case=case_id),
            f"plan alerts for case {ref}",
            self.retry.plan,
            pipeline=pipeline,
        )

    def purge(self, case_ids: list[str], pipeline: redis.client.Pipeline) -> None:
        """Queue the purge of her cases (by id) inside the caller's MULTI."""
        self._enqueue(
            PURGE,
            (case_ids,),
            PURGE_ID.format(nonce=uuid.uuid4().hex),
            f"purge {len(case_ids)} cases after a STOP",
            self.retry.purge,
            timeout=120,
            pipeline=pipeline,
        )

    def schedule(self, func: str, args: tuple, at: float, job_id: str, about: str) -> bool:
        """Run a job at a unix time (the worker's scheduler moves it); False if it exists.

        `about`: what the job does, for the dashboard (a case reference, never a number or
        text); the time it runs is added to it. Retries: the policy for jobs other than sends.
        """
        delays = self.retry.other()
        job = self.queue.create_job(
            func,
            args=args,
            job_id=job_id,
            description=f"{about}, runs {run_time(at)}",
            timeout=TIMEOUT,
            retry=Retry(max=len(delays), interval=delays),
            failure_ttl=FAILED_KEPT,
            result_ttl=RESULT_KEPT,
        )
        try:
            self.queue.schedule_job(job, datetime.fromtimestamp(at, UTC), unique=True)
        except DuplicateJobError:
            return False
        return True

    def escalation(self, case_id: str, tier: int, at: float, about: str) -> bool:
        """Schedule a case's next escalation step."""
        job_id = ESCALATE_ID.format(case=case_id, tier=tier)
        return self.schedule(ESCALATE, (case_id, tier), at, job_id, about)

    def digest(self, responder_id: str, window: int, at: float) -> bool:
        """Schedule the digest of the alerts held for a responder in a window."""
        job_id = DIGEST_ID.format(responder=responder_id, window=window)
        about = f"digest of the alerts held for responder {responder_id}"
        return self.schedule(DIGEST, (responder_id, window), at, job_id, about)

    def receipt(self, message_id: str, at: float, about: str) -> bool:
        """Schedule the expiry of a message's delivery receipt."""
        job_id = RECEIPT_ID.format(message=message_id)
        return self.schedule(RECEIPT, (message_id,), at, job_id, about)

    def follow_up(self, case_id: str, n: int, at: float, about: str) -> bool:
        """Schedule the reminder of a case's follow-up number n (a newer one makes it void)."""
        job_id = FOLLOW_UP_ID.format(case=case_id, n=n)
        return self.schedule(FOLLOW_UP, (case_id, n), at, job_id, about)

    def follow_up_check(self, case_id: str, n: int, at: float, about: str) -> bool:
        """Schedule the check that the holder answered follow-up reminder n."""
        job_id = FOLLOW_CHECK_ID.format(case=case_id, n=n)
        return self.schedule(FOLLOW_CHECK, (case_id, n), at, job_id, about)

    def broadcast(self, broadcast_id: str, n: int, about: str, at: float | None = None) -> bool:
        """Queue run n of a broadcast's pump at the back of the queue (or schedule it at `at`):
        each run queues a few of its sends and then itself again, so an alert queued meanwhile
        waits for a few sends at most, never for the whole broadcast."""
        job_id = BROADCAST_ID.format(id=broadcast_id, n=n)
        if at is not None:
            return self.schedule(BROADCAST, (broadcast_id, n), at, job_id, about)
        return self._enqueue(
            BROADCAST, (broadcast_id, n), job_id, about, self.retry.other(), unique=True
        )

    def referral_check(self, case_id: str, n: int, at: float, about: str) -> bool:
        """Schedule the return of referral n to its sender if nobody took it by then."""
        job_id = REFERRAL_CHECK_ID.format(case=case_id, n=n)
        return self.schedule(REFERRAL_CHECK, (case_id, n), at, job_id, about)

    def send_later(self, message_id: str, at: float, about: str) -> bool:
        """Schedule a message's send job to run at `at` (her acknowledgement inside her safe
        window, a member's confirmation inside the group's hours)."""
        return self.schedule(SEND, (message_id,), at, send_job(message_id), about)

    # ---- failed jobs and replay -------------------------------------------------------------
    def failed(self) -> list[str]:
        """Ids of the jobs in the queue's failed registry."""
        return self.queue.failed_job_registry.get_job_ids()

    def is_failed(self, job_id: str) -> bool:
        """True when the job sits in the failed registry (what a replay needs)."""
        return job_id in self.queue.failed_job_registry

    def requeue_failed(self, job_id: str, delays: list[int]) -> None:
        """Requeue a failed job with its retries restored (RQ's own requeue leaves it none)."""
        job = Job.fetch(job_id, connection=self.redis)
        job.retries_left = len(delays)
        job.retry_intervals = delays
        job.save()
        self.queue.failed_job_registry.requeue(job)

    def discard_failed(self, job_id: str) -> None:
        """Take a job out of the failed registry for good (its message must not be sent)."""
        self.queue.failed_job_registry.remove(job_id, delete_job=True)

    def run_next_timer(self, case_id: str) -> Timer | None:
        """Move the case's next scheduled job (its escalation or reminder timer) from the
        ScheduledJobRegistry onto the queue, to run now; None when it has none."""
        registry = self.queue.scheduled_job_registry
        for job in Job.fetch_many(registry.get_job_ids(), connection=self.redis):
            if job is None or not job.args or job.args[0] != case_id:
                continue
            due = registry.get_scheduled_time(job)
            # Whoever takes it out of the registry enqueues it: not twice with the scheduler.
            if not self.redis.zrem(registry.key, job.id):
                continue
            self.queue.enqueue_job(job)
            return Timer(job_id=job.id, func=job.func_name, due=due)
        return None


def queue_depths(client: redis.Redis, names: Iterable[str] = QUEUES) -> dict[str, dict[str, int]]:
    """Jobs waiting, started, scheduled and failed per RQ queue."""
    depths = {}
    for name in names:
        queue = Queue(name, connection=client)
        depths[name] = {
            "queued": queue.count,
            "started": queue.started_job_registry.count,
            "scheduled": queue.scheduled_job_registry.count,
            "failed": queue.failed_job_registry.count,
        }
    return depths
