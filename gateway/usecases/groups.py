"""Mutual aid groups: people join by consent (JOIN <code> by SMS, or a coordinator after she
agreed in person), leave at once (LEAVE, STOP), and receive only approved, neutral messages in
their group's hours. A broadcast is queued by a pump a few sends at a time behind whatever else
waits, so an alert never waits for a broadcast; each member's message has a deterministic id,
so nobody receives the same broadcast twice."""

from __future__ import annotations

import dataclasses
import re
import time
import uuid
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from gateway import groups, templates
from gateway.cases import LOCAL_UTC_OFFSET
from gateway.directory import Group, Responder
from gateway.groups import Draft, GroupError
from gateway.jobs import Jobs
from gateway.phone import PhoneError, normalise
from gateway.store import Store
from gateway.text import measure
from gateway.usecases.outbox import Outbox, message_id
from gateway.usecases.roster import Roster
from menus import languages

BATCH = 5  # sends a pump run queues before it queues itself again behind any alert
BROADCAST_ID = re.compile(r"^[0-9a-f]{12}$")
STALLED = 600  # seconds without a pump run, messages pending, before the clock restarts it
RESUMED = 10**9  # restarted pumps number their runs from here (never an id a chain used)


@dataclass(frozen=True)
class Preview:
    """What a broadcast would be: to whom, how many segments, what it costs, and when."""

    group: Group
    draft: Draft
    recipients: int
    languages: dict[str, int]  # language -> members reading it
    bodies: dict[str, str]  # language -> the text they receive
    segments: int  # in all
    cost: dict[str, float]  # route -> the price of every segment on it
    send_at: float  # now, or when the group's hours begin
    broadcast_id: str  # what the send of this preview will be called: sent once, however often


