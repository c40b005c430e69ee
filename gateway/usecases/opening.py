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

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Limits:
    """Per-phone limits on inbound traffic."""

    cases_per_hour: int = 5
    sms_per_hour: int = 30


class CaseOpening:
    """Opens cases, within her hourly limit."""

    def __init__(self, store: Store, jobs: Jobs, limits: Limits, clock: Callable[[], float]):
        self.store = store
        self.jobs = jobs
        self.limits = limits
        self.clock = clock

    def open(self, phone: str, answers: dict, channel: str, lang: str) -> str | None:
        """Open a case for her and enqueue its alerts; the reference, or None over her limit."""
        count = self.store.rates.count("case", phone)
        if count > self.limits.cases_per_hour:
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
            return None
        case_id = uuid.uuid4().hex
        ref = self.store.cases.reserve_ref(case_id)
        case = cases.new_case(
            id=case_id, ref=ref, answers=answers, channel=channel, lang=lang, now=self.clock()
        )
        self.store.cases.open(
            case, phone, then=lambda pipe: self.jobs.plan(case.id, case.ref, pipe)
        )
        self.store.audit.record(
            "case_opened", case=case.id, kind=case.kind, district=case.district, channel=channel
        )
        log.info("case %s opened: %s, %s, via %s", case.ref, case.kind, case.urgency, channel)
        return ref
