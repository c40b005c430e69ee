"""Wiring shared by the two composition roots (web app and workers); imports no Flask."""

from __future__ import annotations

import time
from dataclasses import dataclass

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from config.settings import Settings
from gateway import directory, health, redisclient
from gateway.channels import registry
from gateway.channels.base import Common
from gateway.jobs import Jobs, RetryPolicy
from gateway.privacy import Vault
from gateway.spool import Spool
from gateway.store import Store
from gateway.usecases.alerting import Alerting
from gateway.usecases.answers import Answers
from gateway.usecases.casefile import CaseFile
from gateway.usecases.digests import Digests
from gateway.usecases.followup import FollowUp
from gateway.usecases.groups import Groups
from gateway.usecases.opening import CaseOpening, Limits
from gateway.usecases.outbox import Outbox
from gateway.usecases.receipts import Receipts
from gateway.usecases.reconcile import Reconciliation
from gateway.usecases.referrals import Referrals
from gateway.usecases.replay import Replay
from gateway.usecases.roster import Roster
from gateway.usecases.sending import Sending
from gateway.usecases.sms import SmsIntake
from gateway.usecases.spooled import SpoolReplay
from gateway.usecases.timing import Timing
from gateway.usecases.ussd import Ussd
from gateway.usecases.watch import Watch
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
    return redisclient.connect(
        settings.redis_url,
        socket_timeout=bounds.socket,
        socket_connect_timeout=bounds.connect,
        health_check_interval=30,
        **options,
    )


@dataclass(frozen=True)
class Context:
    """What the web app, the workers and the commands share, built once per process: the
    store, the jobs, the directory in use and every use-case (gateway/usecases)."""

    settings: Settings
    store: Store
    jobs: Jobs
    roster: Roster
    spool: Spool
    # intake
    ussd: Ussd
    sms: SmsIntake
    opening: CaseOpening
    spooled: SpoolReplay
    # alerting
    alerting: Alerting
    answers: Answers
    sending: Sending
    digests: Digests
    replay: Replay
    receipts: Receipts
    # operators
    casefile: CaseFile
    followup: FollowUp
    referrals: Referrals
    groups: Groups
    watch: Watch
    reconciliation: Reconciliation


def build(
    settings: Settings, client: redis.Redis | None = None, bounds: RedisBounds = WORKER
) -> Context:
    """Everything wired from settings: store, jobs, directory, menus, routes, use-cases (load
    errors name file and line)."""
    store = Store(
        client or connect(settings, bounds),
        Vault(settings.data_keys),
        replicas=settings.redis_wait_replicas,
    )
    jobs = Jobs(store.redis, RetryPolicy(delays=settings.send_retry_delays))
    roster = Roster(
        store,
        directory.load(settings.directory_file),
        reload=lambda: directory.load(settings.directory_file),
    )
    spool = Spool(settings.var_dir / "spool", store.vault)
    common = Common(settings.public_url, settings.sms_validity, settings.send_timeout, store)
    senders = registry.build(settings.sms_routes, settings.channels, common)
    timing = Timing(
        escalate_after=settings.escalate_after,
        escalate_after_urgent=settings.escalate_after_urgent,
        remind_every=settings.remind_every,
        send_rate=settings.send_rate,
        out_per_hour=settings.alerts_per_hour,
        receipt_timeout=settings.receipt_timeout,
        follow_up_answer=settings.follow_up_answer_hours * 3600,
        quiet_after=settings.quiet_days * 86400,
        referral_answer=settings.referral_hours * 3600,
        retention=settings.retention_days * 86400,
    )
    clock = time.time
    outbox = Outbox(store, jobs, roster, len(senders), timing, clock)
    replay = Replay(store, jobs, outbox)
    alerting = Alerting(store, jobs, roster, outbox, replay, timing, clock)
    answers = Answers(store, roster, outbox, alerting, timing)
    receipts = Receipts(store)
    sending = Sending(
        store, jobs, senders, outbox, alerting, receipts, timing, clock, sleep=time.sleep
    )
    limits = Limits()
    opening = CaseOpening(store, jobs, limits, clock)
    ussd = Ussd(
        store,
        roster,
        engine.load(),
        opening,
        session_ttl=settings.session_ttl,
        clock=clock,
        spool=spool,
    )
    followup = FollowUp(store, jobs, roster, outbox, timing, clock)
    referrals = Referrals(store, jobs, roster, outbox, answers, timing, clock)
    prices = {route: settings.segment_prices.get(route, 0.0) for route in settings.sms_routes}
    groups = Groups(store, jobs, roster, outbox, prices, clock)
    sms = SmsIntake(
        store,
        jobs,
        roster,
        opening,
        answers,
        followup,
        referrals,
        groups,
        limits=limits,
        clock=clock,
        spool=spool,
    )
    return Context(
        settings=settings,
        store=store,
        jobs=jobs,
        roster=roster,
        spool=spool,
        ussd=ussd,
        sms=sms,
        opening=opening,
        spooled=SpoolReplay(store, roster, sms, opening),
        alerting=alerting,
        answers=answers,
        sending=sending,
        digests=Digests(store, jobs, roster, outbox, timing, clock),
        replay=replay,
        receipts=receipts,
        casefile=CaseFile(store, jobs, roster, replay, answers, followup, referrals, timing, clock),
        followup=followup,
        referrals=referrals,
        groups=groups,
        reconciliation=Reconciliation(store, senders, roster, sms, clock),
        watch=Watch(
            store,
            outbox,
            sending,
            roster,
            settings.sms_routes,
            settings.selftest_numbers,
            health.Limits.of(settings),
            clock,
            raise_after=settings.watch_raise_after,
            recover_after=settings.watch_recover_after,
        ),
    )
