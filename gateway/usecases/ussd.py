"""A USSD hop: her session's screen, under a per-session lock, from encrypted state; resumed
after a drop; answered without Redis (and kept in the spool) when Redis is away."""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import partial
from typing import Any

from gateway import cases
from gateway.channels.base import Hop, Reply
from gateway.phone import PhoneError, normalise
from gateway.spool import Spool
from gateway.store import REDIS_DOWN, Store
from gateway.store.sessions import Opened
from gateway.usecases.opening import CaseOpening
from gateway.usecases.roster import Roster
from menus import engine, languages
from menus.languages import ERROR_END

log = logging.getLogger(__name__)

Write = Callable[[Any], cases.Case]  # queues her case in the hop's closing transaction


class Ussd:
    """Turns USSD hops into menu screens and, on the last one, a case."""

    def __init__(
        self,
        store: Store,
        roster: Roster,
        menus: engine.Menus,
        opening: CaseOpening,
        *,
        session_ttl: int,
        clock: Callable[[], float],
        spool: Spool | None = None,
    ):
        self.store = store
        self.roster = roster
        self.menus = menus
        self.opening = opening
        self.session_ttl = session_ttl
        self.clock = clock
        self.spool = spool

    def handle(self, hop: Hop) -> Reply:
        """The screen for this hop; a neutral END on any failure, never an exception."""
        self.roster.refresh()
        try:
            phone = normalise(hop.phone)
        except PhoneError as error:
            log.warning("ussd: unusable phoneNumber (%s)", error)
            return Reply(ERROR_END, end=True)
        with self.store.one_connection():  # the hop's scripts share one Redis connection
            return self._hop(hop, phone)

    def _hop(self, hop: Hop, phone: str) -> Reply:
        try:
            try:
                opened = self.store.sessions.open(hop.session, phone=phone if hop.start else None)
            except TimeoutError:
                log.warning("ussd: session busy, answering neutrally")
                return Reply(ERROR_END, end=True)
            except REDIS_DOWN as error:
                if self.spool is None:
                    raise
                log.warning(
                    "ussd: Redis unreachable (%s), answering without it", type(error).__name__
                )
                return self._without_redis(hop, phone)
            try:
                return self._ussd(hop, phone, opened)
            except Exception:
                self.store.sessions.unlock(hop.session)
                raise
        except Exception:
            log.exception("ussd: step failed")
            return Reply(ERROR_END, end=True)

    def _ussd(self, hop: Hop, phone: str, opened: Opened) -> Reply:
        saved, last, reply = opened.state, opened.last, opened.reply
        digest = self._name(hop.session, hop.history)
        if reply is not None and last == digest:
            self.store.sessions.unlock(hop.session)
            return Reply(reply["text"], end=reply["end"])  # the aggregator delivered it twice
        if saved is None:
            known, resume = opened.first or self.store.sessions.first(phone)
            result, write = self._first_hop(hop, phone, known, resume)
        else:
            known = saved.get("known")
            result, write = self._advance(phone, saved["menu"], hop.typed_since(saved["text"]))
        # Her language is remembered (by keyed hash) once she has chosen one.
        chosen = result.state.get("answers", {}).get("lang") or known
        record = (
            {"menu": result.state, "text": hop.history, "known": chosen},
            digest,
            {"text": result.text, "end": result.end},
        )
        close = partial(
            self.store.sessions.close,
            hop.session,
            phone,
            record,
            self.session_ttl,
            # The hop it followed lets a lost session continue from exactly this screen.
            resume=None if result.end else {**result.state, "hop": digest},
            lang=chosen if chosen != known else None,
        )
        if write is None:
            close()  # one atomic call
        else:
            with self.store.transaction() as pipe:  # the submit: her case in the same one
                case = write(pipe)
                close(pipeline=pipe)
                pipe.execute()
            self.opening.opened(case)
        return Reply(result.text, end=result.end)

    def _name(self, session: str, history: str) -> str:
        """The keyed hash that names one hop of a session (its history holds her inputs)."""
        return self.store.vault.digest(session + "\0" + history)

    def _first_hop(
        self, hop: Hop, phone: str, lang: str | None, resume: dict | None
    ) -> tuple[engine.Step, Write | None]:
        sources = self.roster.sources
        if self._began_without_redis(hop.session):
            # Its first screen is known for certain: the language list (see _without_redis),
            # so her inputs replay exactly from there.
            result, write = engine.start(self.menus, None, sources), None
            for part in hop.inputs:
                if result.end:
                    break
                result, write = self._advance(phone, result.state, part)
            return result, write
        if hop.start:
            if resume:
                return engine.resume_screen(self.menus, resume), None
            return engine.start(self.menus, lang, sources), None
        # Our session record is gone (expired, or Redis lost it) but the aggregator's is not.
        # Her resume point is the screen her last hop showed: when it is this session's hop
        # before this one, her input answers exactly that screen.
        if resume and resume.get("hop") == self._name(hop.session, hop.previous):
            return self._advance(phone, resume, hop.typed)
        # Otherwise her inputs cannot be replayed: the first screen she saw may have been the
        # language picker, the menu or the resume offer, and a replay from the wrong one
        # shifts every answer. Nothing is decided from them; she starts again, told so.
        log.info("ussd: a lost session restarts")
        return engine.restart(self.menus, lang, resume, sources), None

    def _advance(self, phone: str, state: dict, typed: str) -> tuple[engine.Step, Write | None]:
        """The next screen; on the submit, also what writes her case into the hop's closing
        transaction (her count and reference are already taken)."""
        result = engine.step(self.menus, state, typed, self.roster.sources)
        if result.action is None:
            return result, None
        lang = languages.or_default(result.state.get("lang"))
        screen, answers, write = result.state["screen"], result.answers, None
        if result.action == "submit":
            reserved = self.opening.reserve(phone, "ussd")
            params = {"ref": reserved.ref} if reserved else {"ref": "-"}
            shown = "busy" if reserved is None else screen
            text = engine.render_end(self.menus, shown, lang, **params)
            if reserved is not None:

                def write(pipe):
                    return self.opening.write(reserved, phone, answers, "ussd", lang, pipe)

        else:
            params = self._status(phone, answers.get("ref", ""), lang)
            text = engine.render_end(self.menus, screen, lang, **params)
        step = engine.Step(text=text, end=True, state=result.state, answers=answers)
        return step, write

    def _status(self, phone: str, ref: str, lang: str) -> dict[str, str]:
        case = self.store.cases.by_ref(ref)
        # Only her own phone learns anything, so references cannot be probed from elsewhere.
        if case is not None and self.store.cases.phone(case.id) != phone:
            case = None
        word = engine.word(self.menus, f"status.{cases.status_word(case)}", lang)
        return {"ref": ref, "status_word": word}

    # ---- Redis away ----------------------------------------------------------------------------
    def _without_redis(self, hop: Hop, phone: str) -> Reply:
        """A hop while Redis cannot be reached. A session that begins now starts on the language
        list (her remembered language is out of reach) and is marked on local disk; its later
        hops replay her inputs from that list (the aggregator sends them all on every hop). A
        finished request is kept in the spool, and she gets an END that promises no reference.
        A session begun with Redis, whose first screen is unknown here, gets the neutral END."""
        assert self.spool is not None
        digest = self.store.vault.digest(hop.session)
        if hop.start:
            self.spool.mark_session(digest, self.session_ttl)
        elif not self.spool.session_marked(digest, self.session_ttl):
            return Reply(ERROR_END, end=True)
        sources = self.roster.sources
        result = engine.start(self.menus, None, sources)
        for part in hop.inputs:
            if result.end:
                break
            result = engine.step(self.menus, result.state, part, sources)
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
