"""The gateway watches itself: the health checks every minute, and a person told by SMS.

It runs in the clock process (workers/clock.py), not in a worker, and sends its notices itself:
dead workers are one of the problems it must tell. A problem is one failing check for one route,
queue or Android phone (gateway/health.py, WATCHED). One that lasts WATCH_RAISE_AFTER (two
minutes: a restart is not one) is told once to the duty officer of every organisation, by the
first route no problem names; once it has passed for WATCH_RECOVER_AFTER (ten minutes), they are
told it recovered. A problem that comes back in between is still the one they were told of, a
problem that keeps coming back counts from when it first came, and one told TOLD_PER_DAY times
in a day is not told again that day: a flapping check cannot send an SMS a minute. A route's
daily self-test goes to a phone of the organisation's own (SELFTEST_NUMBERS), on that route
alone; /healthz fails it when it was not reported delivered within the hour.
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
TOLD_PER_DAY = 3  # a problem told more often in a day (it keeps coming and going) is kept quiet


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
                raised.append(name)
        for name, state in known.items():
            if name in seen:
                continue
            # Kept until it has passed for a while, told or not: a problem that keeps coming
            # back counts from when it first came.
            state["gone"] = state["gone"] or now
            if now - state["gone"] >= self.recover_after:
                cleared.append(name)
        # Where things stand before anyone is told: a notice cut short by a failure is sent
        # again next minute under the same message ids, so no one gets it twice.
        self.store.watching.keep(known)
        failing = {str(r["route"]) for r in reasons if r.get("route")}
        told = self.store.watching.count_told
        loud = [n for n in raised if told(n, known[n]["since"], now) <= TOLD_PER_DAY]
        self._tell("problem", {n: known[n]["since"] for n in loud}, failing)
        self._tell(
            "recovered", {n: known[n]["since"] for n in cleared if known[n].get("sms")}, failing
        )
        for name in raised:
            known[name].update(told=True, sms=name in loud)
        for name in cleared:
            del known[name]
        self.store.watching.keep(known)
        quiet = len(raised) - len(loud)
        return (
            f"{len(seen)} failing; told {len(loud)} new ({quiet} not: told {TOLD_PER_DAY} times"
            f" today), {len(cleared)} recovered"
        )

    def _tell(self, kind: str, problems: dict[str, float], failing: set[str]) -> None:
        """One SMS to each organisation's duty officer naming `problems` (name -> since)."""
        if not problems:
            return
        names = list(problems)
        working = [i for i, route in enumerate(self.routes) if route not in failing]
        first = working[0] if working else 0
        # The same problems since the same times are the same message, whenever it is tried.
        key = f"watch:{kind}:" + "|".join(f"{n}@{problems[n]:.0f}" for n in sorted(problems))
        directory = self.roster.directory
        for organisation in directory.organisations.values():
            duty = directory.responders.get(organisation.duty_officer)
            if duty is None:
                continue
            body = templates.notice(kind, duty.languages[0], what=listed(names))
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
