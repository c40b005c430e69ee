"""Redis-backed state, with personal data encrypted on the way in. Keys: gateway/store/keys.py.

The store is composed of small repositories, one concept each, sharing one client and vault:
`store.cases.get(id)`, `store.messages.create(...)`, `store.audit.record(...)`.
"""

from __future__ import annotations

import logging
import time
from contextlib import AbstractContextManager

import redis

from gateway.privacy import Vault
from gateway.store import pipes
from gateway.store.audit import Audit, Verdict
from gateway.store.cases import Cases
from gateway.store.consent import Consent
from gateway.store.deliveries import Deliveries
from gateway.store.directory import DirectoryVersions
from gateway.store.keys import REPLICAS_AWAY
from gateway.store.logins import Logins
from gateway.store.members import Members
from gateway.store.messages import Messages
from gateway.store.metrics import Metrics
from gateway.store.operators import Operators
from gateway.store.phones import Phones, RotationReport
from gateway.store.rates import Rates
from gateway.store.sessions import Sessions
from gateway.store.simulator import Simulator
from gateway.store.watch import Watching

__all__ = ["REDIS_DOWN", "RotationReport", "Store", "Verdict"]

log = logging.getLogger(__name__)

# Redis cannot be reached (down, frozen, still loading its data, or out of memory): what the
# inbound paths keep in the local spool instead of failing, and what pauses a spool replay.
# How long a write waits for its replicas (Store.replicated): inside the web's 0.4 s bound on a
# Redis call, and far above a healthy replica's few milliseconds.
WAIT_MS = 250
ALONE_FOR = 5.0  # seconds without WAIT after one that the replicas did not confirm in time

REDIS_DOWN = (redis.ConnectionError, redis.TimeoutError, redis.exceptions.OutOfMemoryError)


class Store:
    """Redis-backed state, with personal data encrypted on the way in: one repository each
    for phones, USSD sessions, inbound dedupe, rates, cases, consent, messages, the audit
    trail, the directory's version, metrics, operator accounts and logins, and the simulator."""

    def __init__(self, client: redis.Redis, vault: Vault, replicas: int = 0):
        self.redis = client
        self.vault = vault
        self.replicas = replicas
        self._alone_until = 0.0  # monotonic time until which WAIT is not asked (replicated)
        self.phones = Phones(client, vault)
        self.sessions = Sessions(client, vault, self.phones)
        self.deliveries = Deliveries(client, vault)
        self.rates = Rates(client, vault)
        self.cases = Cases(client, vault, self.phones)
        self.consent = Consent(client, vault, self.phones)
        self.messages = Messages(client, vault)
        self.audit = Audit(client)
        self.directory = DirectoryVersions(client)
        self.metrics = Metrics(client)
        self.logins = Logins(client, self.audit)
        self.operators = Operators(client, vault)
        self.simulator = Simulator(client, vault)
        self.members = Members(client, vault)
        self.watching = Watching(client)

    def one_connection(self) -> AbstractContextManager[None]:
        """Scripts run inside share one pooled connection (a USSD hop's two or three)."""
        return pipes.one_connection()

    def transaction(self) -> redis.client.Pipeline:
        """A MULTI for the caller to fill from several repositories (their `pipeline=`) and
        run with one `execute()`: one round trip, all or nothing. Already in MULTI, as RQ's
        enqueue expects of a caller's pipeline."""
        pipe = self.redis.pipeline(transaction=True)
        pipe.multi()
        return pipe

    def replicated(self, what: str, timeout_ms: int = WAIT_MS) -> bool:
        """After a write that must survive the master's loss (a case she was told of, a send
        about to be tried): wait until `replicas` replicas have it, at most `timeout_ms`.

        Asked right after the write on the same client, with no I/O between, so the pool
        hands back the connection that wrote. False (logged and counted) when fewer confirmed
        in time. The caller carries on: a missing replica must not silence the service, only
        leave this write less safe."""
        if not self.replicas:
            return True
        # A master left without its replica (after a failover, say) would make every write
        # wait the whole timeout: the wait is skipped for a while, still counted. Said in Redis
        # too, for every process: a worker runs each job in a fresh fork.
        if time.monotonic() >= self._alone_until and not self.redis.exists(REPLICAS_AWAY):
            confirmed = self.redis.wait(self.replicas, timeout_ms)
            if confirmed >= self.replicas:
                return True
            log.warning("%s: %d of %d replicas confirmed the write", what, confirmed, self.replicas)
            self.redis.set(REPLICAS_AWAY, "1", ex=int(ALONE_FOR))
            self._alone_until = time.monotonic() + ALONE_FOR
        self.metrics.count_unreplicated(what)
        return False

    def ping(self) -> bool:
        """True when Redis answers."""
        return bool(self.redis.ping())
