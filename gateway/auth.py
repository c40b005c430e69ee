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
    """The operator of this name (disabled ones too), or None.

    `fallback` is OPERATOR_USER / OPERATOR_PASSWORD: an admin of every organisation, kept for
    installations from before accounts, and used only while no stored account has that name."""
    found = store.operators.get(name)
    if found is not None:
        return found[0]
    user, secret = fallback
    return Operator(user, EVERY_ORG, "admin") if name == user and secret else None


def operator(store, name: str, password: str, fallback: tuple[str, str]) -> Operator | None:
    """The enabled account these credentials sign in to, or None."""
    found = store.operators.get(name)
    if found is not None:
        stored, password_hash = found
        if stored.disabled or not check_password(password_hash, password):
            return None
        return stored
    user, secret = fallback
    same_user = hmac.compare_digest(name.encode(), user.encode())
    same_password = hmac.compare_digest(password.encode(), secret.encode())
    return account(store, name, fallback) if same_user and same_password else None


def sign_in(
    store, name: str, password: str, source: str, fallback: tuple[str, str], every: bool = False
) -> tuple[Operator | None, float]:
    """Check a sign-in, throttled: (the operator, 0) or (None, seconds to wait; 0 = wrong).

    `every` audits each success (a console sign-in); basic auth, sent with every request,
    audits one every ten minutes."""
    counted = subjects(store.vault, name or "(empty)", source or "unknown")
    now = time.time()
    wait = store.logins.wait(counted, now)
    if wait > 0:
        return None, wait
    found = operator(store, name, password, fallback)
    if found is not None:
        store.logins.record(ok=True, user=found.name, every=every)
        return found, 0.0
    count, wait = store.logins.failed(counted, now, delay)
    named = account(store, name, fallback) is not None  # else audited as a hash
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
    return None, wait


def login(store, fallback: tuple[str, str], action: str = "dashboard") -> Response | None:
    """None when the request carries the login of an operator allowed `action` and is not held
    back; else the answer to send: the 401 challenge, 403 for another role, or 429 while its
    user name or source is blocked."""
    auth = request.authorization
    if auth is None or auth.type != "basic":
        return challenge()
    found, wait = sign_in(
        store, auth.username or "", auth.password or "", request.remote_addr or "", fallback
    )
    if found is None:
        return too_many(wait) if wait > 0 else challenge()
    if not found.may(action):
        refusal = f"the {found.role} role cannot open this page\n"
        return Response(refusal, 403, mimetype="text/plain")
    return None


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
