"""Opening a case for her: her hourly limit, the reference, and the case, her phone's profile
and the planning job in one transaction."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from gateway import cases
from gateway.jobs import Jobs
from gateway.store import Store
from gateway.store.cases import bound
from gateway.store.deliveries import replayed

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Limits:
    """Per-phone limits on inbound traffic."""

    cases_per_hour: int = 5
    sms_per_hour: int = 30


@dataclass(frozen=True)
class Reserved:
    """A case about to be opened: its id, the reference bound to it, and when it was asked
    for (a STOP from then on finds it stored already purged)."""

    case_id: str
    ref: str
    created: float


class CaseOpening:
    """Opens cases, within her hourly limit, in two round trips: `reserve` (her count and a
    reference), then `write` into the caller's transaction (the case, her profile, the planning
    job: the USSD submit adds its session's close to the same MULTI)."""

    def __init__(self, store: Store, jobs: Jobs, limits: Limits, clock: Callable[[], float]):
        self.store = store
        self.jobs = jobs
        self.limits = limits
        self.clock = clock

    def open(
        self,
        phone: str,
        answers: dict,
        channel: str,
        lang: str,
        inbound: tuple[str, str] | None = None,
    ) -> str | None:
        """Open a case for her and enqueue its alerts; the reference, or None over her limit.

        `inbound` (route, provider id) is the SMS that asked for it. The case's transaction
        marks that SMS handled for a replay from the spool: if anything after it fails (the
        master dying before it confirmed the case, say), the SMS is spooled, and its replay
        must not open a second case."""
        reserved = self.reserve(phone, channel)
        if reserved is None:
            return None
        with self.store.transaction() as pipe:
            case = self.write(reserved, phone, answers, channel, lang, pipe)
            if inbound is not None:
                route, provider_id = inbound
                self.store.deliveries.handled(replayed(route), provider_id, pipe)
            pipe.execute()
        self.opened(case)
        return reserved.ref

    def reserve(self, phone: str, channel: str) -> Reserved | None:
        """Count her request and bind a reference to a new case id, in one round trip (more
        only when the first reference drawn is taken); None when she is over her limit."""
        case_id, batches = uuid.uuid4().hex, cases.candidate_refs()
        first = next(batches)
        with self.store.redis.pipeline(transaction=False) as pipe:
            self.store.rates.count("case", phone, pipeline=pipe)
            self.store.cases.reserve(case_id, first, pipeline=pipe)
            count, found = pipe.execute()
        if count > self.limits.cases_per_hour:
            self._refuse(phone, channel, count)
            return None  # the reference bound above lapses after REF_HELD
        ref = bound(first, found) or self.store.cases.reserve_ref(case_id, batches)
        return Reserved(case_id, ref, self.clock())

    def write(
        self, reserved: Reserved, phone: str, answers: dict, channel: str, lang: str, pipeline
    ) -> cases.Case:
        """Queue the case, her profile and its planning job in the caller's MULTI. The audit
        entry of the opening is written by the planning job, off her hop."""
        case = cases.new_case(
            id=reserved.case_id,
            ref=reserved.ref,
            answers=answers,
            channel=channel,
            lang=lang,
            now=reserved.created,
        )
        self.store.cases.open(case, phone, pipeline)
        self.jobs.plan(case.id, case.ref, pipeline)
        return case

    def opened(self, case: cases.Case) -> None:
        """After its transaction ran, before she is told: the case on the replicas asked for
        (REDIS_WAIT_REPLICAS), and a line in the log."""
        self.store.replicated("case")
        log.info("case %s opened: %s, %s, via %s", case.ref, case.kind, case.urgency, case.channel)

    def _refuse(self, phone: str, channel: str, count: int) -> None:
        log.warning("case limit reached for a phone; no case opened")
        self.store.metrics.count_inbound_dropped(channel, "case_limit")
        if count == self.limits.cases_per_hour + 1:  # once per phone and hour
            self.store.audit.record(
                "case_refused",
                reason="case limit",
                channel=channel,
                sender=self.store.vault.digest(phone),
                limit=str(self.limits.cases_per_hour),
            )
