"""The phone simulator: a browser page that plays a woman's phone and responders' phones.

Everything the page does goes through the real webhooks (USSD key check, Android signature,
dedupe, rate limits) by dispatching the provider's own request through the app's WSGI stack, so
a training session exercises exactly what a phone on the network would. Outbound SMS are read
back from the console route's outbox.

It runs only when every SMS route is console (SIMULATOR is on by default in development then,
and refused at start-up otherwise), plays only synthetic numbers (+99290000xxxx), and needs the
operator login unless the web process is bound to loopback and the request comes from this
machine without a proxy (always in production). A refusal is a 403 that says why.

Besides the phones it keeps a short-lived transcript of what each synthetic phone typed and sent
(encrypted, gateway/store/simulator.py), resets the console outbox and its sessions, and can run
a case's next escalation timer now; the last two are audited.
"""

from __future__ import annotations

import ipaddress
import json
import time
import uuid
from datetime import UTC, datetime

from flask import Blueprint, Flask, Response, current_app, jsonify, render_template, request
from werkzeug.test import Client

from gateway import logs, text, web
from gateway.auth import login
from gateway.channels.android import sign
from gateway.phone import synthetic
from gateway.simulator import inputs
from gateway.simulator.inboxes import group
from gateway.store.keys import SIM_SESSION

blueprint = Blueprint(
    "simulator",
    __name__,
    url_prefix="/simulator",
    template_folder="templates",
    static_folder="static",
)

SERVICE_CODE = "*384#"
NETWORK_CODE = "43612"
MAX_USSD_TEXT = 182  # one USSD string; the aggregator never sends more
MAX_SMS_TEXT = 918  # six UCS-2 parts: more than any phone lets a woman type
OUTBOX_LIMIT = 200  # newest console messages read per poll
POLL = "/inboxes"  # what the page asks every second
SAMPLE_PHONES = tuple(f"+9929000097{n:02d}" for n in range(1, 10))


PROXY_HEADERS = ("Forwarded", "X-Forwarded-For", "X-Forwarded-Host", "X-Real-Ip")


def register(app: Flask) -> None:
    """Serve the simulator from `app` when the settings allow it; in development with routes to
    real phones, serve only its refusal (403 saying why) so nobody wonders where it went."""
    settings = web.context_of(app).settings
    wanted = settings.simulator or (not settings.production and _live_routes(settings))
    if wanted and blueprint.name not in app.blueprints:
        app.register_blueprint(blueprint)
        # The page polls its inboxes every second: not an access-log line each time.
        logs.quiet_access(blueprint.url_prefix + POLL)


def _context():
    return web.context()


def _live_routes(settings) -> list[str]:
    return [route for route in settings.sms_routes if route != "console"]


def _loopback(address: str) -> bool:
    try:
        return address == "localhost" or ipaddress.ip_address(address.strip("[]")).is_loopback
    except ValueError:
        return False


def _from_this_machine(settings) -> bool:
    """True when the web process listens on loopback only and this request came over it, not
    through a proxy (which would make it a request from anywhere)."""
    return (
        _loopback(settings.host)
        and _loopback(request.remote_addr or "")
        and not any(name in request.headers for name in PROXY_HEADERS)
    )


@blueprint.before_request
def _guard() -> Response | None:
    settings = _context().settings
    if settings.production or not _from_this_machine(settings):
        refused = login(_context().store, settings.first_admin, production=settings.production)
        if refused is not None:
            return refused
    live = _live_routes(settings)
    if live or not settings.simulator:
        raise inputs.Refused(
            "the simulator runs only when every SMS route is console: SMS_ROUTES has "
            f"{', '.join(live)}, which would send real SMS and act on real cases"
            if live
            else "the simulator is off (SIMULATOR=0)"
        )
    return None


