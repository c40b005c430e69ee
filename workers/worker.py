"""The RQ worker class of the Procfile: RQ's forking worker, with the service built before forks.

A forking worker runs every job in a fresh child; without this, each child would load the
directory, the menus and the provider clients again (about a quarter of a second per job).
Built once in the parent, every child inherits them; redis-py opens new connections after a fork.
"""

from __future__ import annotations

import rq

from workers import jobs

# How often a worker runs RQ's maintenance (which requeues a killed worker's job). `rq
# worker-pool` has no --maintenance-interval option, so the worker class sets it.
MAINTENANCE_INTERVAL = 60


class Worker(rq.Worker):
    """rq.Worker that warms the job context before taking jobs and wakes for maintenance."""

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
