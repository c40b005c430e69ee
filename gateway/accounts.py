"""Operator accounts: who may sign in, to which organisation's cases, with which role.

Roles:
- `admin`: every organisation; the dashboard, /metrics, the directory;
- `coordinator`: one organisation: its cases (reveal her number with a reason, replay, close,
  hand over), its reports, the directory;
- `viewer`: one organisation: its anonymous figures only.

Passwords are kept as scrypt hashes in werkzeug's format (`scrypt:N:r:p$salt$hex`), so an
account can be checked by werkzeug's `check_password_hash` too.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

ROLES = ("admin", "coordinator", "viewer")
EVERY_ORG = "*"  # an admin's organisation
# What each role may do (the console's pages and forms, the dashboard, /metrics).
PERMISSIONS = {
    "admin": {
        "cases",
        "reveal",
        "replay",
        "close",
        "reports",
        "directory",
        "dashboard",
        "groups",
        "free_text",
    },
    "coordinator": {"cases", "reveal", "replay", "close", "reports", "directory", "groups"},
    "viewer": {"reports"},
}
NAME = re.compile(r"[a-z0-9][a-z0-9._-]{1,31}")
MIN_PASSWORD = 12
# scrypt's cost: about 50 ms on this kind of machine, werkzeug's own default.
SCRYPT = {"n": 2**15, "r": 8, "p": 1}


class AccountError(ValueError):
    """An account that cannot be made as asked (the message names what is wrong)."""


@dataclass(frozen=True)
class Operator:
    name: str
    org: str  # an organisation id of the directory, or EVERY_ORG for an admin
    role: str
    disabled: bool = False

    def sees(self, org: str) -> bool:
        """True when this operator may see the cases and figures of this organisation."""
        return self.org == EVERY_ORG or self.org == org

    def may(self, action: str) -> bool:
        """True when this operator's role allows the action (see PERMISSIONS)."""
        return not self.disabled and action in PERMISSIONS.get(self.role, set())


def account(name: str, org: str, role: str, organisations: set[str]) -> Operator:
    """A new operator, checked: a plain name, a known role, an organisation of the directory
    (an admin's is every organisation)."""
    if not NAME.fullmatch(name):
        raise AccountError(
            f"operator name {name!r}: use 2-32 lower-case letters, digits, '.', '_' or '-'"
        )
    if role not in ROLES:
        raise AccountError(f"role {role!r}: choose one of {', '.join(ROLES)}")
    if role == "admin":
        if org not in ("", EVERY_ORG) and org not in organisations:
            raise AccountError(f"organisation {org!r} is not in the directory")
        return Operator(name, EVERY_ORG, role)
    if org not in organisations:
        known = ", ".join(sorted(organisations)) or "none"
        raise AccountError(f"organisation {org!r} is not in the directory (it has: {known})")
    return Operator(name, org, role)


def check_new_password(password: str) -> None:
    """Refuse a password too short to survive a guess (the sign-in is throttled too)."""
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"the password needs at least {MIN_PASSWORD} characters")


def hash_password(password: str) -> str:
    """A salted scrypt hash of the password, in werkzeug's format."""
    salt = secrets.token_urlsafe(12)
    n, r, p = SCRYPT["n"], SCRYPT["r"], SCRYPT["p"]
    digest = _scrypt(password, salt, n, r, p)
    return f"scrypt:{n}:{r}:{p}${salt}${digest}"


def check_password(stored: str, password: str) -> bool:
    """True when the password matches a hash made by hash_password()."""
    try:
        method, salt, expected = stored.split("$", 2)
        kind, n, r, p = method.split(":")
    except ValueError:
        return False
    if kind != "scrypt":
        return False
    actual = _scrypt(password, salt, int(n), int(r), int(p))
    return hmac.compare_digest(actual, expected)


def _scrypt(password: str, salt: str, n: int, r: int, p: int) -> str:
    return hashlib.scrypt(
        password.encode("utf-8"), salt=salt.encode("utf-8"), n=n, r=r, p=p, maxmem=132 * n * r
    ).hex()
