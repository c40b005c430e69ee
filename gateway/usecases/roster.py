"""The directory this process runs, shared by every use-case, and its reload."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import redis

from gateway import keywords
from gateway.directory import Directory, DirectoryError, snapshot
from gateway.store import Store

log = logging.getLogger(__name__)

CHECK_EVERY = 5.0  # seconds between checks for a reloaded directory


class Roster:
    """The directory in use (responders, districts, organisations), the district list the menus
    show and the organisations' code words; `refresh()` picks up a `flask directory reload`."""

    def __init__(
        self, store: Store, directory: Directory, reload: Callable[[], Directory] | None = None
    ):
        self.store = store
        self.reload = reload
        self._generation: int | None = None
        self._next_check = 0.0
        self.use(directory)

    def use(self, directory: Directory) -> None:
        """Route, list districts and match code words from this directory from now on."""
        self.directory = directory
        self.sources = {"districts": [(d.id, dict(d.names)) for d in directory.districts.values()]}
        self.code_words = {
            word: found
            for org in directory.organisations.values()
            for word, found in keywords.fold_code_words(org.code_words, org.id).items()
        }

    def refresh(self) -> None:
        """Reload the directory when `flask directory reload` bumped its generation (checked
        at most every few seconds, so a request rarely pays for it)."""
        now = time.monotonic()
        if self.reload is None or now < self._next_check:
            return
        self._next_check = now + CHECK_EVERY
        try:
            generation = self.store.directory.generation()
            if self._generation is None:  # first check: record the directory this process runs
                self.store.directory.note(snapshot(self.directory, self.store.vault.digest))
        except (redis.ConnectionError, redis.TimeoutError):
            return
        if self._generation is not None and generation != self._generation:
            try:
                self.use(self.reload())
                log.info("directory reloaded (generation %d)", generation)
            except DirectoryError as error:
                log.error("directory reload refused, keeping the previous one: %s", error)
        self._generation = generation
