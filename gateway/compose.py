"""Wiring shared by the two composition roots (web app and workers); imports no Flask."""

from __future__ import annotations

import redis

from config.settings import Settings
from gateway import directory
from gateway.channels import registry
from gateway.dispatch import Dispatcher, Timing
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
    found = directory.load(settings.directory_file)
    return Service(
        store,
        found,
        engine.load(),
        build_dispatcher(settings, store, found),
        session_ttl=settings.session_ttl,
        reload_directory=lambda: directory.load(settings.directory_file),
    )


def build_dispatcher(settings: Settings, store: Store, found: directory.Directory) -> Dispatcher:
    """The dispatcher with the configured routes, in order."""
    options = {**vars(settings), "store": store, "validity": settings.sms_validity}
    timing = Timing(
        escalate_after=settings.escalate_after,
        escalate_after_urgent=settings.escalate_after_urgent,
        remind_every=settings.remind_every,
        retry_delays=settings.send_retry_delays,
        send_rate=settings.send_rate,
        out_per_hour=settings.alerts_per_hour,
        receipt_timeout=settings.receipt_timeout,
        retention=settings.retention_days * 86400,
    )
    return Dispatcher(store, found, registry.build(settings.sms_routes, options), timing)
