"""The web composition root: create_app() wires settings, Redis, the vault and the blueprints."""

from __future__ import annotations

from dataclasses import dataclass

import redis
from flask import Flask

from config.settings import Settings
from gateway import cli, logs, webhooks
from gateway.privacy import Vault
from gateway.store import Store


@dataclass(frozen=True)
class Context:
    """What request handlers and commands need, built once per app."""

    settings: Settings
    store: Store


def connect(settings: Settings) -> redis.Redis:
    """A Redis client with timeouts, so a dead server fails a request instead of hanging it."""
    return redis.Redis.from_url(
        settings.redis_url,
        socket_timeout=2,
        socket_connect_timeout=2,
        health_check_interval=30,
    )


def create_app(settings: Settings | None = None) -> Flask:
    """The Flask application for the given settings (read from the environment by default)."""
    settings = settings or Settings.from_env()
    logs.configure(settings.log_level)
    app = Flask(__name__)
    app.config.update(MAX_CONTENT_LENGTH=64 * 1024, JSON_SORT_KEYS=False)
    store = Store(connect(settings), Vault(settings.data_keys))
    app.extensions["hamdam"] = Context(settings=settings, store=store)
    app.register_blueprint(webhooks.blueprint)
    cli.register(app)
    return app
