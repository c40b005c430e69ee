"""The Procfile's `clock`: RQ's cron scheduler (config/cron.py), riding out Redis outages.

`rq cron` builds RQ's CronScheduler, whose loop ends at the first Redis error: a Redis restart
stopped the hourly retention sweep for good. Run as `python -m workers.clock config/cron.py`
with the Redis URL of config/rq.py (the settings), like the worker.
"""

from __future__ import annotations

import argparse
import logging
import time
from collections.abc import Callable
from contextlib import suppress

from rq.cron import CronScheduler
from rq.exceptions import StopRequested

from workers.outage import REDIS_OUTAGE, Backoff, until_redis_answers

log = logging.getLogger(__name__)


WATCH_EVERY = 60  # seconds between two runs of the watch


class Clock(CronScheduler):
    """CronScheduler whose loop waits for Redis with a backoff instead of ending, and runs the
    gateway's watch itself every minute (in this process: the workers may be what failed)."""

    def __init__(self, *args, watch: Callable[[], object] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.watch = watch
        self.watch_at = time.monotonic()

    def _watch(self) -> None:
        if self.watch is None or time.monotonic() < self.watch_at:
            return
        self.watch_at = time.monotonic() + WATCH_EVERY
        try:
            said = self.watch()
            log.debug("watch: %s", said)  # what it tells a person, it logs as a warning
        except REDIS_OUTAGE:
            raise
        except Exception:
            log.exception("watch failed; it runs again in a minute")

    def start(self):
        self.log.info("CronScheduler %s: starting...", self.name)
        self._install_signal_handlers()
        try:
            until_redis_answers("clock birth", self.register_birth)
            backoff = Backoff()
            unsaved = False
            while True:
                try:
                    # A job whose enqueue failed keeps its due time and is tried again.
                    unsaved = bool(self.enqueue_jobs()) or unsaved
                    if unsaved:
                        self.save()
                        unsaved = False
                    self.heartbeat()
                    self._watch()
                except REDIS_OUTAGE as error:
                    log.warning(
                        "clock: Redis unavailable (%s); retrying in %.1f s",
                        type(error).__name__,
                        backoff.next,
                    )
                    backoff.wait()
                    continue
                backoff.reset()
                pause = self.calculate_sleep_interval()
                if self.watch is not None:
                    pause = min(pause, max(0.0, self.watch_at - time.monotonic()))
                if pause > 0:
                    time.sleep(pause)
        except (KeyboardInterrupt, StopRequested):
            self.log.info("CronScheduler %s: stop requested", self.name)
        finally:
            with suppress(*REDIS_OUTAGE):
                self.register_death()
            self.log.info("CronScheduler %s: shutdown complete", self.name)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m workers.clock")
    parser.add_argument("config", help="the cron configuration (config/cron.py)")
    args = parser.parse_args(argv)
    from config import rq as rq_config  # the settings `rq worker -c config.rq` reads
    from workers import jobs

    clock = Clock(connection=rq_config.connection(), watch=jobs.watch)
    clock.load_config_from_file(args.config)
    clock.start()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
