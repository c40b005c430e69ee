"""Use-cases of intake: a USSD hop, an inbound SMS. The webhooks call these; no HTTP in here."""

from __future__ import annotations

import contextlib
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import redis

from gateway import cases, keywords
from gateway.cases import CaseState
from gateway.channels.base import Inbound, Reply
from gateway.directory import Directory, DirectoryError, snapshot
from gateway.dispatch import Dispatcher
from gateway.phone import PhoneError, normalise
from gateway.spool import Spool
from gateway.store import Store
from menus import engine, languages

log = logging.getLogger(__name__)

# Shown when something inside failed: neutral, fits 80 UCS-2 characters, no hint of a service.
ERROR_END = "Хатогӣ. Баъдтар такрор кунед. / Ошибка. Повторите позже."
NOTE_WINDOW = 24 * 3600  # an SMS within a day of her case is added to it as a note
NOTE_MAX = 1000
DIRECTORY_CHECK_EVERY = 5.0  # seconds between checks for a reloaded directory
# Redis cannot be reached (down, frozen, still loading its data, or out of memory): what the
# inbound paths keep in the local spool instead of failing, and what pauses a spool replay.
REDIS_DOWN = (redis.ConnectionError, redis.TimeoutError, redis.exceptions.OutOfMemoryError)
REPLAY_GUARD = 120  # seconds a replay's dedupe mark lives until the record is handled


@dataclass(frozen=True)
class Limits:
    """Per-phone limits on inbound traffic."""

    cases_per_hour: int = 5
    sms_per_hour: int = 30


