"""Operator authentication: HTTP basic against OPERATOR_USER / OPERATOR_PASSWORD (use TLS),
throttled per source address and per user name so that passwords cannot be guessed.

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


def login(store, user: str, password: str) -> Response | None:
    """None when the request carries the operator's login and is not held back; else the answer
    to send: the 401 challenge, or 429 while its user name or source is blocked."""
    auth = request.authorization
    if auth is None or auth.type != "basic":
        return challenge()
    name = auth.username or ""
    source = request.remote_addr or "unknown"
    counted = subjects(store.vault, name or "(empty)", source)
    now = time.time()
    wait = store.logins.wait(counted, now)
    if wait > 0:
        return too_many(wait)
    same_user = hmac.compare_digest(name.encode(), user.encode())
    same_password = hmac.compare_digest((auth.password or "").encode(), password.encode())
    if same_user and same_password:
        store.logins.record(ok=True, user=user)
        return None
    count, wait = store.logins.failed(counted, now, delay)
    store.logins.record(
        ok=False,
        # Another name is kept as a hash: it may be a password typed into the wrong field.
        user=user if same_user else "other:" + counted["user"][:16],
        source=counted["source"],
        count=str(count),
        blocked_for=str(math.ceil(wait)),
    )
    if count == LOCK_AFTER:
        store.audit.record(
            "operator_login_locked", user=user if same_user else "other", count=str(count)
        )
    return too_many(wait) if wait > 0 else challenge()


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
