"""Operator pages: the RQ dashboard at /rq behind login, safe replay, and /metrics."""

from __future__ import annotations

import threading
import time
from urllib.parse import urlsplit

import redis
import rq_dashboard
from flask import Blueprint, Flask, Response, current_app, g, jsonify, redirect, request, url_for
from rq.exceptions import NoSuchJobError

from gateway import health, web
from gateway.auth import login
from gateway.jobs import ALERTS_QUEUE, queue_depths

blueprint = Blueprint("operator", __name__)

# Dashboard endpoints that change state. Requeue is taken over by our replay (which restores
# retries and re-checks the guard, the case and her STOP); delete and empty are switched off,
# and so is compact: it rewrites the queue outside the replay guard (and fails on an empty one).
REQUEUE_ONE = "rq_dashboard.requeue_job_view"
REQUEUE_ALL = "rq_dashboard.requeue_all"
SWITCHED_OFF = {"rq_dashboard.compact_queue"}
PROTECTED = {"rq_dashboard", "operator"}
METRICS = "operator.metrics"
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


def mount(app: Flask) -> None:
    """Mount the dashboard and /metrics, both behind operator login and a same-origin check."""
    settings = web.context_of(app).settings
    app.config["RQ_DASHBOARD_REDIS_URL"] = settings.redis_url
    app.config["RQ_DASHBOARD_DISABLE_DELETE"] = True  # a deleted send job is a lost alert
    app.config["RQ_DASHBOARD_POLL_INTERVAL"] = 5000
    # Not nested in another blueprint: its templates build URLs as 'rq_dashboard.static'.
    app.register_blueprint(rq_dashboard.blueprint, url_prefix="/rq")
    rq_dashboard.web.setup_rq_connection(app)
    app.register_blueprint(blueprint)
    app.before_request(_guard)
    app.before_request(_dashboard_lookup)
    app.register_error_handler(NoSuchJobError, _no_such_job)
    app.before_request(_start_timer)
    app.after_request(_record_latency)


def _guard() -> Response | None:
    if request.blueprint not in PROTECTED:
        return None
    context = web.context()
    settings = context.settings
    # Prometheus may scrape /metrics with METRICS_TOKEN as a bearer token.
    bearer = settings.metrics_token if request.endpoint == METRICS else ""
    refused = login(
        context.store, settings.first_admin, production=settings.production, bearer=bearer
    )
    if refused is not None:
        return refused
    changes = request.method not in ("GET", "HEAD")
    if request.endpoint == REQUEUE_ALL and not changes:
        return Response("use POST\n", 405, mimetype="text/plain")
    if changes and not _same_origin(settings.public_url):
        return Response("cross-site request refused\n", 403, mimetype="text/plain")
    if request.endpoint in (REQUEUE_ONE, REQUEUE_ALL):
        return _replay()
    if request.endpoint in SWITCHED_OFF:
        return jsonify(status="DISABLED")  # as the dashboard answers a disabled delete
    return None


# ---- the dashboard's dead ends: a short 404, not a 500 with a traceback ----------------------
JOBS_TAB = "rq_dashboard.jobs_overview"


def _dashboard_lookup() -> Response | None:
    """Refuse an instance number the dashboard does not have; open the Jobs tab on our queue.

    Runs after the login check and before the dashboard's own, which raises on both."""
    if request.blueprint != "rq_dashboard" or request.view_args is None:
        return None
    instance = request.view_args.get("instance_number")
    if instance is not None and instance >= len(current_app.config["RQ_DASHBOARD_REDIS_URL"]):
        return _not_found(f"no Redis instance {instance}: the dashboard has instance 0 only")
    if request.endpoint == JOBS_TAB and request.view_args.get("queue_name") is None:
        # Its default is a queue called "default", which nothing here uses.
        args = {**request.view_args, "queue_name": ALERTS_QUEUE}
        return redirect(url_for(JOBS_TAB, **args))
    return None


def _no_such_job(error: NoSuchJobError) -> Response:
    """A job page or its JSON for a job that expired (its result_ttl ran out) or never was."""
    if request.blueprint != "rq_dashboard":
        raise error  # not ours to answer: the usual 500, logged
    return _not_found("no such job: it expired or never existed")


def _not_found(reason: str) -> Response:
    if "/data/" in request.path:  # the dashboard's JSON
        response = jsonify(status="not found", reason=reason)
        response.status_code = 404
        return response
    return Response(reason + "\n", 404, mimetype="text/plain")


def _same_origin(public_url: str) -> bool:
    """True for requests a page of ours sent (Origin, else Referer, matches our own host)."""
    ours = {_origin(request.host_url), _origin(public_url)}
    origin = request.headers.get("Origin")
    if origin:
        return _origin(origin) in ours
    referer = request.headers.get("Referer")
    return bool(referer) and _origin(referer) in ours


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def _replay() -> Response:
    context = web.context()
    replay = context.replay
    who = request.authorization.username  # _guard let only a signed-in admin through
    if request.endpoint == REQUEUE_ONE:
        job_id = request.view_args["job_id"]
        outcome = replay.replay(job_id, who=who, why="requeue from the dashboard")
        return jsonify(status="OK", outcome=outcome)
    outcomes = [
        replay.replay(job_id, who=who, why="requeue all from the dashboard")
        for job_id in context.jobs.failed()
    ]
    return jsonify(status="OK", count=outcomes.count("requeued"), outcomes=outcomes)


def _start_timer() -> None:
    g.started = time.perf_counter()