class Service:
    """Intake: turns USSD hops and SMS into menu screens, cases, suppressions and notes."""

    def __init__(
        self,
        store: Store,
        directory: Directory,
        menus: engine.Menus,
        dispatcher: Dispatcher,
        *,
        session_ttl: int = 180,
        limits: Limits = Limits(),  # noqa: B008 - frozen value object
        unknown_reply: str = "",
        clock: Callable[[], float] = time.time,
        reload_directory: Callable[[], Directory] | None = None,
        spool: Spool | None = None,
    ):
        self.store = store
        self.jobs = dispatcher.jobs
        self.spool = spool
        self.menus = menus
        self.dispatcher = dispatcher
        self.session_ttl = session_ttl
        self.limits = limits
        self.unknown_reply = unknown_reply
        self.clock = clock
        self.reload_directory = reload_directory
        self._generation: int | None = None
        self._next_check = 0.0
        self.use_directory(directory)

    def use_directory(self, directory: Directory) -> None:
        """Route, list districts and match code words from this directory from now on."""
        self.directory = directory
        self.dispatcher.directory = directory
        self.sources = {"districts": [(d.id, dict(d.names)) for d in directory.districts.values()]}
        self.code_words = {
            word: found
            for org in directory.organisations.values()
            for word, found in keywords.fold_code_words(org.code_words, org.id).items()
        }

    def refresh_directory(self) -> None:
        """Reload the directory when `flask directory reload` bumped its generation (checked
        at most every few seconds, so a request rarely pays for it)."""
        now = time.monotonic()
        if self.reload_directory is None or now < self._next_check:
            return
        self._next_check = now + DIRECTORY_CHECK_EVERY
        try:
            generation = self.store.directory_generation()
            if self._generation is None:  # first check: record the directory this process runs
                self.store.note_directory(snapshot(self.directory, self.store.vault.digest))
        except (redis.ConnectionError, redis.TimeoutError):
            return
        if self._generation is not None and generation != self._generation:
            try:
                self.use_directory(self.reload_directory())
                log.info("directory reloaded (generation %d)", generation)
            except DirectoryError as error:
                log.error("directory reload refused, keeping the previous one: %s", error)
        self._generation = generation

    # ---- USSD ----------------------------------------------------------------------------------
    def handle_ussd(self, session: str, raw_phone: str, text: str) -> Reply:
        """The screen for this hop; a neutral END on any failure, never an exception."""
        self.refresh_directory()
        try:
            phone = normalise(raw_phone)
        except PhoneError as error:
            log.warning("ussd: unusable phoneNumber (%s)", error)
            return Reply(ERROR_END, end=True)
        try:
            try:
                saved, last, reply = self.store.ussd_open(session)
            except TimeoutError:
                log.warning("ussd: session busy, answering neutrally")
                return Reply(ERROR_END, end=True)
            except REDIS_DOWN as error:
                if self.spool is None:
                    raise
                log.warning(
                    "ussd: Redis unreachable (%s), answering without it", type(error).__name__
                )
                return self._ussd_without_redis(session, phone, text)
            try:
                return self._ussd(session, phone, text, saved, last, reply)
            except Exception:
                self.store.ussd_unlock(session)
                raise
        except Exception:
            log.exception("ussd: step failed")
            return Reply(ERROR_END, end=True)

    def _ussd(
        self, session: str, phone: str, text: str, saved: dict | None, last: str, reply: dict | None
    ) -> Reply:
        digest = self._hop(session, text)
        if reply is not None and last == digest:
            self.store.ussd_unlock(session)
            return Reply(reply["text"], end=reply["end"])  # the aggregator delivered it twice
        if saved is None:
            known, resume = self.store.ussd_first(phone)
            began_without_redis = self._began_without_redis(session)
            result = self._first_hop(session, phone, text, known, resume, began_without_redis)
        else:
            known = saved.get("known")
            result = self._advance(phone, saved["menu"], _new_input(saved["text"], text))
        # Her language is remembered (by keyed hash) once she has chosen one.
        chosen = result.state.get("answers", {}).get("lang") or known
        record = (
            {"menu": result.state, "text": text, "known": chosen},
            digest,
            {"text": result.text, "end": result.end},
        )
        self.store.ussd_close(
            session,
            phone,
            record,
            self.session_ttl,
            # The hop it followed lets a lost session continue from exactly this screen.
            resume=None if result.end else {**result.state, "hop": digest},
            lang=chosen if chosen != known else None,
        )
        return Reply(result.text, end=result.end)

    def _hop(self, session: str, text: str) -> str:
        """The keyed hash that names one hop of a session (its text holds her inputs)."""
        return self.store.vault.digest(session + "\0" + text)

    def _first_hop(
        self,
        session: str,
        phone: str,
        text: str,
        lang: str | None,
        resume: dict | None,
        began_without_redis: bool = False,
    ) -> engine.Step:
        if began_without_redis:
            # Its first screen is known for certain: the language list (see _ussd_without_redis),
            # so her inputs replay exactly from there.
            result = engine.start(self.menus, None, self.sources)
            for part in text.split("*") if text else ():
                if result.end:
                    break
                result = self._advance(phone, result.state, part)
            return result
        if text == "":
            if resume:
                return engine.resume_screen(self.menus, resume)
            return engine.start(self.menus, lang, self.sources)
        # Our session record is gone (expired, or Redis lost it) but the aggregator's is not.
        # Her resume point is the screen her last hop showed: when it is this session's hop
        # before this one, her input answers exactly that screen.
        previous, _, typed = text.rpartition("*")
        if resume and resume.get("hop") == self._hop(session, previous):
            return self._advance(phone, resume, typed)
        # Otherwise her inputs cannot be replayed: the first screen she saw may have been the
        # language picker, the menu or the resume offer, and a replay from the wrong one
        # shifts every answer. Nothing is decided from them; she starts again, told so.
        log.info("ussd: a lost session restarts")
        return engine.restart(self.menus, lang, resume, self.sources)

    def _advance(self, phone: str, state: dict, typed: str) -> engine.Step:
        result = engine.step(self.menus, state, typed, self.sources)
        if result.action is None:
            return result
        lang = languages.or_default(result.state.get("lang"))
        screen = result.state["screen"]
        if result.action == "submit":
            ref = self.open_case(phone, result.answers, "ussd", lang)
            params = {"ref": ref} if ref else {"ref": "-"}
            text = engine.render_end(self.menus, "busy" if ref is None else screen, lang, **params)
        else:
            params = self._status(phone, result.answers.get("ref", ""), lang)
            text = engine.render_end(self.menus, screen, lang, **params)
        return engine.Step(text=text, end=True, state=result.state, answers=result.answers)

    def _status(self, phone: str, ref: str, lang: str) -> dict[str, str]:
        case = self.store.case_by_ref(ref)
        # Only her own phone learns anything, so references cannot be probed from elsewhere.
        if case is not None and self.store.case_phone(case.id) != phone:
            case = None
        word = engine.word(self.menus, f"status.{cases.status_word(case)}", lang)
        return {"ref": ref, "status_word": word}

    # ---- cases ---------------------------------------------------------------------------------
    def open_case(self, phone: str, answers: dict, channel: str, lang: str) -> str | None:
        """Open a case for her and enqueue its alerts; the reference, or None over her limit."""
        count = self.store.rate_count("case", phone)
        if count > self.limits.cases_per_hour:
            log.warning("case limit reached for a phone; no case opened")
            self.store.count_inbound_dropped(channel, "case_limit")
            if count == self.limits.cases_per_hour + 1:  # once per phone and hour
                self.store.audit(
                    "case_refused",
                    reason="case limit",
                    channel=channel,
                    sender=self.store.phone_digest(phone),
                    limit=str(self.limits.cases_per_hour),
                )
            return None
        case_id = uuid.uuid4().hex
        ref = self.store.reserve_ref(case_id)
        case = cases.new_case(
            id=case_id, ref=ref, answers=answers, channel=channel, lang=lang, now=self.clock()
        )
        self.store.open_case(case, phone, then=lambda pipe: self.jobs.plan(case.id, case.ref, pipe))
        self.store.audit(
            "case_opened", case=case.id, kind=case.kind, district=case.district, channel=channel
        )
        log.info("case %s opened: %s, %s, via %s", case.ref, case.kind, case.urgency, channel)
        return ref

    # ---- SMS -----------------------------------------------------------------------------------
    def handle_sms(self, inbound: Inbound) -> str:
        """The reply text for an inbound SMS ('' for none); repeats of a provider id do nothing."""
        self.refresh_directory()
        if not self.store.first_delivery(inbound.channel, inbound.external_id):
            log.info("%s: duplicate delivery ignored", inbound.channel)
            return ""
        try:
            return self._sms(inbound)
        except Exception:
            # Let the provider's retry (or fallback URL, or the spool) deliver it again.
            self.store.forget_delivery(inbound.channel, inbound.external_id)
            raise

    def _sms(self, inbound: Inbound) -> str:
        try:
            phone = normalise(inbound.sender)
        except PhoneError as error:
            log.warning("%s: unusable sender (%s)", inbound.channel, error)
            return ""
        command = keywords.parse(inbound.text, self.code_words)
        if not self._exempt_from_limit(phone, command):
            count = self.store.rate_count("sms", phone)
            if count > self.limits.sms_per_hour:
                self._drop_over_limit(
                    phone, command, inbound, first=count == self.limits.sms_per_hour + 1
                )
                return ""
        handler = self._sms_handlers.get(command.name, Service._sms_text)
        return handler(self, phone, command, inbound)

    def _exempt_from_limit(self, phone: str, command: keywords.Command) -> bool:
        """Her HELP and STOP, and a registered responder's command for a case they were alerted
        for (the first time it comes), are never dropped by the inbound limit. Anything else
        counts against it: so a sender spoofing a responder's number cannot mute them, yet can
        neither guess references nor have the same answer repeated (and answered) unbounded."""
        if command.name in ("help", "code", "stop", "delete"):
            return True  # a case has its own limit; a STOP is idempotent and must never be lost
        if command.name not in ("accept", "decline", "done"):
            return False
        responder = self.directory.by_phone(phone)
        if responder is None:
            return False
        case = self.store.case_by_ref(command.ref)
        if case is None or responder.id not in self.store.alerted(case.id):
            return False
        return self.store.first_command(responder.id, command.name, case.id)

    def _drop_over_limit(
        self, phone: str, command: keywords.Command, inbound: Inbound, first: bool
    ) -> None:
        # Never silent: counted always, audited once per phone and window (a flood must not
        # flood the audit trail too), with the keyed hash of the number, never the number.
        log.warning("%s: inbound limit reached for a phone; message dropped", inbound.channel)
        self.store.count_inbound_dropped(inbound.channel, "rate_limit")
        if first:
            self.store.audit(
                "inbound_dropped",
                reason="rate limit",
                channel=inbound.channel,
                command=command.name,
                sender=self.store.phone_digest(phone),
                limit=str(self.limits.sms_per_hour),
                responder="yes" if self.directory.by_phone(phone) else "no",
            )

    def _sms_responder(self, phone: str, command: keywords.Command, inbound: Inbound) -> str:
        responder = self.directory.by_phone(phone)
        if responder is None:
            if not command.ref:  # a plain "Ha" or "Не, ..." from her: her own words
                return self._sms_text(phone, command, inbound)
            self.store.audit("command_ignored", reason="unregistered sender", command=command.name)
            return ""
        ref = command.ref
        if command.name == "accept" and not ref:
            # A plain OK is unambiguous only while exactly one alert to this responder is open.
            waiting = self.store.open_alerts(responder.id)
            found = self.store.case(waiting[0]) if len(waiting) == 1 else None
            ref = found.ref if found else ""
        act = {
            "accept": self.dispatcher.accept,
            "decline": self.dispatcher.decline,
            "done": self.dispatcher.close,
        }.get(command.name)
        if act is None or not ref or act(responder, ref) == "ignored":
            # The same answer whether or not the reference exists: nothing is revealed.
            self.store.audit(
                "command_unclear",
                responder=responder.id,
                command=command.name,
                channel=inbound.channel,
            )
            self.dispatcher.not_understood(responder, f"{inbound.channel}:{inbound.external_id}")
        return ""

    def _sms_stop(self, phone: str, command: keywords.Command, inbound: Inbound) -> str:
        again = self.store.suppressed(phone)
        case_ids = self.store.withdraw_consent(phone, self.clock(), then=self.jobs.purge)
        if again and not case_ids:
            return ""  # a repeat that changed nothing: not audited again (a flood stays small)
        self.store.audit(
            "consent_withdrawn",
            command=command.name,
            channel=inbound.channel,
            cases=str(len(case_ids)),
        )
        return ""

    def _sms_help(self, phone: str, command: keywords.Command, inbound: Inbound) -> str:
        profile = self.store.phone_profile(phone)
        if command.owner:
            # A code word names its organisation, whichever of our numbers she wrote to.
            district = self._default_district(inbound.to, command.owner, profile.get("district"))
        else:
            district = profile.get("district") or self._default_district(inbound.to)
        lang = languages.or_default(command.lang or profile.get("lang"))
        answers = {"kind": "callback", "district": district, "consent": "group", "call": "any"}
        self.open_case(phone, answers, "sms", lang)
        return ""

    def _sms_text(self, phone: str, command: keywords.Command, inbound: Inbound) -> str:
        last = self.store.phone_profile(phone).get("last_case")
        case = self.store.case(last) if last else None
        if case and case.state != CaseState.CLOSED and self.clock() - case.created < NOTE_WINDOW:
            self.store.add_note(case.id, inbound.text[:NOTE_MAX])
            return ""
        return self.unknown_reply

    _sms_handlers = {
        "accept": _sms_responder,
        "decline": _sms_responder,
        "done": _sms_responder,
        "unclear": _sms_responder,
        "stop": _sms_stop,
        "delete": _sms_stop,
        "help": _sms_help,
        "code": _sms_help,
    }

    # ---- Redis away: keep what came in, replay it when Redis is back -----------------------------
    def take_sms(self, inbound: Inbound) -> str:
        """handle_sms(), or, when Redis cannot be reached, keep the SMS in the local spool (its
        replay goes through the same path and dedupe) and answer nothing: the provider gets its
        200 and does not retry for nothing. Raises SpoolError when the spool cannot keep it."""
        try:
            return self.handle_sms(inbound)
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

    def _ussd_without_redis(self, session: str, phone: str, text: str) -> Reply:
        """A hop while Redis cannot be reached. A session that begins now starts on the language
        list (her remembered language is out of reach) and is marked on local disk; its later
        hops replay her inputs from that list (the aggregator sends them all on every hop). A
        finished request is kept in the spool, and she gets an END that promises no reference.
        A session begun with Redis, whose first screen is unknown here, gets the neutral END."""
        assert self.spool is not None
        digest = self.store.vault.digest(session)
        if text == "":
            self.spool.mark_session(digest, self.session_ttl)
        elif not self.spool.session_marked(digest, self.session_ttl):
            return Reply(ERROR_END, end=True)
        result = engine.start(self.menus, None, self.sources)
        for part in text.split("*") if text else ():
            if result.end:
                break
            result = engine.step(self.menus, result.state, part, self.sources)
            if result.action is None:
                continue
            lang = languages.or_default(result.state.get("lang"))
            if result.action != "submit":
                return Reply(engine.render_end(self.menus, "busy", lang), end=True)
            record = {
                "kind": "ussd",
                "rid": digest,  # one case per session, however often the last hop comes
                "phone": phone,
                "answers": result.answers,
                "lang": lang,
                "at": self.clock(),
            }
            self.spool.keep(record)
            log.warning("ussd: a help request kept in the spool until Redis is back")
            return Reply(engine.render_end(self.menus, "kept", lang), end=True)
        return Reply(result.text, end=result.end)

    def _began_without_redis(self, session: str) -> bool:
        if self.spool is None:
            return False
        return self.spool.session_marked(self.store.vault.digest(session), self.session_ttl)

    def replay_spooled(self, record: dict) -> None:
        """Handle one spooled record now that Redis answers; Redis errors propagate (the record
        stays in the spool). A record handled before (a replay cut short) is skipped."""
        self.refresh_directory()
        if record.get("kind") == "ussd":
            self._replay_ussd(record)
            return
        if record.get("kind") != "sms":
            raise ValueError("unknown spool record kind")
        inbound = Inbound(
            channel=record["channel"],
            sender=record["sender"],
            text=record["text"],
            external_id=record["id"],
            to=record.get("to", ""),
        )
        # Replays are deduplicated by a mark of their own, not by the provider id's: the failed
        # attempt may have left that one behind (a forget that failed, or a SET that a frozen
        # Redis ran once thawed, after its caller had given up), and taking it for "handled"
        # would lose her SMS. The mark is short-lived until the record is handled, so a replay
        # cut short by Redis leaving again cannot drop it either.
        guard = "spool-" + inbound.channel
        if not self.store.first_delivery(guard, inbound.external_id, ttl=REPLAY_GUARD):
            log.info("spool: a replayed %s SMS was handled before", inbound.channel)
            return
        try:
            self._sms(inbound)
        except Exception:
            with contextlib.suppress(*REDIS_DOWN):
                self.store.forget_delivery(guard, inbound.external_id)
            raise
        self.store.keep_delivery(guard, inbound.external_id)
        # A later copy of the provider's webhook is a repeat like any other.
        self.store.first_delivery(inbound.channel, inbound.external_id)

    def _replay_ussd(self, record: dict) -> None:
        if not self.store.first_delivery("ussd-spool", record["rid"], ttl=REPLAY_GUARD):
            log.info("spool: a replayed USSD request was handled before")
            return
        try:
            ref = self.open_case(record["phone"], record["answers"], "ussd", record["lang"])
        except Exception:
            with contextlib.suppress(*REDIS_DOWN):
                self.store.forget_delivery("ussd-spool", record["rid"])
            raise
        self.store.keep_delivery("ussd-spool", record["rid"])
        if ref is None:
            log.warning("spool: a replayed USSD request was over her case limit; not opened")

    def _default_district(self, to: str, owner: str = "", hers: str | None = None) -> str:
        """The district for a case she did not place: with an owner organisation, her own
        district if it is one of the owner's, else the owner's default (or first) district;
        otherwise the default district of the organisation that owns the number she wrote to."""
        org = self.directory.organisations.get(owner) if owner else None
        if org is not None:
            served = [d.id for d in self.directory.districts.values() if d.organisation == org.id]
            if hers in served:
                return hers
            if org.default_district or served:
                return org.default_district or served[0]
        try:
            number = normalise(to) if to else ""
        except PhoneError:
            number = ""
        orgs = list(self.directory.organisations.values())
        for org in orgs:
            if number and number in org.numbers:
                return org.default_district or ""
        return next((o.default_district for o in orgs if o.default_district), "")


def _new_input(previous: str, text: str) -> str:
    """What she typed on this hop: the text minus the inputs already handled."""
    if previous == "":
        return text
    if text.startswith(previous + "*"):
        return text[len(previous) + 1 :]
    return text.rsplit("*", 1)[-1]
