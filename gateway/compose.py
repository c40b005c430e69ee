"""Wiring shared by the two composition roots (web app and workers); imports no Flask."""

from __future__ import annotations

import redis

from config.settings import Settings
from gateway import directory
from gateway.privacy import Vault
from gateway.service import Service
from gateway.store import Store
from menus import engine


def connect(settings: Settings) -> redis.Redis:
    """A Redis client with timeouts, so a dead server fails a request instead of hanging it."""
    return redis.Redis.from_url(
        settings.redis_url,
        socket_timeout=5,
        socket_connect_timeout=2,
        health_check_interval=30,
    )


def build_service(settings: Settings, client: redis.Redis | None = None) -> Service:
    """The service with its store, directory and menus (load errors name file and line)."""
    store = Store(client or connect(settings), Vault(settings.data_keys))
    return Service(
        store,
        directory.load(settings.directory_file),
        engine.load(),
        session_ttl=settings.session_ttl,
    )