class _Latencies:
    """Webhook answer times counted in this process and added to Redis about once a second,
    so a USSD hop does not pay a Redis round trip for its own metric."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.batch: dict[str, dict[str, float]] = {}
        self.flushed = time.monotonic()

    def observe(self, endpoint: str, seconds: float) -> dict | None:
        bucket = next((str(b) for b in LATENCY_BUCKETS if seconds <= b), "over")
        with self.lock:
            fields = self.batch.setdefault(endpoint, {})
            fields[bucket] = fields.get(bucket, 0) + 1
            fields["sum"] = fields.get("sum", 0.0) + seconds
            if time.monotonic() - self.flushed < FLUSH_EVERY:
                return None
            return self.drain_locked()

    def drain(self) -> dict:
        with self.lock:
            return self.drain_locked()

    def drain_locked(self) -> dict:
        batch, self.batch, self.flushed = self.batch, {}, time.monotonic()
        return batch


FLUSH_EVERY = 1.0
_latencies = _Latencies()


def _record_latency(response: Response) -> Response:
    started = g.pop("started", None)
    if started is not None and request.endpoint and request.endpoint.startswith("webhooks."):
        endpoint = request.endpoint.split(".", 1)[1]
        batch = _latencies.observe(endpoint, time.perf_counter() - started)
        if batch:
            try:
                web.context().store.metrics.add_latencies(batch)
            except redis.RedisError:
                # A metric is never worth failing an answer (a USSD one above all): not when
                # Redis is away, nor when it is at maxmemory and answers OOM to writes.
                pass
    return response


@blueprint.get("/metrics")
def metrics() -> Response:
    """Prometheus text format: queues, cases, alerts waiting, sends, webhook latency."""
    store = web.context().store
    pending = _latencies.drain()  # this process's last second (others flush within one)
    if pending:
        store.metrics.add_latencies(pending)
    lines = [
        "# HELP hamdam_queue_jobs Jobs per RQ queue and registry.",
        "# TYPE hamdam_queue_jobs gauge",
    ]
    for queue, counts in queue_depths(store.redis).items():
        for registry, count in counts.items():
            lines.append(f'hamdam_queue_jobs{{queue="{queue}",registry="{registry}"}} {count}')
    lines += ["# HELP hamdam_cases Cases by state.", "# TYPE hamdam_cases gauge"]
    for state, count in store.metrics.case_counts().items():
        lines.append(f'hamdam_cases{{state="{state}"}} {count}')
    lines += [
        "# HELP hamdam_alerts_awaiting_acceptance Responders alerted for cases still open.",
        "# TYPE hamdam_alerts_awaiting_acceptance gauge",
        f"hamdam_alerts_awaiting_acceptance {store.metrics.alerts_awaiting()}",
        "# HELP hamdam_sends_total Messages by route and state reached.",
        "# TYPE hamdam_sends_total counter",
    ]
    for (route, state), count in sorted(store.metrics.send_counts().items()):
        lines.append(f'hamdam_sends_total{{route="{route}",state="{state}"}} {count}')
    lines += [
        "# HELP hamdam_inbound_dropped_total Inbound SMS dropped unhandled, by channel and reason.",
        "# TYPE hamdam_inbound_dropped_total counter",
    ]
    for (channel, reason), count in sorted(store.metrics.inbound_dropped_counts().items()):
        lines.append(
            f'hamdam_inbound_dropped_total{{channel="{channel}",reason="{reason}"}} {count}'
        )
    now = time.time()
    checks = health.results(store, health.Limits.of(web.context().settings), now, health.CHECKS)
    lines += [
        "# HELP hamdam_check_failing 1 when a /healthz check fails (see its reasons there).",
        "# TYPE hamdam_check_failing gauge",
    ]
    lines += [f'hamdam_check_failing{{check="{n}"}} {int(bool(r))}' for n, r in checks.items()]
    lines += [
        "# HELP hamdam_phone_unheard_seconds Seconds since a route's phone last sent a webhook.",
        "# TYPE hamdam_phone_unheard_seconds gauge",
    ]
    for (route, phone), at in sorted(store.watching.last_heard().items()):
        lines.append(
            f'hamdam_phone_unheard_seconds{{route="{route}",phone="{phone}"}} {now - at:.0f}'
        )
    lines += [
        "# HELP hamdam_sends_last_hour Messages by route and state reached, last hour.",
        "# TYPE hamdam_sends_last_hour gauge",
    ]
    for route, states in sorted(store.metrics.recent(now).items()):
        for state, count in sorted(states.items()):
            lines.append(f'hamdam_sends_last_hour{{route="{route}",state="{state}"}} {count}')
    lines += [
        "# HELP hamdam_unreplicated_total Writes the replicas asked for did not confirm in time.",
        "# TYPE hamdam_unreplicated_total counter",
    ]
    for what, count in sorted(store.metrics.unreplicated_counts().items()):
        lines.append(f'hamdam_unreplicated_total{{write="{what}"}} {count}')
    lines += [
        "# HELP hamdam_messages_unsent_last_hour Messages dropped or held for a digest, last hour.",
        "# TYPE hamdam_messages_unsent_last_hour gauge",
        f"hamdam_messages_unsent_last_hour {store.messages.unsent_last_hour()}",
        "# HELP hamdam_webhook_seconds Time to answer a webhook.",
        "# TYPE hamdam_webhook_seconds histogram",
    ]
    for endpoint, histogram in sorted(store.metrics.latency_histograms(LATENCY_BUCKETS).items()):
        for bound, count in histogram["buckets"]:
            lines.append(
                f'hamdam_webhook_seconds_bucket{{endpoint="{endpoint}",le="{bound}"}} {count}'
            )
        lines.append(f'hamdam_webhook_seconds_sum{{endpoint="{endpoint}"}} {histogram["sum"]}')
        lines.append(f'hamdam_webhook_seconds_count{{endpoint="{endpoint}"}} {histogram["count"]}')
    return Response("\n".join(lines) + "\n", mimetype="text/plain; version=0.0.4")
