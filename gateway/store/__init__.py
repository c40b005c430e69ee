"""Redis-backed state, with personal data encrypted on the way in. Keys: gateway/store/keys.py."""

from __future__ import annotations

import redis

from gateway.privacy import Vault
from gateway.store.audit import AuditStore, Verdict
from gateway.store.cases import CaseStore
from gateway.store.messages import MessageStore
from gateway.store.metrics import MetricStore
from gateway.store.phones import PhoneStore, RotationReport
from gateway.store.simulator import SimulatorStore

__all__ = ["REDIS_DOWN", "RotationReport", "Store", "Verdict"]

# Redis cannot be reached (down, frozen, still loading its data, or out of memory): what the
# inbound paths keep in the local spool instead of failing, and what pauses a spool replay.
REDIS_DOWN = (redis.ConnectionError, redis.TimeoutError, redis.exceptions.OutOfMemoryError)


class Store(PhoneStore, CaseStore, MessageStore, AuditStore, MetricStore, SimulatorStore):
    """Redis-backed state, with personal data encrypted on the way in."""

    def __init__(self, client: redis.Redis, vault: Vault):
        self.redis = client
        self.vault = vault

    # ---- health -----------------------------------------------------------------------------
    def ping(self) -> bool:
        """True when Redis answers."""
        return bool(self.redis.ping())
