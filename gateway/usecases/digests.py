"""Digests instead of silence: one SMS listing the alerts held for a saturated responder."""

from __future__ import annotations

from collections.abc import Callable

from gateway import templates
from gateway.cases import CaseState
from gateway.jobs import Jobs
from gateway.message import MessageState
from gateway.store import Store
from gateway.usecases.outbox import Outbox, message_id
from gateway.usecases.roster import Roster
from gateway.usecases.timing import Timing


class Digests:
    """Sends a responder's held alerts as digests, at most one per `timing.digest_every`."""

    def __init__(
        self,
        store: Store,
        jobs: Jobs,
        roster: Roster,
        outbox: Outbox,
        timing: Timing,
        clock: Callable[[], float],
    ):
        self.store = store
        self.jobs = jobs
        self.roster = roster
        self.outbox = outbox
        self.timing = timing
        self.clock = clock

    def digest(self, responder_id: str, window: int) -> str:
        """One SMS listing the alerts held for a responder (as many as fit two segments)."""
        responder = self.roster.directory.responders.get(responder_id)
        held = self.store.messages.held(responder_id)
        mid = message_id(f"digest-{window}", "digest", responder_id)
        if responder is None:
            for other in held:
                self.outbox.drop(
                    other, self.store.messages.get(other) or {}, "responder removed", True
                )
            self.store.messages.release_held(responder_id, held)
            return "nobody"
        done, refs = [], []
        lang = responder.languages[0]
        if self.store.messages.get(mid) is None:
            for other in held:
                message = self.store.messages.get(other)
                if message is None or message["state"] != MessageState.HELD:
                    if message is None or message.get("digest") != mid:
                        done.append(other)
                        continue
                case = self.store.cases.get(message.get("case", ""))
                if case is None or case.state != CaseState.OPEN:
                    self.outbox.drop(
                        other, message, "case no longer waiting for a responder", False
                    )
                    done.append(other)
                    continue
                if templates.over_budget(templates.digest(lang, [*refs, case.ref])):
                    break
                if message.get("digest") != mid and not self.store.messages.advance(
                    other, MessageState.COALESCED, digest=mid
                ):
                    continue
                refs.append(case.ref)
                done.append(other)
            if refs:
                self.store.messages.create(
                    mid,
                    responder.phone,
                    templates.digest(lang, refs),
                    purpose="digest",
                    case="",
                    recipient=responder.id,
                )
                self.store.audit.record(
                    "digest", message=mid, responder=responder.id, alerts=len(refs)
                )
        self.store.messages.release_held(responder_id, done)
        if self.store.messages.get(mid) is not None:
            self.outbox.enqueue(mid)
        if self.store.messages.held(responder_id):
            now = self.clock()
            nxt = int(now // self.timing.digest_every) + 1
            self.jobs.digest(responder_id, nxt, nxt * self.timing.digest_every)
        return f"{len(refs)} in a digest"
