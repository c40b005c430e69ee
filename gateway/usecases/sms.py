"""An inbound SMS: her HELP or code word, her STOP, her words as a note to her case, a
responder's OK/NO/DONE; deduplicated by provider id, limited per phone, spooled without Redis."""

from __future__ import annotations

import logging
from collections.abc import Callable

from gateway import keywords
from gateway.cases import CaseState
from gateway.channels.base import Inbound
from gateway.jobs import Jobs
from gateway.phone import PhoneError, normalise
from gateway.spool import Spool
from gateway.store import REDIS_DOWN, Store
from gateway.usecases.answers import Answers
from gateway.usecases.followup import FollowUp
from gateway.usecases.groups import Groups
from gateway.usecases.opening import CaseOpening, Limits
from gateway.usecases.referrals import Referrals
from gateway.usecases.roster import Roster
from menus import languages

log = logging.getLogger(__name__)

NOTE_WINDOW = 24 * 3600  # an SMS within a day of her case is added to it as a note
NOTE_MAX = 1000
# Commands only a group's sender or a case's holder gives: from anyone else, her own words.
_NOT_ANSWERS = frozenset({"meet", "meet_yes", "meet_unclear", "refer", "refer_unclear"})


class SmsIntake:
    """Turns inbound SMS into cases, suppressions, notes and responders' answers."""

    def __init__(
        self,
        store: Store,
        jobs: Jobs,
        roster: Roster,
        opening: CaseOpening,
        answers: Answers,
        followup: FollowUp,
        referrals: Referrals,
        groups: Groups,
        *,
        limits: Limits,
        clock: Callable[[], float],
        unknown_reply: str = "",
        spool: Spool | None = None,
    ):
        self.store = store
        self.jobs = jobs
        self.roster = roster
        self.opening = opening
        self.answers = answers
        self.followup = followup
        self.referrals = referrals
        self.groups = groups
        self.limits = limits
        self.clock = clock
        self.unknown_reply = unknown_reply
        self.spool = spool

    def take(self, inbound: Inbound) -> str:
        """handle(), or, when Redis cannot be reached, keep the SMS in the local spool (its
        replay goes through the same path and dedupe) and answer nothing: the provider gets its
        200 and does not retry for nothing. Raises SpoolError when the spool cannot keep it."""
        try:
            return self.handle(inbound)
        except REDIS_DOWN as error:
            if self.spool is None:
                raise
            record = {
                "kind": "sms",
                "channel": inbound.channel,
                "sender": inbound.sender,
                "text": inbound.text,
                "id": inbound.external_id,
                "to": inbound.to,
                "at": self.clock(),
            }
            self.spool.keep(record)
            log.warning(
                "%s: Redis unreachable (%s); inbound SMS kept in the spool",
                inbound.channel,
                type(error).__name__,
            )
            return ""

    def handle(self, inbound: Inbound) -> str:
        """The reply text for an inbound SMS ('' for none); repeats of a provider id do nothing."""
        self.roster.refresh()
        if not self.store.deliveries.first(inbound.channel, inbound.external_id):
            log.info("%s: duplicate delivery ignored", inbound.channel)
            return ""
        try:
            return self.process(inbound)
        except Exception:
            # Let the provider's retry (or fallback URL, or the spool) deliver it again.
            self.store.deliveries.forget(inbound.channel, inbound.external_id)
            raise

    def process(self, inbound: Inbound) -> str:
        """What handle() does once the SMS is known to be new."""
        try:
            phone = normalise(inbound.sender)
        except PhoneError as error:
            log.warning("%s: unusable sender (%s)", inbound.channel, error)
            return ""
        command = keywords.parse(inbound.text, self.roster.code_words)
        if not self._exempt_from_limit(phone, command):
            count = self.store.rates.count("sms", phone)
            if count > self.limits.sms_per_hour:
                self._drop_over_limit(
                    phone, command, inbound, first=count == self.limits.sms_per_hour + 1
                )
                return ""
        handler = self._handlers.get(command.name, SmsIntake._text)
        return handler(self, phone, command, inbound)

    def _exempt_from_limit(self, phone: str, command: keywords.Command) -> bool:
        """Her HELP and STOP, and a registered responder's command for a case they were alerted
        for (the first time it comes), are never dropped by the inbound limit. Anything else
        counts against it: so a sender spoofing a responder's number cannot mute them, yet can
        neither guess references nor have the same answer repeated (and answered) unbounded."""
        # JOIN and LEAVE too: idempotent, and no rate key under her number's hash may tie her
        # membership to anything else of that number.
        if command.name in ("help", "code", "stop", "delete", "join", "leave"):
            return True  # a case has its own limit; a STOP is idempotent and must never be lost
        if command.name not in ("accept", "decline", "done"):
            return False
        responder = self.roster.directory.by_phone(phone)
        if responder is None:
            return False
        case = self.store.cases.by_ref(command.ref)
        if case is None or responder.id not in self.store.cases.alerted(case.id):
            return False
        return self.store.deliveries.first_command(responder.id, command.name, case.id)

    def _drop_over_limit(
        self, phone: str, command: keywords.Command, inbound: Inbound, first: bool
    ) -> None:
        # Never silent: counted always, audited once per phone and window (a flood must not
        # flood the audit trail too), with the keyed hash of the number, never the number.
        log.warning("%s: inbound limit reached for a phone; message dropped", inbound.channel)
        self.store.metrics.count_inbound_dropped(inbound.channel, "rate_limit")
        if first:
            self.store.audit.record(
                "inbound_dropped",
                reason="rate limit",
                channel=inbound.channel,
                command=command.name,
                sender=self.store.vault.digest(phone),
                limit=str(self.limits.sms_per_hour),
                responder="yes" if self.roster.directory.by_phone(phone) else "no",
            )

    def _responder(self, phone: str, command: keywords.Command, inbound: Inbound) -> str:
        responder = self.roster.directory.by_phone(phone)
        if responder is None:
            # A plain "Ha" or "Не, ..." from her, or words that only look like a group's or a
            # referral's command ("Передать 5000 сомони"): her own words.
            if not command.ref or command.name in _NOT_ANSWERS:
                return self._text(phone, command, inbound)
            self.store.audit.record(
                "command_ignored", reason="unregistered sender", command=command.name
            )
            return ""
        ref = command.ref
        if command.name == "accept" and not ref:
            # A plain OK is unambiguous only while exactly one alert to this responder is open.
            waiting = self.store.cases.open_alerts(responder.id)
            found = self.store.cases.get(waiting[0]) if len(waiting) == 1 else None
            ref = found.ref if found else ""
        said = f"{inbound.channel}:{inbound.external_id}"  # names the one answer to this SMS
        if command.name == "aid_unclear" or (command.name == "aid" and not ref):
            self.answers.explain(responder, said, "aid_codes", ref)
            return ""
        if command.name == "refer_unclear":
            self.answers.explain(responder, said, "refer_how", ref)
            return ""
        if command.name == "meet_unclear":
            self.answers.explain(responder, said, "meet_how")
            return ""
        act = {
            # An OK or NO to a referral its organisation was asked to take; else as ever.
            "accept": lambda who, ref: (
                self.referrals.answer(who, ref, yes=True) or self.answers.accept(who, ref)
            ),
            "decline": lambda who, ref: (
                self.referrals.answer(who, ref, yes=False) or self.answers.decline(who, ref)
            ),
            "done": lambda who, ref: self.answers.close(who, ref, command.aid),
            "aid": lambda who, ref: self.answers.record_aid(who, ref, command.aid),
            "later": lambda who, ref: self.followup.later(who, ref, command.days),
            "note": lambda who, ref: self.followup.note(who, ref, command.note),
            "meet": lambda who, ref: self.groups.meet(who, ref, command.day, command.time),
            "meet_yes": lambda who, ref: self.groups.confirm(who, ref) or "ignored",
            "refer": lambda who, ref: self.referrals.refer_by(
                who, ref, command.owner, command.aid[0], command.agreed, said
            ),
        }.get(command.name)
        if act is None or not ref or act(responder, ref) == "ignored":
            # The same answer whether or not the reference exists: nothing is revealed.
            self.store.audit.record(
                "command_unclear",
                responder=responder.id,
                command=command.name,
                channel=inbound.channel,
            )
            self.answers.not_understood(responder, said)
        return ""

    def _join(self, phone: str, command: keywords.Command, inbound: Inbound) -> str:
        lang = command.lang or self.store.phones.profile(phone).get("lang", "")
        if self.groups.join(phone, command.ref, lang, how=inbound.channel) == "unknown":
            return self._text(phone, command, inbound)  # no such group: her own words
        return ""

    def _leave(self, phone: str, command: keywords.Command, inbound: Inbound) -> str:
        if self.groups.leave(phone, command.ref) is None:
            return self._text(phone, command, inbound)  # no such group: her own words
        return ""

    def _stop(self, phone: str, command: keywords.Command, inbound: Inbound) -> str:
        self.groups.leave(phone)  # out of every group at once, too
        again = self.store.consent.suppressed(phone)
        case_ids = self.store.consent.withdraw(phone, self.clock(), then=self.jobs.purge)
        if again and not case_ids:
            return ""  # a repeat that changed nothing: not audited again (a flood stays small)
        self.store.audit.record(
            "consent_withdrawn",
            command=command.name,
            channel=inbound.channel,
            cases=str(len(case_ids)),
        )
        return ""

    def _help(self, phone: str, command: keywords.Command, inbound: Inbound) -> str:
        profile = self.store.phones.profile(phone)
        if command.owner:
            # A code word names its organisation, whichever of our numbers she wrote to.
            district = self._default_district(inbound.to, command.owner, profile.get("district"))
        else:
            district = profile.get("district") or self._default_district(inbound.to)
        lang = languages.or_default(command.lang or profile.get("lang"))
        answers = {"kind": "callback", "district": district, "consent": "group", "call": "any"}
        self.opening.open(phone, answers, "sms", lang, (inbound.channel, inbound.external_id))
        return ""

    def _text(self, phone: str, command: keywords.Command, inbound: Inbound) -> str:
        last = self.store.phones.profile(phone).get("last_case")
        case = self.store.cases.get(last) if last else None
        if case and case.state != CaseState.CLOSED and self.clock() - case.created < NOTE_WINDOW:
            self.store.cases.add_note(case.id, inbound.text[:NOTE_MAX])
            return ""
        return self.unknown_reply

    _handlers = {
        "accept": _responder,
        "decline": _responder,
        "done": _responder,
        "aid": _responder,
        "aid_unclear": _responder,
        "later": _responder,
        "note": _responder,
        "meet": _responder,
        "meet_yes": _responder,
        "refer": _responder,
        "refer_unclear": _responder,
        "meet_unclear": _responder,
        "unclear": _responder,
        "stop": _stop,
        "delete": _stop,
        "help": _help,
        "code": _help,
        "join": _join,
        "leave": _leave,
    }

    def _default_district(self, to: str, owner: str = "", hers: str | None = None) -> str:
        """The district for a case she did not place: with an owner organisation, her own
        district if it is one of the owner's, else the owner's default (or first) district;
        otherwise the default district of the organisation that owns the number she wrote to."""
        directory = self.roster.directory
        org = directory.organisations.get(owner) if owner else None
        if org is not None:
            served = [d.id for d in directory.districts.values() if d.organisation == org.id]
            if hers in served:
                return hers
            if org.default_district or served:
                return org.default_district or served[0]
        try:
            number = normalise(to) if to else ""
        except PhoneError:
            number = ""
        orgs = list(directory.organisations.values())
        for org in orgs:
            if number and number in org.numbers:
                return org.default_district or ""
        return next((o.default_district for o in orgs if o.default_district), "")
