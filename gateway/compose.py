"""Wiring shared by the two composition roots (web app and workers); imports no Flask."""

from __future__ import annotations

from dataclasses import dataclass

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from config.settings import Settings
from gateway import directory
from gateway.channels import registry
from gateway.dispatch import Dispatcher, Timing
from gateway.jobs import Jobs, RetryPolicy
from gateway.privacy import Vault
from gateway.service import Service
from gateway.spool import Spool
from gateway.store import Store
from menus import engine


@dataclass(frozen=True)
class RedisBounds:
    """How long one Redis call may take before it fails, and whether a timeout is retried."""

    socket: float
    connect: float
    retry_timeouts: bool


# The web answers aggregators that give up after a few seconds: a frozen Redis must fail a call
# fast (she gets the neutral END, /healthz a 503, an inbound SMS goes to the spool). A command
# that hits a connection dropped by a restarted Redis is retried once on a fresh one; a timeout
# is not retried (the server may be frozen). Workers have no one waiting on the line.
WEB = RedisBounds(socket=0.4, connect=0.4, retry_timeouts=False)
WORKER = RedisBounds(socket=5, connect=2, retry_timeouts=True)


def connect(settings: Settings, bounds: RedisBounds = WORKER) -> redis.Redis:
    """A Redis client with timeouts, so a dead or frozen server fails a call instead of hanging
    it; `bounds` is WEB for the web process, WORKER (the default) for workers and commands."""
    options: dict = {}
    if not bounds.retry_timeouts:
        options["retry"] = Retry(NoBackoff(), 1, supported_errors=(redis.ConnectionError,))
    return redis.Redis.from_url(
        settings.redis_url,
        socket_timeout=bounds.socket,
        socket_connect_timeout=bounds.connect,
        health_check_interval=30,
        **options,
    )


@dataclass(frozen=True)
class Context:
    """What the web app, the workers and the commands share, built once per process."""

    settings: Settings
    store: Store
    jobs: Jobs
    service: Service  # intake: USSD hops, inbound SMS, the spool's replay
    dispatcher: Dispatcher  # alerting: plan, send, answers, replay, delivery status


def build(
    settings: Settings, client: redis.Redis | None = None, bounds: RedisBounds = WORKER
) -> Context:
    """Everything wired from settings: store, jobs, directory, menus, routes, use-cases (load
    errors name file and line)."""
    store = Store(client or connect(settings, bounds), Vault(settings.data_keys))
    found = directory.load(settings.directory_file)
    spool = Spool(settings.var_dir / "spool", store.vault)
    dispatcher = build_dispatcher(settings, store, found)
    service = Service(
        store,
        found,
        engine.load(),
        dispatcher,
        session_ttl=settings.session_ttl,
        reload_directory=lambda: directory.load(settings.directory_file),
        spool=spool,
    )
    return Context(settings, store, dispatcher.jobs, service, dispatcher)


def build_service(
    settings: Settings, client: redis.Redis | None = None, bounds: RedisBounds = WORKER
) -> Service:
    """The intake service of a freshly built context."""
    return build(settings, client, bounds).service


def build_dispatcher(settings: Settings, store: Store, found: directory.Directory) -> Dispatcher:
    """The dispatcher with the configured routes, in order."""
    options = {**vars(settings), "store": store, "validity": settings.sms_validity}
    timing = Timing(
        escalate_after=settings.escalate_after,
        escalate_after_urgent=settings.escalate_after_urgent,
        remind_every=settings.remind_every,
        send_rate=settings.send_rate,
        out_per_hour=settings.alerts_per_hour,
        receipt_timeout=settings.receipt_timeout,
        retention=settings.retention_days * 86400,
    )
    jobs = Jobs(store.redis, RetryPolicy(delays=settings.send_retry_delays))
    senders = registry.build(settings.sms_routes, options)
    return Dispatcher(store, jobs, found, senders, timing)
