"""The gateway watches itself: the health checks every minute, and a person told by SMS.

It runs in the clock process (workers/clock.py), not in a worker, and sends its notices itself:
dead workers are one of the problems it must tell. A problem is one failing check for one route,
queue or Android phone (gateway/health.py, WATCHED). One that lasts WATCH_RAISE_AFTER (two
minutes: a restart is not one) is told once to the duty officer of every organisation, by the
first route no problem names; once it has passed for WATCH_RECOVER_AFTER (ten minutes), they are
told it recovered. A problem that comes back in between is still the
one they were told of: a flapping check sends two SMS, not one a minute. A route's daily
self-test goes to a phone of the organisation's own (SELFTEST_NUMBERS), on that route alone;
/healthz fails it when it was not reported delivered within the hour.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence

from gateway import health, templates
from gateway.store import Store
from gateway.usecases.outbox import Outbox, message_id
from gateway.usecases.roster import Roster
from gateway.usecases.sending import GiveUp, RetryLater, Sending

log = logging.getLogger(__name__)

NAMED = 2  # problems named in one SMS; the others are counted (+3)


def problem(reason: health.Reason) -> str:
    """A failing check's name for people: the check and what it is about."""
    about = reason.get("phone") or reason.get("route") or reason.get("queue") or ""
    return f"{reason['check']} {str(about)[:16]}".strip()


def listed(problems: list[str]) -> str:
    shown = ", ".join(problems[:NAMED])
    return shown + (f" +{len(problems) - NAMED}" if len(problems) > NAMED else "")


class Watch:
    def __init__(
        self,
        store: Store,
        outbox: Outbox,
        sending: Sending,
        roster: Roster,
        routes: Sequence[str],
        numbers: dict[str, str],
        limits: health.Limits,
        clock: Callable[[], float],
        raise_after: int = 120,
        recover_after: int = 600,
    ):
        self.store = store
        self.outbox = outbox
        self.sending = sending
        self.roster = roster
        self.routes = list(routes)
        self.numbers = numbers
        self.limits = limits
        self.clock = clock
        self.raise_after = raise_after
        self.recover_after = recover_after

    def run(self) -> str:
        """One look at the checks; tell the duty officers what started failing or recovered."""
        now = self.clock()
        if not self.store.watching.turn(now):
            return "watched this minute already"
        reasons = health.run(self.store, self.limits, now, health.WATCHED)
        # A phone or a route first: what a duty officer can see to (the rest is for an admin).
        reasons.sort(key=lambda r: not r.get("route"))
        seen = {problem(r): r for r in reasons}
        known = self.store.watching.problems()
        raised, cleared = [], []
        for name in seen:
            state = known.setdefault(name, {"since": now, "gone": 0, "told": False})
            state["gone"] = 0
            if not state["told"] and now - state["since"] >= self.raise_after:
                state["told"] = True
                raised.append(name)
        for name, state in list(known.items()):
            if name in seen:
                continue
            if not state["told"]:  # passed before anyone needed to know
                del known[name]
                continue
            state["gone"] = state["gone"] or now
            if now - state["gone"] >= self.recover_after:
                del known[name]
                cleared.append(name)
        self.store.watching.keep(known)
        failing = {str(r["route"]) for r in reasons if r.get("route")}
        for kind, names in (("problem", raised), ("recovered", cleared)):
            if names:
                self._tell(kind, names, failing, now)
        return f"{len(seen)} failing; told {len(raised)} new, {len(cleared)} recovered"

    def _tell(self, kind: str, names: list[str], failing: set[str], now: float) -> None:
        working = [i for i, route in enumerate(self.routes) if route not in failing]
        first = working[0] if working else 0
        directory = self.roster.directory
        for organisation in directory.organisations.values():
            duty = directory.responders.get(organisation.duty_officer)
            if duty is None:
                continue
            body = templates.notice(kind, duty.languages[0], what=listed(names))
            key = f"watch:{kind}:{int(now)}"
            mid = self.outbox.queue("", kind, duty, body, key, first_route=first, enqueue=False)
            self._send(mid)
        self.store.audit.record("watch_" + kind, problems=", ".join(names))
        log.warning("watch: %s told to the duty officers: %s", kind, ", ".join(names))

    def _send(self, mid: str) -> None:
        """Send a notice now, from the clock: the workers may be what failed. A send that must
        be retried goes to the queue like any other."""
        try:
            self.sending.deliver(mid)
        except RetryLater:
            self.outbox.enqueue(mid)
        except GiveUp:
            log.error("watch: no route took the notice %s", mid)

    def self_test(self) -> str:
        """Today's test SMS on each route that has a number of the organisation's own."""
        now = self.clock()
        day = time.strftime("%Y-%m-%d", time.gmtime(now))
        directory = self.roster.directory
        duty = next(iter(directory.organisations.values()), None)
        reader = directory.responders.get(duty.duty_officer) if duty else None
        lang = reader.languages[0] if reader else "en"
        for route, number in self.numbers.items():
            mid = message_id("", f"selftest:{route}:{day}", "selftest")
            body = templates.notice("selftest", lang, route=route, date=day)
            index = str(self.routes.index(route))
            if self.store.messages.create(
                mid, number, body, purpose="selftest", only=route, route_index=index
            ):
                self.outbox.enqueue(mid)
                self.store.watching.selftest_sent(route, mid, now)
        return f"self-tests queued: {', '.join(self.numbers) or 'none (SELFTEST_NUMBERS unset)'}"
