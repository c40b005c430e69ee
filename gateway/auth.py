"""Operator authentication: accounts (gateway/accounts.py; OPERATOR_USER / OPERATOR_PASSWORD is
the first admin), by the console's sign-in form or HTTP basic for the dashboard and /metrics
(use TLS), throttled per source address and per user name so that passwords cannot be guessed.

Three failures are free (typos). Each further one blocks the user name and the source for a
growing delay (2, 4, 8 ... 64 s), answered 429 with Retry-After without looking at the password,
not by sleeping in a worker. The tenth failure locks them for an hour, and each failure after
that for another hour, until a day passes without one or `flask operators unlock`. Every failure
is audited with the user name, the source as a keyed hash and the count.
"""

from __future__ import annotations

import hmac
import math
import time
from dataclasses import dataclass
from datetime import UTC, datetime

import pyotp
from flask import Response, request

from gateway.accounts import EVERY_ORG, Operator, check_password

FREE_FAILURES = 3
LOCK_AFTER = 10
LOCK_SECONDS = 3600


def delay(failures: int) -> float:
    """Seconds during which no password is checked after this many failures in a row."""
    if failures >= LOCK_AFTER:
        return LOCK_SECONDS
    if failures <= FREE_FAILURES:
        return 0
    return 2 ** (failures - FREE_FAILURES)


def subjects(vault, user: str = "", source: str = "") -> dict[str, str]:
    """What failures are counted against: the user name and the source, as keyed hashes."""
    found = {}
    if user:
        found["user"] = vault.digest("operator-user:" + user)
    if source:
        found["source"] = vault.digest("operator-source:" + source)
    return found


def account(store, name: str, fallback: tuple[str, str]) -> Operator | None:
    """The operator of this name (disabled ones too), or None."""
    record = store.operators.get(name)
    return record[0] if record is not None else _first_admin(store, name, fallback)


def _first_admin(store, name: str, fallback: tuple[str, str]) -> Operator | None:
    """`fallback` is OPERATOR_USER / OPERATOR_PASSWORD: the first admin, of every organisation,
    for installations from before accounts. It signs in only while no stored account has its
    name (the caller looked) and no enabled admin account exists: the first admin account
    retires it."""
    user, secret = fallback
    if name != user or not secret or store.operators.has_admin():
        return None
    return Operator(user, EVERY_ORG, "admin")


def _checked(store, record, name: str, password: str, fallback: tuple[str, str]):
    """The enabled account these credentials sign in to (`record`: the stored one of this
    name, or None), or None."""
    if record is not None:
        stored, password_hash = record
        if stored.disabled or not check_password(password_hash, password):
            return None
        return stored
    user, secret = fallback
    same_user = hmac.compare_digest(name.encode(), user.encode())
    same_password = hmac.compare_digest(password.encode(), secret.encode())
    return _first_admin(store, name, fallback) if same_user and same_password else None


@dataclass(frozen=True)
class Attempt:
    """How a sign-in went: the operator, or why not (`problem`) and how long to wait."""

    operator: Operator | None
    wait: float = 0.0
    # "" | "wrong" (name, password or code) | "code needed" (basic auth of an account with a
    # second factor) | "second factor needed" (an admin without one, in production)
    problem: str = ""


def sign_in(
    store,
    name: str,
    password: str,
    source: str,
    fallback: tuple[str, str],
    code: str | None = None,
    production: bool = False,
    every: bool = False,
) -> Attempt:
    """Check a sign-in, throttled. `code` is the second factor's (None: the request has no
    place for one, HTTP basic). `every` audits each success (a console sign-in); basic auth,
    sent with every request, audits one every ten minutes per operator."""
    counted = subjects(store.vault, name or "(empty)", source or "unknown")
    now = time.time()
    wait = store.logins.wait(counted, now)
    if wait > 0:
        return Attempt(None, wait, "wrong")
    record = store.operators.get(name)  # read once: password, state, whether it is stored
    found = _checked(store, record, name, password, fallback)
    secret = store.operators.totp(name) if found is not None and record is not None else None
    if found is not None and secret is not None:
        if code is None:
            return Attempt(None, 0.0, "code needed")
        if not _code_ok(store, name, secret, code, now):
            found = None
    if found is None:
        named = record is not None or _first_admin(store, name, fallback) is not None
        return Attempt(None, _failed(store, name, named, counted, now), "wrong")
    # The first admin of the settings is exempt: it retires once an admin account exists.
    if production and found.role == "admin" and secret is None and record is not None:
        return Attempt(None, 0.0, "second factor needed")
    store.logins.record(ok=True, user=found.name, every=every)
    return Attempt(found)


