"""Joining a caller's transaction, as rq's registries do; and running a Lua script lean.

A repository method that only writes takes `pipeline=None`: given one (a MULTI the caller
opened, with other repositories' writes in it), it queues its commands there and the caller's
`execute()` runs them all in one round trip and one transaction; without one it writes at once.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

import redis
from redis.client import Pipeline
from redis.commands.core import Script
from redis.exceptions import NoScriptError

__all__ = ["Pipeline", "on", "one_connection", "run"]


def on(client: redis.Redis, pipeline: Pipeline | None) -> redis.Redis | Pipeline:
    """Where a write goes: the caller's pipeline when there is one, else the client."""
    return client if pipeline is None else pipeline


def run(script: Script, keys: list, args: list, pipeline: Pipeline | None = None):
    """Run a Lua script now (its result), or queue it in the caller's pipeline.

    Queued as EVAL with its text, not EVALSHA: redis-py checks a pipeline's scripts with a
    SCRIPT EXISTS round trip of its own on every execute, and a script missing from the cache
    (Redis restarted) would fail inside the MULTI while the rest of it ran."""
    if pipeline is not None:
        return pipeline.eval(script.script, len(keys), *keys, *args)
    client = script.registered_client
    try:
        return _command(client, "EVALSHA", script.sha, len(keys), *keys, *args)
    except NoScriptError:  # Redis restarted or was replaced: EVAL caches the script again
        return _command(client, "EVAL", script.script, len(keys), *keys, *args)


@contextmanager
def one_connection() -> Iterator[None]:
    """The scripts run inside share one connection of their client's pool, taken by the first
    of them and given back at the end, instead of one from the pool per script (its lock and a
    check of the socket each time). Pipelines still take their own."""
    slot: list = []  # (pool, connection), once a script has run
    token = _held.set(slot)
    try:
        yield
    finally:
        _held.reset(token)
        if slot:
            pool, connection = slot
            pool.release(connection)


_held: ContextVar[list | None] = ContextVar("one_connection", default=None)


def _command(client: redis.Redis, *args):
    """One command on a connection of the client's pool (the one held by one_connection()
    when there is one), under the client's retry policy (a dropped connection is closed before
    the retry), its reply unparsed.

    A USSD hop runs two or three scripts, and redis-py's `execute_command` costs about as much
    CPU again as the connection's own send and read (metrics hooks, per-command dispatch): the
    README's benchmark section has the figures. EVAL and EVALSHA replies have no response
    callback there, so the reply is the same."""
    pool, slot = client.connection_pool, _held.get()
    if slot and slot[0] is pool:
        connection, owned = slot[1], False
    else:
        connection = pool.get_connection()
        owned = slot is None or bool(slot)  # an empty slot keeps it for the next script
        if not owned:
            slot.extend((pool, connection))
    try:
        return connection.retry.call_with_retry(
            lambda: _sent(connection, args), lambda _error: connection.disconnect()
        )
    finally:
        if owned:
            pool.release(connection)


def _sent(connection, args: tuple):
    connection.send_command(*args)
    return connection.read_response()