class Groups:
    """Membership, previews and broadcasts, and the pump that queues a broadcast's sends."""

    def __init__(
        self,
        store: Store,
        jobs: Jobs,
        roster: Roster,
        outbox: Outbox,
        prices: Mapping[str, float],
        clock: Callable[[], float],
    ):
        self.store = store
        self.jobs = jobs
        self.roster = roster
        self.outbox = outbox
        self.prices = dict(prices)
        self.clock = clock

    # ---- membership ----------------------------------------------------------------------------
    def join(self, phone: str, code: str, lang: str, how: str) -> str:
        """JOIN <code>: 'joined', 'already' a member, or 'unknown' code (nothing is sent then:
        a wrong code is not confirmed to a phone others may read)."""
        group = self.roster.directory.group_by_code(code)
        if group is None:
            self.store.audit.record("join_unknown_code", how=how.split(":")[0])
            return "unknown"
        lang = languages.or_default(lang)
        if not self.store.members.join(phone, group.id, lang, how):
            return "already"
        digest = self.store.members.digest_of(phone)  # the one her record and sets use
        self.store.audit.record("member_joined", group=group.id, how=how)
        # Confirmed once: the same member joining the same group again gets no second SMS.
        mid = message_id(group.id, groups.JOINED, digest)
        body = groups.confirmation(lang)
        fields = {"purpose": groups.JOINED, "case": "", "group": group.id, "member": digest}
        if self.store.messages.create(mid, phone, body, **fields):
            # By SMS she just wrote and is answered at once; added by a coordinator, the
            # confirmation waits for the group's hours like any message to its members.
            now = self.clock()
            at = groups.next_window(now, group.hours)
            if how.startswith("console:") and at > now:
                self.jobs.send_later(mid, at, f"confirmation of joining group {group.id}")
            else:
                self.outbox.enqueue(mid)
        return "joined"

    def leave(self, phone: str, code: str = "") -> list[str] | None:
        """LEAVE [<code>] or STOP: out of that group, or of every group, at once; the groups
        left, or None when the code names no group."""
        group = self.roster.directory.group_by_code(code) if code else None
        if code and group is None:
            return None
        left = self.store.members.leave(phone, group.id if group else "")
        for group_id in left:
            self.store.audit.record("member_left", group=group_id)
        return left

    def add(self, group_id: str, phone: str, lang: str, agreed: bool, by: str) -> str:
        """A coordinator adds a member who agreed in person (required; audited by name)."""
        if not agreed:
            raise GroupError("she must agree to join: confirm that she agreed in person")
        try:
            number = normalise(phone)
        except PhoneError as error:
            raise GroupError(f"the phone number cannot be used: {error}") from None
        group = self.roster.directory.groups.get(group_id)
        if group is None:
            raise GroupError(f"there is no group {group_id!r}")
        return self.join(number, group.code, lang, f"console:{by}")

    # ---- by SMS, from a group's sender ----------------------------------------------------------
    def meet(self, responder: Responder, code: str, day: str, at: str) -> str:
        """MEET <code> <day> <time> from one of the group's senders: the preview by SMS, and
        the draft kept for their MEET <code> YES."""
        group = self.roster.directory.group_by_code(code)
        if group is None or responder.id not in group.senders:
            self.store.audit.record(
                "command_ignored", reason="not a sender", responder=responder.id
            )
            return "ignored"
        draft = groups.draft("meeting", day, at)
        seen = self.preview(group.id, draft)
        self.store.members.keep_draft(responder.id, group.id, dataclasses.asdict(draft))
        when = time.strftime("%d.%m %H:%M", time.gmtime(seen.send_at + LOCAL_UTC_OFFSET))
        counts = {"count": str(seen.recipients), "segments": str(seen.segments)}
        key = f"{group.id}:{int(self.clock())}"  # one preview per MEET
        self._tell(responder, "meet_preview", key, code=code, when=when, **counts)
        self.store.audit.record("broadcast_previewed", group=group.id, responder=responder.id)
        return "previewed"

    def confirm(self, responder: Responder, code: str) -> str | None:
        """MEET <code> YES after a MEET: send it; None when no MEET of theirs waits."""
        group = self.roster.directory.group_by_code(code)
        found = self.store.members.take_draft(responder.id, group.id) if group else None
        if group is None or found is None:
            return None
        broadcast_id = self.send(group.id, Draft(**found), by=responder.id)
        count = self.store.members.broadcast(broadcast_id).get("recipients", "0")
        self._tell(responder, "meet_sent", broadcast_id, code=code, count=count)
        return "sent"

    def _tell(self, responder: Responder, name: str, key: str, **params: str) -> None:
        body = templates.render(name, responder.languages[0], **params)
        self.outbox.queue("", name, responder, body, key=f"{name}:{key}")

    # ---- broadcasts ----------------------------------------------------------------------------
    def preview(self, group_id: str, draft: Draft) -> Preview:
        """The broadcast as it would go: recipients, segments and cost, and when."""
        group = self.roster.directory.groups[group_id]
        members = self.store.members.of_group(group_id)
        readers = Counter(lang for _, _, lang in members)
        bodies = {lang: groups.render(draft, lang) for lang in readers}
        segments = sum(measure(bodies[lang]).segments * n for lang, n in readers.items())
        return Preview(
            group=group,
            draft=draft,
            recipients=len(members),
            languages=dict(readers),
            bodies=bodies,
            segments=segments,
            cost={route: segments * price for route, price in self.prices.items()},
            send_at=groups.next_window(self.clock(), group.hours),
            broadcast_id=uuid.uuid4().hex[:12],
        )

    def send(self, group_id: str, draft: Draft, by: str, broadcast_id: str = "") -> str:
        """Queue a broadcast to every member of the group (in their language, in the group's
        hours); its id. A `broadcast_id` sent already (a form posted twice) sends nothing."""
        group = self.roster.directory.groups[group_id]
        if not BROADCAST_ID.match(broadcast_id):
            broadcast_id = uuid.uuid4().hex[:12]
        now = self.clock()
        send_at = groups.next_window(now, group.hours)
        members = self.store.members.of_group(group_id)
        first = self.store.members.save_broadcast(
            broadcast_id,
            group=group_id,
            template=draft.template,
            day=draft.day,
            time=draft.time,
            by=by,
            created=f"{now:.3f}",
            send_at=f"{send_at:.3f}",
            recipients=str(len(members)),
        )
        if not first:
            return broadcast_id  # sent already: never twice
        made = []
        for digest, phone, lang in members:
            mid = message_id(broadcast_id, groups.BROADCAST, digest)
            fields = {"purpose": groups.BROADCAST, "case": "", "group": group_id, "member": digest}
            if self.store.messages.create(mid, phone, groups.render(draft, lang), **fields):
                made.append(mid)
        self.store.members.add_messages(broadcast_id, made)
        self.store.audit.record(
            "broadcast_queued",
            broadcast=broadcast_id,
            group=group_id,
            template=draft.template,
            by=by,
            recipients=str(len(made)),
        )
        at = send_at if send_at > now else None
        self.jobs.broadcast(broadcast_id, 1, self._about(broadcast_id, group), at=at)
        return broadcast_id

    def pump(self, broadcast_id: str, n: int) -> str:
        """Run n of a broadcast's pump: in the group's hours, queue its next BATCH sends and
        then itself again, behind whatever waits; outside them, wait for them."""
        record = self.store.members.broadcast(broadcast_id)
        group = self.roster.directory.groups.get(record.get("group", ""))
        if group is None:
            return "void: the group is no longer in the directory"
        about = self._about(broadcast_id, group)
        now = self.clock()
        at = groups.next_window(now, group.hours)
        if at > now:
            self.jobs.broadcast(broadcast_id, n + 1, about, at=at)
            return "waiting for the group's hours"
        batch = self.store.members.pending(broadcast_id, BATCH)
        for mid in batch:
            self.outbox.enqueue(mid)  # a send job once: a second run finds it queued or done
        left = self.store.members.done_pending(broadcast_id, batch, now)
        if left:
            self.jobs.broadcast(broadcast_id, n + 1, about)
        return f"queued {len(batch)}, {left} to go"

    def resume(self) -> int:
        """Start the pump again of every broadcast whose chain of pump jobs was lost (its
        retries spent while Redis was away) while messages were pending (the clock's job,
        every few minutes); how many. A second pump of one broadcast is harmless."""
        now, resumed = self.clock(), 0
        for broadcast_id in self.store.members.stalled(since=now - STALLED):
            record = self.store.members.broadcast(broadcast_id)
            group = self.roster.directory.groups.get(record.get("group", ""))
            if group is None or groups.next_window(now, group.hours) > now:
                continue  # outside its hours its pump waits, as it should
            run = RESUMED + int(now // STALLED)  # one restart per period, a chain of its own
            self.jobs.broadcast(broadcast_id, run, self._about(broadcast_id, group))
            self.store.audit.record("broadcast_resumed", broadcast=broadcast_id)
            resumed += 1
        return resumed

    def figures(self, broadcast_id: str) -> Counter:
        """Its messages by state (new, sent, delivered, failed, dropped...)."""
        return self.store.members.states(broadcast_id)

    @staticmethod
    def _about(broadcast_id: str, group: Group) -> str:
        return f"broadcast {broadcast_id} to group {group.id}"
