"""The RQ worker class of the Procfile: RQ's forking worker, with the service built before forks.

A forking worker runs every job in a fresh child; without this, each child would load the
directory, the menus and the provider clients again (about a quarter of a second per job).
Built once in the parent, every child inherits them; redis-py opens new connections after a fork.
"""

from __future__ import annotations

import rq

from workers import jobs


class Worker(rq.Worker):
    """rq.Worker that warms the job context before it starts taking jobs."""

    def work(self, *args, **kwargs):
        jobs.warm()
        return super().work(*args, **kwargs)
