"""Redis-backed state, with personal data encrypted on the way in. Keys: gateway/store/keys.py."""

from __future__ import annotations

import redis

from gateway.privacy import Vault
from gateway.store.audit import AuditStore, Verdict
from gateway.store.cases import CaseStore
from gateway.store.keys import QUEUES
from gateway.store.messages import MessageStore
from gateway.store.metrics import MetricStore
from gateway.store.phones import PhoneStore, RotationReport
from gateway.store.simulator import SimulatorStore, Timer

__all__ = ["RotationReport", "Store", "Timer", "Verdict", "queue_depths"]


class Store(PhoneStore, CaseStore, MessageStore, AuditStore, MetricStore, SimulatorStore):
    """Redis-backed state, with personal data encrypted on the way in."""

    def __init__(self, client: redis.Redis, vault: Vault):
        self.redis = client
        self.vault = vault

    # ---- health -----------------------------------------------------------------------------
    def ping(self) -> bool:
        """True when Redis answers."""
        return bool(self.redis.ping())


def queue_depths(client: redis.Redis) -> dict[str, dict[str, int]]:
    """Jobs waiting, scheduled and failed per RQ queue."""
    from rq import Queue

    depths = {}
    for name in QUEUES:
        queue = Queue(name, connection=client)
        depths[name] = {
            "queued": queue.count,
            "started": queue.started_job_registry.count,
            "scheduled": queue.scheduled_job_registry.count,
            "failed": queue.failed_job_registry.count,
        }
    return depths
