"""The RQ worker class of the Procfile: RQ's forking worker that rides out Redis outages.

A forking worker runs every job in a fresh child; without the warm-up below, each child would
load the directory, the menus and the provider clients again (about a quarter of a second per
job). Built once in the parent, every child inherits them; redis-py opens new connections after
a fork.

RQ's own work loop quits on the first Redis error outside its blocking dequeue ("unhandled
exception, quitting"), and its scheduler process dies the same way: a Redis restart or a Redis
at maxmemory for a few seconds stopped every alert until someone restarted the worker. Here each
step of the loop waits for Redis with a backoff instead, heartbeats are best effort while Redis
is away, and the scheduler process keeps going.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from contextlib import suppress

import redis
import rq
import rq.worker_registration
from rq.exceptions import InvalidJobOperation
from rq.executions import Execution
from rq.job import JobStatus
from rq.scheduler import RQScheduler
from rq.utils import now
from rq.worker import WorkerStatus

from workers import jobs
from workers.outage import REDIS_OUTAGE, Backoff, caused_by_outage, until_redis_answers

# How often a worker runs RQ's maintenance (which requeues a killed worker's job). `rq
# worker-pool` has no --maintenance-interval option, so the worker class sets it.
MAINTENANCE_INTERVAL = 60

log = logging.getLogger(__name__)

# Exit status of a work-horse whose job failed because Redis was away (EX_TEMPFAIL): the job is
# given back to the queue once Redis answers, without spending one of its retries.
REDIS_AWAY_EXIT = 75


class Scheduler(RQScheduler):
    """RQ's scheduler process (moves due retries and timers to the queue), outage-proof."""

    def work(self):
        self._install_signal_handlers()
        until_redis_answers("scheduler birth", self.register_birth)
        backoff = Backoff()
        while True:
            if self._stop_requested:
                with suppress(*REDIS_OUTAGE):
                    self.stop()
                break
            try:
                if self.should_reacquire_locks:
                    self.acquire_locks()
                self.heartbeat()
                self.enqueue_scheduled_jobs()
            except REDIS_OUTAGE as error:
                self._status = self.Status.STARTED
                log.warning(
                    "scheduler: Redis unavailable (%s); retrying in %.1f s",
                    type(error).__name__,
                    backoff.next,
                )
                backoff.wait()
                continue
            backoff.reset()
            time.sleep(self.interval)


def forget_lost_executions(job) -> int:
    """Drop from a job's list of executions those whose record has expired; how many.

    A worker killed while it ran a job leaves its execution listed 60 s longer than the
    execution's own record lives. When another worker then finishes the job, RQ 2.12 deletes
    it (finished jobs are not kept: gateway/jobs.py) with every listed execution, raises on the
    missing record ("Execution ... not found in Redis"), and the finished job counts as failed:
    a retry spent, or a job in the failed list (found by the drill that kills a whole host)."""
    registry = job.execution_registry
    listed = [i.decode() for i in job.connection.zrange(registry.key, 0, -1)]
    lost = [
        i for i in listed if not job.connection.exists(Execution(i, job.id, job.connection).key)
    ]
    if lost:
        job.connection.zrem(registry.key, *lost)
        log.info("job %s: forgot %d execution(s) of a worker that died", job.id, len(lost))
    return len(lost)