def _code_ok(store, name: str, secret: str, code: str, now: float) -> bool:
    """The code of this or an adjacent 30-second step, not used before."""
    totp = pyotp.TOTP(secret)
    code = "".join(code.split())
    for offset in (0, -1, 1):
        at = now + offset * totp.interval
        if hmac.compare_digest(totp.at(at), code):
            step = totp.timecode(datetime.fromtimestamp(at, tz=UTC))
            return store.operators.use_totp_step(name, step)  # a code works once
    return False


def _failed(store, name: str, named: bool, counted: dict, now: float) -> float:
    """Count a failure; `named`: the name is an account's (else it is audited as a hash)."""
    count, wait = store.logins.failed(counted, now, delay)
    store.logins.record(
        ok=False,
        # Another name is kept as a hash: it may be a password typed into the wrong field.
        user=name if named else "other:" + counted["user"][:16],
        source=counted["source"],
        count=str(count),
        blocked_for=str(math.ceil(wait)),
    )
    if count == LOCK_AFTER:
        store.audit.record(
            "operator_login_locked", user=name if named else "other", count=str(count)
        )
    return wait


# ---- the console's session, also good for the dashboard ---------------------------------------
SESSION_COOKIE = "hamdam_console"
SESSION_IDLE = 30 * 60  # seconds without a request before a sign-in is forgotten


def from_session(store, fallback: tuple[str, str]) -> tuple[Operator, str] | None:
    """The operator signed in on the console by this request's cookie, and the CSRF token of
    their forms; None without a live sign-in (its idle clock restarts with each request)."""
    sid = request.cookies.get(SESSION_COOKIE, "")
    found = store.operators.session(sid, SESSION_IDLE) if sid else None
    who = account(store, found[0], fallback) if found else None
    if found is None or who is None or who.disabled:
        return None
    return who, found[1]


def login(
    store,
    fallback: tuple[str, str],
    action: str = "dashboard",
    production: bool = False,
    bearer: str = "",
) -> Response | None:
    """None when the request comes from an operator allowed `action` (a console sign-in, or
    HTTP basic for an account without a second factor; `bearer`, when set, is a token that
    passes too) and is not held back; else the answer to send: the 401 challenge, 403 for
    another role, or 429 while its user name or source is blocked."""
    if bearer:
        given = request.headers.get("Authorization", "")
        if hmac.compare_digest(given.encode(), f"Bearer {bearer}".encode()):
            return None
    session = from_session(store, fallback)
    if session is not None:
        return None if session[0].may(action) else _role_refused(session[0])
    auth = request.authorization
    if auth is None or auth.type != "basic":
        return challenge()
    attempt = sign_in(
        store,
        auth.username or "",
        auth.password or "",
        request.remote_addr or "",
        fallback,
        production=production,
    )
    if attempt.operator is None:
        if attempt.problem in ("code needed", "second factor needed"):
            return _console_only(attempt.problem)
        return too_many(attempt.wait) if attempt.wait > 0 else challenge()
    if not attempt.operator.may(action):
        return _role_refused(attempt.operator)
    return None


def _role_refused(who: Operator) -> Response:
    return Response(f"the {who.role} role cannot open this page\n", 403, mimetype="text/plain")


def _console_only(problem: str) -> Response:
    why = (
        "this account has a second factor: sign in at /console/login, then open this page"
        if problem == "code needed"
        else "an admin needs a second factor in production: `flask operators totp NAME`"
    )
    return Response(why + "\n", 403, mimetype="text/plain")


def challenge() -> Response:
    """The 401 answer that makes a browser ask for the operator's login."""
    return Response(
        "operator login required\n",
        401,
        {"WWW-Authenticate": 'Basic realm="hamdam operator", charset="UTF-8"'},
        mimetype="text/plain",
    )


def too_many(wait: float) -> Response:
    """The 429 answer while a user name or source is blocked after failed logins."""
    seconds = max(1, math.ceil(wait))
    return Response(
        f"too many failed operator logins: try again in {seconds} seconds "
        "(an operator can lift this with `flask operators unlock`)\n",
        429,
        {"Retry-After": str(seconds)},
        mimetype="text/plain",
    )
