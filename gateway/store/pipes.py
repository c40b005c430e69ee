"""Joining a caller's transaction, as rq's registries do.

A repository method that only writes takes `pipeline=None`: given one (a MULTI the caller
opened, with other repositories' writes in it), it queues its commands there and the caller's
`execute()` runs them all in one round trip and one transaction; without one it writes at once.
"""

from __future__ import annotations

import redis
from redis.client import Pipeline

__all__ = ["Pipeline", "on"]


def on(client: redis.Redis, pipeline: Pipeline | None) -> redis.Redis | Pipeline:
    """Where a write goes: the caller's pipeline when there is one, else the client."""
    return client if pipeline is None else pipeline
