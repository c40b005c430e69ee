"""HTTP endpoints: verify, parse, hand to a use-case, render. No decisions here."""

from __future__ import annotations

import hmac
import logging
import time

from flask import Blueprint, Response, jsonify, request
from werkzeug.exceptions import HTTPException

from gateway import health, web
from gateway.channels import africastalking, android, twilio
from gateway.channels.base import Reply
from gateway.spool import SpoolError
from gateway.usecases.ussd import ERROR_END

log = logging.getLogger(__name__)
blueprint = Blueprint("webhooks", __name__)

USSD_REFUSED = "END"  # a valid USSD answer that shows nothing
USSD_PATH = "/ussd/africastalking"


def _context():
    return web.context()


def _plain(body: str, status: int = 200) -> Response:
    return Response(body, status=status, mimetype="text/plain")


@blueprint.get("/")
def index():
    """A plain pointer for a person who opens the server in a browser."""
    return {"service": "hamdam", "health": "/healthz"}


@blueprint.get("/healthz")
def healthz():
    """200 ok; 503 degraded (no live worker, a stale queue, overdue timers) with every reason,
    or 503 unavailable when Redis does not answer. The checks live in gateway/health.py."""
    context = _context()
    status, body = health.assess(context.store, health.Limits.of(context.settings))
    return jsonify(body), status


@blueprint.app_errorhandler(HTTPException)
def _ussd_error(error: HTTPException):
    """Errors raised before or around the USSD view (405, 413, 500) still answer `END`, as plain
    text: an aggregator shows whatever it gets to her. Other paths keep Flask's answers."""
    if request.path != USSD_PATH:
        return error
    code = error.code or 500
    return _plain(f"{USSD_REFUSED} {ERROR_END if code >= 500 else error.name}", code)


@blueprint.post(USSD_PATH)
def ussd_africastalking():
    """One USSD hop: always a `CON`/`END` body, 403 for a wrong key, 400 for a broken form."""
    context = _context()
    key = request.args.get("key", "")
    if not hmac.compare_digest(key.encode(), context.settings.ussd_key.encode()):
        log.warning("ussd: wrong or missing key")
        return _plain(USSD_REFUSED + " wrong or missing key", 403)
    try:
        hop = africastalking.parse(request.form)
    except africastalking.UssdFormError as error:
        return _plain(f"{USSD_REFUSED} {error}", 400)
    reply: Reply = context.ussd.handle(hop)
    return _plain(africastalking.render(reply))


def _twilio_refusal() -> Response | None:
    settings = _context().settings
    url = twilio.signature_url(settings.public_url, request.path, request.query_string)
    signature = request.headers.get("X-Twilio-Signature", "")
    if twilio.valid_signature(settings.twilio_auth_token, url, request.form, signature):
        return None
    log.warning("twilio: signature check failed for %s", request.path)
    return _plain("X-Twilio-Signature does not match (check PUBLIC_URL and TWILIO_AUTH_TOKEN)", 403)


@blueprint.post("/sms/twilio")
def sms_twilio():
    """An inbound SMS from Twilio: signature checked, deduplicated, answered with TwiML."""
    context = _context()
    if (refusal := _twilio_refusal()) is not None:
        return refusal
    try:
        inbound = twilio.parse(request.form)
    except twilio.TwilioFormError as error:
        return _plain(f"bad Twilio webhook: {error}", 400)
    try:
        text = context.sms.take(inbound)
    except SpoolError as error:
        log.error("twilio: inbound SMS neither handled nor spooled: %s", error)
        return _plain("try again", 503)
    return Response(twilio.twiml(text), mimetype="text/xml")


@blueprint.post("/sms/twilio/status")
def sms_twilio_status():
    """A delivery status callback for a message we sent; states only ever move forward."""
    context = _context()
    if (refusal := _twilio_refusal()) is not None:
        return refusal
    state = twilio.STATUS.get(request.form.get("MessageStatus", ""))
    sid = request.form.get("MessageSid", "")
    mid = request.args.get("m") or context.store.message_by_provider("twilio", sid)
    if state is None or not mid:
        return _plain("unknown MessageStatus or message", 400)
    context.receipts.status(mid, state, error=request.form.get("ErrorCode", ""))
    return Response(status=204)


@blueprint.post("/sms/android")
def sms_android():
    """A webhook event from SMS Gateway for Android: signature and freshness checked."""
    context = _context()
    body = request.get_data()
    try:
        android.verify(
            context.settings.android_webhook_secret,
            body,
            request.headers.get("X-Signature", ""),
            request.headers.get("X-Timestamp", ""),
            time.time(),
        )
        event = android.parse(body)
    except android.AndroidAuthError as error:
        log.warning("android: %s", error)
        return _plain(str(error), error.status)
    except android.AndroidFormError as error:
        return _plain(f"bad Android webhook: {error}", 400)
    if event.inbound is not None:
        try:
            context.sms.take(event.inbound)
        except SpoolError as error:
            log.error("android: inbound SMS neither handled nor spooled: %s", error)
            return _plain("try again", 503)  # the app retries
    elif event.kind not in android.STATUS:
        if event.kind not in android.EVENTS:
            log.warning("android: event kind %r not documented; ignored", event.kind[:40])
        return jsonify({"status": "ignored"})
    else:
        context.receipts.status(
            event.message_id, android.STATUS[event.kind], error=event.state_error
        )
    return jsonify({"status": "ok"})
