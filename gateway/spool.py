"""A durable local spool for inbound requests that arrive while Redis cannot be reached.

Twilio does not retry an inbound webhook, so an SMS answered 500 during a Redis outage is a help
request lost. Instead it is kept here and answered 200, and replayed through the normal path
(and its dedupe) once Redis answers again.

- One record per line, appended with O_APPEND and fsync'ed before the provider gets its 200.
- Each line is a Fernet token (the store's Vault): no number or text ever touches the disk in
  clear. Files are mode 0600 in a 0700 directory under VAR_DIR.
- A record leaves the spool only after it was handled: a replay takes the spool over as a batch
  (a rename under the append lock), handles its records one by one, and writes back what it
  could not handle. A replayer that dies mid-batch leaves the batch for the next one; records
  handled twice that way are caught by the normal dedupe.
- A line that does not decrypt or parse does not block the others: it is counted, logged by
  its position only and kept aside in `corrupt.spool` for an operator.
- One replayer at a time across the web workers (a non-blocking file lock).
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from gateway.privacy import PrivacyError, Vault

log = logging.getLogger(__name__)

REPLAY_EVERY = 1.0  # seconds between checks for spooled records


class SpoolError(RuntimeError):
    """A record could not be written to the spool (disk full, permissions)."""


@dataclass(frozen=True)
class Replayed:
    """What one replay pass did."""

    handled: int = 0
    left: int = 0
    corrupt: int = 0
    failed: int = 0


class Spool:
    """Append-only, encrypted, fsync'ed records on local disk; replayed when Redis is back."""

    def __init__(self, directory: Path, vault: Vault):
        self.directory = Path(directory)
        self.vault = vault
        self.path = self.directory / "inbound.spool"
        self.batch = self.directory / "replaying.spool"
        self.corrupt = self.directory / "corrupt.spool"
        self._append_lock = self.directory / "append.lock"
        self._replay_lock = self.directory / "replay.lock"

    # ---- writing -------------------------------------------------------------------------------
    def keep(self, record: dict) -> None:
        """Append one record, encrypted, and fsync it; raises SpoolError when that fails."""
        line = (self.vault.encrypt_json(record) + "\n").encode()
        try:
            self._ready()
            with self._locked(self._append_lock):
                _append(self.path, [line])
        except OSError as error:
            raise SpoolError(f"spool not writable: {type(error).__name__}") from None

    # ---- USSD sessions begun while Redis was away ----------------------------------------------
    # Without Redis her remembered language is unknown, so such a session starts on the language
    # list; a marker (named by the session's keyed hash, empty) tells the later hops, in any web
    # worker, that her inputs are to be replayed from that list.
    def mark_session(self, digest: str, max_age: float) -> None:
        """Remember that the session with this keyed hash began on the language list; markers
        older than `max_age` seconds are swept on the way."""
        sessions = self.directory / "sessions"
        try:
            sessions.mkdir(mode=0o700, parents=True, exist_ok=True)
            now = time.time()
            for old in sessions.iterdir():
                with contextlib.suppress(OSError):
                    if now - old.stat().st_mtime > max_age:
                        old.unlink()
            (sessions / digest).touch(mode=0o600)
        except OSError as error:
            raise SpoolError(f"session marker not writable: {type(error).__name__}") from None

    def session_marked(self, digest: str, max_age: float) -> bool:
        """True when mark_session() recorded this session less than `max_age` seconds ago."""
        try:
            return time.time() - (self.directory / "sessions" / digest).stat().st_mtime < max_age
        except OSError:
            return False

    def pending(self) -> int:
        """Records waiting for a replay (lines in the spool and in an unfinished batch)."""
        return sum(_count_lines(p) for p in (self.path, self.batch))

    # ---- replay --------------------------------------------------------------------------------
    def replay(self, handle: Callable[[dict], None], retryable: tuple[type, ...]) -> Replayed:
        """Hand every spooled record to `handle`, oldest first. A record whose handling raises
        one of `retryable` (Redis is still away) stops the pass and stays, with everything after
        it; any other exception puts that record aside. Nothing happens while another process
        replays."""
        if not self.path.exists() and not self.batch.exists():
            return Replayed()
        self._ready()
        with self._try_locked(self._replay_lock) as mine:
            if not mine:
                return Replayed()
            with self._locked(self._append_lock):
                if not self.batch.exists():
                    if not self.path.exists():
                        return Replayed()
                    os.replace(self.path, self.batch)
            return self._replay_batch(handle, retryable)

    def _replay_batch(self, handle, retryable) -> Replayed:
        lines = self.batch.read_bytes().splitlines(keepends=True)
        handled = corrupt = failed = 0
        left: list[bytes] = []
        aside: list[bytes] = []
        for position, line in enumerate(lines, 1):
            if left:
                left.append(line)
                continue
            try:
                record = self.vault.decrypt_json(line.strip())
                if not isinstance(record, dict):
                    raise ValueError("not a record")
            except (PrivacyError, ValueError, UnicodeDecodeError):
                corrupt += 1
                aside.append(line if line.endswith(b"\n") else line + b"\n")
                log.error("spool: record %d does not decrypt or parse; kept aside", position)
                continue
            try:
                handle(record)
            except retryable as error:
                log.warning("spool: replay paused (%s); the rest waits", type(error).__name__)
                left.append(line)
                continue
            except Exception:
                failed += 1
                aside.append(line)
                log.exception("spool: record %d failed to replay; kept aside", position)
                continue
            handled += 1
        if aside:
            with self._locked(self._append_lock):
                _append(self.corrupt, aside)
        if left:
            _rewrite(self.batch, left)
        else:
            self.batch.unlink()
        if handled or corrupt or failed:
            log.info(
                "spool: %d replayed, %d left, %d corrupt, %d failed",
                handled,
                len(left),
                corrupt,
                failed,
            )
        return Replayed(handled=handled, left=len(left), corrupt=corrupt, failed=failed)

    def start_replayer(
        self, handle: Callable[[dict], None], retryable: tuple[type, ...]
    ) -> threading.Event:
        """A daemon thread replaying the spool every REPLAY_EVERY seconds; set the returned
        event to stop it."""
        stop = threading.Event()

        def loop() -> None:
            while not stop.wait(REPLAY_EVERY):
                try:
                    self.replay(handle, retryable)
                except Exception:
                    log.exception("spool: replay pass failed")

        threading.Thread(target=loop, name="spool-replayer", daemon=True).start()
        return stop

    # ---- files and locks -----------------------------------------------------------------------
    def _ready(self) -> None:
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)

    @staticmethod
    @contextlib.contextmanager
    def _locked(path: Path) -> Iterator[None]:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing releases the lock

    @staticmethod
    @contextlib.contextmanager
    def _try_locked(path: Path) -> Iterator[bool]:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield False
                return
            yield True
        finally:
            os.close(fd)


def _write_synced(path: Path, lines: list[bytes], flags: int) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | flags, 0o600)
    try:
        os.write(fd, b"".join(lines))
        os.fsync(fd)
    finally:
        os.close(fd)


def _append(path: Path, lines: list[bytes]) -> None:
    _write_synced(path, lines, os.O_APPEND)


def _rewrite(path: Path, lines: list[bytes]) -> None:
    tmp = path.with_suffix(".tmp")
    _write_synced(tmp, lines, os.O_TRUNC)
    os.replace(tmp, path)


def _count_lines(path: Path) -> int:
    try:
        return path.read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0
