"""Redis-backed state, with personal data encrypted on the way in. Keys: gateway/store/keys.py.

The store is composed of small repositories, one concept each, sharing one client and vault:
`store.cases.get(id)`, `store.messages.create(...)`, `store.audit.record(...)`.
"""

from __future__ import annotations

import redis

from gateway.privacy import Vault
from gateway.store.audit import Audit, Verdict
from gateway.store.cases import Cases
from gateway.store.consent import Consent
from gateway.store.deliveries import Deliveries
from gateway.store.directory import DirectoryVersions
from gateway.store.logins import Logins
from gateway.store.members import Members
from gateway.store.messages import Messages
from gateway.store.metrics import Metrics
from gateway.store.operators import Operators
from gateway.store.phones import Phones, RotationReport
from gateway.store.rates import Rates
from gateway.store.sessions import Sessions
from gateway.store.simulator import Simulator

__all__ = ["REDIS_DOWN", "RotationReport", "Store", "Verdict"]

# Redis cannot be reached (down, frozen, still loading its data, or out of memory): what the
# inbound paths keep in the local spool instead of failing, and what pauses a spool replay.
REDIS_DOWN = (redis.ConnectionError, redis.TimeoutError, redis.exceptions.OutOfMemoryError)


class Store:
    """Redis-backed state, with personal data encrypted on the way in: one repository each
    for phones, USSD sessions, inbound dedupe, rates, cases, consent, messages, the audit
    trail, the directory's version, metrics, operator accounts and logins, and the simulator."""

    def __init__(self, client: redis.Redis, vault: Vault):
        self.redis = client
        self.vault = vault
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

    def transaction(self) -> redis.client.Pipeline:
        """A MULTI for the caller to fill from several repositories (their `pipeline=`) and
        run with one `execute()`: one round trip, all or nothing. Already in MULTI, as RQ's
        enqueue expects of a caller's pipeline."""
        pipe = self.redis.pipeline(transaction=True)
        pipe.multi()
        return pipe

    def ping(self) -> bool:
        """True when Redis answers."""
        return bool(self.redis.ping())