@blueprint.after_request
def _headers(response: Response) -> Response:
    # The page loads nothing from elsewhere and runs no inline script; message bodies it shows
    # are never cached by the browser or a proxy.
    response.headers["Content-Security-Policy"] = (
        "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; "
        "form-action 'self'"
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Cache-Control"] = "no-store"
    return response


@blueprint.errorhandler(inputs.BadInput)
def _bad_input(error: inputs.BadInput):
    return jsonify({"error": str(error)}), 400


@blueprint.errorhandler(inputs.Refused)
def _refused(error: inputs.Refused):
    return jsonify({"error": str(error)}), 403


@blueprint.errorhandler(inputs.NotFound)
def _not_found(error: inputs.NotFound):
    return jsonify({"error": str(error)}), 404


@blueprint.get("")
def page():
    """The simulator page: her phone on one side, responders' inboxes on the other."""
    return render_template(
        "simulator.html",
        service_code=SERVICE_CODE,
        sample_phones=SAMPLE_PHONES,
        inbound=_inbound_numbers(),
    )


def _inbound_numbers() -> dict[str, str]:
    """Our inbound SMS numbers she may write to (synthetic ones only), with their organisation."""
    directory = _context().roster.directory
    return {
        number: org.name
        for org in directory.organisations.values()
        for number in org.numbers
        if synthetic(number)
    }


@blueprint.post("/ussd")
def ussd():
    """One USSD hop posted to the real aggregator endpoint; the screen with its budget."""
    data = inputs.body()
    phone = inputs.phone(data.get("phone"))
    session = data.get("session")
    if not isinstance(session, str) or not inputs.SESSION.fullmatch(session):
        raise inputs.BadInput("session: expected 1 to 64 letters, digits, '-' or '_'")
    typed = inputs.string(data.get("text", ""), "text", MAX_USSD_TEXT, empty=True)
    form = {
        "sessionId": SIM_SESSION.format(session=session),
        "serviceCode": SERVICE_CODE,
        "phoneNumber": phone,
        "networkCode": NETWORK_CODE,
        "text": typed,
    }
    settings = _context().settings
    answer = _client().post(
        "/ussd/africastalking", query_string={"key": settings.ussd_key}, data=form
    )
    body = answer.get_data(as_text=True)
    kind, _, screen = body.partition(" ")
    if kind not in ("CON", "END"):
        kind, screen = "", body
    typed_now = typed.rsplit("*", 1)[-1] if typed else SERVICE_CODE
    _context().store.simulator.record(
        phone, kind="ussd", typed=typed_now, screen=screen, end=kind, status=answer.status_code
    )
    return jsonify(
        status=answer.status_code,
        body=body,
        kind=kind,
        screen=screen,
        length=text.ussd_length(screen),
        budget=text.ussd_budget(screen),
        encoding=text.encoding(screen),
    )


@blueprint.post("/sms")
def sms():
    """An SMS from a phone, delivered as the Android gateway app's signed sms:received event."""
    data = inputs.body()
    phone = inputs.phone(data.get("phone"))
    message = inputs.string(data.get("text"), "text", MAX_SMS_TEXT)
    to = data.get("to") or ""
    if to and to not in _inbound_numbers():
        raise inputs.BadInput("to: not one of the directory's inbound numbers")
    payload = {
        "messageId": "sim-" + uuid.uuid4().hex,
        "phoneNumber": phone,
        "message": message,
        "receivedAt": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    if to:
        payload["recipient"] = to
    event = {"event": "sms:received", "payload": payload}
    body = json.dumps(event, ensure_ascii=False).encode()
    stamp = str(int(time.time()))
    secret = _context().settings.channels["android"].webhook_secret
    headers = {
        "Content-Type": "application/json",
        "X-Timestamp": stamp,
        "X-Signature": sign(secret, body, stamp),
    }
    answer = _client().post("/sms/android", data=body, headers=headers)
    reply = {"status": answer.status_code}
    if answer.status_code != 200:
        reply["detail"] = answer.get_data(as_text=True).strip()
    _context().store.simulator.record(
        phone, kind="sms", typed=message, to=to, status=answer.status_code
    )
    return jsonify(reply)


@blueprint.get(POLL)
def inboxes():
    """The console outbox grouped by recipient: responders' inboxes, and her phone's if asked."""
    raw = request.args.get("phone", "")
    own = inputs.phone(raw) if raw else None
    ref = inputs.ref(request.args.get("ref", ""), empty=True)
    context = _context()
    case = context.store.cases.by_ref(ref) if ref else None
    messages = context.store.messages.outbox(OUTBOX_LIMIT)
    found = group(
        messages,
        context.roster.directory,
        own,
        transcript=context.store.simulator.transcript,
        ref=ref,
        case_id=case.id if case else "",
    )
    return jsonify(found)


@blueprint.post("/reset")
def reset():
    """Empty the console outbox and forget the simulator's sessions and transcripts (audited)."""
    inputs.body()
    store = _context().store
    cleared = store.simulator.reset()
    store.audit.record("simulator_reset", **{k: str(v) for k, v in cleared.items()})
    return jsonify(cleared)


@blueprint.post("/fast-forward")
def fast_forward():
    """Run the next scheduled timer of a case (escalation or reminder) now (audited)."""
    ref = inputs.ref(inputs.body().get("ref"))
    store = _context().store
    case = store.cases.by_ref(ref)
    if case is None:
        raise inputs.NotFound(f"ref: no case {ref}")
    timer = _context().jobs.run_next_timer(case.id)
    if timer is None:
        raise inputs.NotFound(f"case {ref} has no scheduled timer")
    store.audit.record("simulator_fast_forward", case=case.id, job=timer.job_id)
    return jsonify(ref=ref, job=timer.job_id, due=timer.due.timestamp())


def _client() -> Client:
    # The app's own WSGI callable (middleware included), in this process: a request over HTTP
    # to ourselves could wait forever for a free gunicorn sync worker.
    return Client(current_app._get_current_object())
