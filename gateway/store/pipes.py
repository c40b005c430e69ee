"""Joining a caller's transaction, as rq's registries do.

A repository method that only writes takes `pipeline=None`: given one (a MULTI the caller
opened, with other repositories' writes in it), it queues its commands there and the caller's
`execute()` runs them all in one round trip and one transaction; without one it writes at once.
"""

from __future__ import annotations

import redis
from redis.client import Pipeline
from redis.commands.core import Script

__all__ = ["Pipeline", "on", "run"]


def on(client: redis.Redis, pipeline: Pipeline | None) -> redis.Redis | Pipeline:
    """Where a write goes: the caller's pipeline when there is one, else the client."""
    return client if pipeline is None else pipeline


def run(script: Script, keys: list, args: list, pipeline: Pipeline | None = None):
    """Run a Lua script now (its result), or queue it in the caller's pipeline.

    Queued as EVAL with its text, not EVALSHA: redis-py checks a pipeline's scripts with a
    SCRIPT EXISTS round trip of its own on every execute, and a script missing from the cache
    (Redis restarted) would fail inside the MULTI while the rest of it ran."""
    if pipeline is None:
        return script(keys=keys, args=args)
    return pipeline.eval(script.script, len(keys), *keys, *args)