class Worker(rq.Worker):
    """rq.Worker that warms the job context, wakes for maintenance and survives Redis outages."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("maintenance_interval", MAINTENANCE_INTERVAL)
        super().__init__(*args, **kwargs)

    def work(self, *args, **kwargs):
        jobs.warm()
        return super().work(*args, **kwargs)

    @property
    def dequeue_timeout(self) -> int:
        # An idle worker blocks in its dequeue for worker_ttl - 15 s (405 s by default), and
        # maintenance, which recovers the jobs of a killed worker, runs only between dequeues;
        # waking at the maintenance interval makes --maintenance-interval mean what it says.
        return max(1, min(super().dequeue_timeout, self.maintenance_interval))

    # ---- start and stop ---------------------------------------------------------------------
    def register_birth(self):
        until_redis_answers("worker birth", super().register_birth)

    def subscribe(self):
        until_redis_answers("worker subscribe", super().subscribe)

    def _start_scheduler(self, burst=False, logging_level="INFO", *args, **kwargs):
        if burst:  # enqueues what is due and returns: nothing to keep alive
            return super()._start_scheduler(burst, logging_level, *args, **kwargs)
        until_redis_answers("scheduler start", self._start_outage_proof_scheduler, logging_level)

    def _start_outage_proof_scheduler(self, logging_level):
        # RQ's _start_scheduler (not burst: the Procfile's worker never is) with our class.
        self.scheduler = Scheduler(
            self.queues,
            connection=self.connection,
            logging_level=logging_level if logging_level is not None else self.log.level,
            serializer=self.serializer,
        )
        self.scheduler.acquire_locks()
        if self.scheduler.acquired_locks:
            self.scheduler.start()

    def teardown(self):
        try:
            super().teardown()
        except REDIS_OUTAGE as error:
            # Stopping while Redis is away: the worker key expires by itself.
            log.warning("worker teardown: Redis unavailable (%s)", type(error).__name__)
            with suppress(Exception):
                self.unsubscribe()

    def set_shutdown_requested_date(self):
        with suppress(*REDIS_OUTAGE):  # runs in a signal handler: never raise there
            super().set_shutdown_requested_date()

    def _pubsub_exception_handler(self, exc, pubsub, pubsub_thread):
        # RQ retries a lost command channel on ConnectionError only; a timeout ended it.
        if isinstance(exc, REDIS_OUTAGE):
            exc = redis.exceptions.ConnectionError(str(exc))
        return super()._pubsub_exception_handler(exc, pubsub, pubsub_thread)

    # ---- the work loop ----------------------------------------------------------------------
    def handle_job_success(self, job, queue, started_job_registry):
        forget_lost_executions(job)
        return super().handle_job_success(job, queue, started_job_registry)

    def check_for_suspension(self, burst: bool):
        until_redis_answers(
            "worker suspension check", super().check_for_suspension, burst, noticed=self._noticed
        )

    def run_maintenance_tasks(self):
        until_redis_answers(
            "worker maintenance", super().run_maintenance_tasks, noticed=self._noticed
        )

    def dequeue_job_and_maintain_ttl(self, timeout, max_idle_time=None):
        # RQ retries a refused connection here (and we learn of it in the heartbeat), not a
        # timeout or an OOM answer.
        return until_redis_answers(
            "worker dequeue",
            super().dequeue_job_and_maintain_ttl,
            timeout,
            max_idle_time,
            noticed=self._noticed,
        )

    _redis_was_away = False

    def _noticed(self) -> None:
        self._redis_was_away = True

    def heartbeat(self, timeout=None, pipeline=None):
        if pipeline is not None:
            return super().heartbeat(timeout, pipeline)
        try:
            super().heartbeat(timeout)
            if self._redis_was_away and not self.is_horse:
                # A Redis restarted without its data (or one that lost the last second of
                # its AOF) forgot this worker: register it again, or no one sees it alive.
                with self.connection.pipeline() as pipeline:
                    pipeline.hset(self.key, mapping=self.serialize())
                    rq.worker_registration.register(self, pipeline)
                    pipeline.execute()
                self._redis_was_away = False
                log.info("worker %s: Redis answers again; registration renewed", self.name)
        except REDIS_OUTAGE as error:
            # Best effort: the worker key lives worker_ttl + 60 s, the next beat renews it.
            self._noticed()
            log.warning("worker heartbeat: Redis unavailable (%s)", type(error).__name__)
        return None

    def set_state(self, state, pipeline=None):
        if pipeline is not None:
            return super().set_state(state, pipeline)
        try:
            return super().set_state(state)
        except REDIS_OUTAGE as error:
            self._noticed()
            # The state is kept in this process too (get_state); Redis gets it next time.
            log.warning("worker state %s: Redis unavailable (%s)", state, type(error).__name__)
            return None

    def maintain_heartbeats(self, job):
        # Runs every job_monitoring_interval while a job's work-horse runs. RQ lets a Redis
        # error escape here and the worker quits with the work-horse still running (orphaned).
        try:
            super().maintain_heartbeats(job)
        except REDIS_OUTAGE as error:
            self._noticed()
            log.warning(
                "worker heartbeat for job %s: Redis unavailable (%s)", job.id, type(error).__name__
            )

    def set_current_job_working_time(self, current_job_working_time, pipeline=None):
        if pipeline is not None:
            return super().set_current_job_working_time(current_job_working_time, pipeline)
        try:
            return super().set_current_job_working_time(current_job_working_time)
        except REDIS_OUTAGE as error:
            self._noticed()  # informational (the dashboard's "working for"): not worth a stop
            log.warning("worker job time: Redis unavailable (%s)", type(error).__name__)
            return None

    # ---- a job that failed because Redis was away --------------------------------------------
    _given_back: str | None = None
    _gave_back = False
    _outage_pause: Backoff | None = None

    def handle_job_failure(self, job, queue, started_job_registry=None, exc_string=""):
        if self.is_horse and caused_by_outage(sys.exc_info()[1]):
            # Not the job's fault, and no retry should be spent on it (a few seconds of OOM
            # used up every retry of the alerts in flight): let the worker give it back.
            log.warning("job %s: Redis unavailable; handing it back to the worker", job.id)
            os._exit(REDIS_AWAY_EXIT)
        if not self.is_horse and job.id == self._given_back:
            self._given_back = None
            self._gave_back = True
            self._noticed()
            self._outage_pause = self._outage_pause or Backoff()
            self._outage_pause.wait()  # do not spin through the queue while Redis is away
            until_redis_answers("job given back", self._give_back, job, queue)
            return None
        return super().handle_job_failure(job, queue, started_job_registry, exc_string)

    def perform_job(self, job, queue):
        # In the work-horse. RQ's own failure bookkeeping writes to Redis too; when that
        # fails, the work-horse exits 1 and the job is failed as "terminated unexpectedly".
        try:
            return super().perform_job(job, queue)
        except BaseException as error:
            if caused_by_outage(error):
                log.warning("job %s: Redis unavailable; handing it back to the worker", job.id)
                os._exit(REDIS_AWAY_EXIT)
            raise

    def handle_work_horse_killed(self, job, retpid, ret_val, rusage):
        if ret_val and os.WIFEXITED(ret_val) and os.WEXITSTATUS(ret_val) == REDIS_AWAY_EXIT:
            self._given_back = job.id  # handle_job_failure, called next, gives it back
            return None
        return super().handle_work_horse_killed(job, retpid, ret_val, rusage)

    def _give_back(self, job, queue):
        with self.connection.pipeline() as pipeline:
            self.cleanup_execution(job, pipeline=pipeline)
            queue._enqueue_job(job, pipeline=pipeline, at_front=True)
            pipeline.execute()
        log.info("job %s given back to %s after a Redis outage", job.id, queue.name)

    def execute_job(self, job, queue):
        if self.is_horse:
            return super().execute_job(job, queue)
        until_redis_answers("job start", self.prepare_execution, job, noticed=self._noticed)
        self._gave_back = False
        self.fork_work_horse(job, queue)
        try:
            self.monitor_work_horse(job, queue)
        except REDIS_OUTAGE as error:
            # The work-horse ended (or ends now: it is never left running) and its outcome
            # could not be read or recorded: record it once Redis answers (a job that did not
            # finish is failed, and retried by RQ when it has retries left).
            if self.horse_pid:
                self.wait_for_horse()
                self._horse_pid = 0
            self._noticed()
            log.warning("job %s ended while Redis was away (%s)", job.id, type(error).__name__)
            until_redis_answers("job outcome", self._settle_after_outage, job, queue)
        if not self._gave_back:
            self._outage_pause = None  # Redis took this job's outcome: no more pauses
        self.set_state(WorkerStatus.IDLE)

    def _settle_after_outage(self, job, queue):
        try:
            status = job.get_status(refresh=True)
        except InvalidJobOperation:
            return  # finished and already expired
        if status in (JobStatus.FINISHED, JobStatus.FAILED, JobStatus.QUEUED, JobStatus.SCHEDULED):
            return  # recorded by the work-horse, or already given back for a retry
        job.ended_at = now()
        self.handle_job_failure(
            job, queue=queue, exc_string="work-horse ended while Redis was unavailable"
        )
