"""The web composition root: create_app() wires settings, the use-cases and the blueprints."""

from __future__ import annotations

import threading

from flask import Flask

from config.settings import Settings
from gateway import cli, console, logs, operator, simulator, web, webhooks
from gateway.compose import WEB, Context, build
from gateway.store import REDIS_DOWN

MAX_BODY = 64 * 1024  # bytes of a request body; every webhook we accept is far smaller


def create_app(settings: Settings | None = None) -> Flask:
    """The Flask application for the given settings (read from the environment by default)."""
    settings = settings or Settings.from_env()
    logs.configure(settings.log_level, settings.secret_values)
    app = Flask(__name__)
    app.config.update(MAX_CONTENT_LENGTH=MAX_BODY)
    context = build(settings, bounds=WEB)
    web.install(app, context)
    _replay_spool_once_serving(app, context)
    app.register_blueprint(webhooks.blueprint)
    simulator.register(app)
    operator.mount(app)
    console.register(app)
    cli.register(app)
    return app


def _replay_spool_once_serving(app: Flask, context: Context) -> None:
    """Start the spool replayer with the first request this process serves (so every web
    worker has one, and `flask` commands, which serve none, do not)."""
    started = threading.Lock()

    def start() -> None:
        if started.acquire(blocking=False):
            context.spool.start_replayer(context.spooled.replay, REDIS_DOWN)

    app.before_request(start)
