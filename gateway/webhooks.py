"""HTTP endpoints: verify, parse, hand to the service, render. No decisions here."""

from __future__ import annotations

import logging

import redis
from flask import Blueprint, current_app, jsonify

from gateway.store import queue_depths

log = logging.getLogger(__name__)
blueprint = Blueprint("webhooks", __name__)


def _context():
    return current_app.extensions["hamdam"]


@blueprint.get("/")
def index():
    """A plain pointer for a person who opens the server in a browser."""
    return {"service": "hamdam", "health": "/healthz"}


@blueprint.get("/healthz")
def healthz():
    """200 with Redis reachability and queue depths, or 503 when Redis does not answer."""
    store = _context().store
    try:
        store.ping()
        depths = queue_depths(store.redis)
    except (redis.ConnectionError, redis.TimeoutError) as error:
        log.warning("healthz: redis unreachable: %s", type(error).__name__)
        body = {"status": "unavailable", "redis": {"reachable": False}}
        return jsonify(body), 503
    return jsonify({"status": "ok", "redis": {"reachable": True}, "queues": depths})
