"""HTTP endpoints: each channel's webhooks (gateway/channels/registry.py), mounted here with the
gateway they may ask of; the index and /healthz. No decisions here."""

from __future__ import annotations

import logging

from flask import Blueprint, Response, jsonify, request
from werkzeug.exceptions import HTTPException

from gateway import health, web
from gateway.channels import base
from gateway.channels.base import Hop, Inbound, Reply
from gateway.channels.registry import CHANNELS
from gateway.compose import Context
from gateway.spool import SpoolError
from gateway.store import REDIS_DOWN
from menus.languages import ERROR_END

log = logging.getLogger(__name__)
blueprint = Blueprint("webhooks", __name__)


class _Gateway:
    """What a channel's webhook may ask of the gateway (channels/base.py: Gateway)."""

    ussd_error = ERROR_END

    def __init__(self, context: Context):
        self.context = context
        self.public_url = context.settings.public_url
        self.ussd_key = context.settings.ussd_key

    def take_sms(self, inbound: Inbound) -> str:
        try:
            return self.context.sms.take(inbound)
        except SpoolError as error:
            raise base.TryAgain(str(error)) from error

    def status(self, message_id: str, state: str, error: str = "") -> bool:
        return self.context.receipts.status(message_id, state, error=error)

    def message_by_provider(self, route: str, provider_id: str) -> str | None:
        return self.context.store.messages.by_provider(route, provider_id)

    def heard(self, route: str, phone: str) -> None:
        try:
            self.context.store.watching.heard(route, phone, self.context.watch.clock())
        except REDIS_DOWN:
            log.warning("%s: phone %s heard while Redis is away; not recorded", route, phone)

    def ussd(self, hop: Hop) -> Reply:
        return self.context.ussd.handle(hop)


def _gateway() -> _Gateway:
    return _Gateway(web.context())


def _flask(answer: base.Response) -> Response:
    return Response(answer.body, status=answer.status, mimetype=answer.mimetype)


def _view(channel: base.Channel, route: base.Route):
    def view() -> Response:
        gateway = _gateway()
        return _flask(
            route.handle(request, gateway, gateway.context.settings.channels.get(channel.name))
        )

    view.__doc__ = route.handle.__doc__
    return view


for _channel in CHANNELS:
    for _route in _channel.routes:
        blueprint.add_url_rule(
            _route.path,
            endpoint=_route.name,
            view_func=_view(_channel, _route),
            methods=["POST"],
        )

HEALTH_PATH = "/healthz"  # also read by the web's turns (config/gunicorn.py): it never queues
# Paths whose errors (raised before or around the view) a channel renders in its own format.
_REFUSALS = {r.path: r.refuse for c in CHANNELS for r in c.routes if r.refuse is not None}


@blueprint.get("/")
def index():
    """A plain pointer for a person who opens the server in a browser."""
    return {"service": "hamdam", "health": HEALTH_PATH}


@blueprint.get(HEALTH_PATH)
def healthz():
    """200 ok; 503 degraded (no live worker, a stale queue, overdue timers) with every reason,
    or 503 unavailable when Redis does not answer. The checks live in gateway/health.py."""
    context = web.context()
    status, body = health.assess(context.store, health.Limits.of(context.settings))
    return jsonify(body), status


@blueprint.app_errorhandler(HTTPException)
def _channel_error(error: HTTPException):
    """Errors raised before or around a channel's view (405, 413, 500) in the channel's own
    format where it has one (a USSD aggregator shows whatever it gets to her: always `END`).
    Other paths keep Flask's answers."""
    refuse = _REFUSALS.get(request.path)
    if refuse is None:
        return error
    return _flask(refuse(error.code or 500, error.name, _gateway()))
