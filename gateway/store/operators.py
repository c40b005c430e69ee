"""Operator accounts and their console sign-ins."""

from __future__ import annotations

import secrets
import time

import redis

from gateway.accounts import Operator
from gateway.privacy import Vault
from gateway.store.keys import CONSOLE_SESSION, ENCRYPTED_FIELD, OPERATOR, OPERATORS, TOTP_USED

TOTP_FIELD = ENCRYPTED_FIELD + "totp"


class Operators:
    """Operator accounts (name, organisation, role, password hash) and console sign-ins."""

    def __init__(self, client: redis.Redis, vault: Vault):
        self.redis = client
        self.vault = vault

    # ---- accounts ------------------------------------------------------------------------------
    def add(self, operator: Operator, password_hash: str) -> bool:
        """Store a new account; False when the name is taken."""
        if not self.redis.sadd(OPERATORS, operator.name):
            return False
        self.redis.hset(
            OPERATOR.format(name=operator.name),
            mapping={
                "org": operator.org,
                "role": operator.role,
                "password": password_hash,
                "created": f"{time.time():.0f}",
            },
        )
        return True

    def get(self, name: str) -> tuple[Operator, str] | None:
        """The account and its password hash, None when there is no such operator."""
        raw = self.redis.hgetall(OPERATOR.format(name=name))
        if not raw or b"role" not in raw:
            return None
        fields = {k.decode(): v.decode() for k, v in raw.items()}
        operator = Operator(name, fields["org"], fields["role"], fields.get("disabled") == "1")
        return operator, fields["password"]

    def all(self) -> list[Operator]:
        """Every account, by name."""
        names = sorted(n.decode() for n in self.redis.smembers(OPERATORS))
        return [found[0] for found in map(self.get, names) if found is not None]

    def disable(self, name: str) -> bool:
        """Refuse the account's sign-ins from now on and end its console sessions."""
        if self.get(name) is None:
            return False
        self.redis.hset(OPERATOR.format(name=name), "disabled", "1")
        self.end_sessions(name)
        return True

    def set_password(self, name: str, password_hash: str) -> bool:
        """A new password (and the account enabled again); its console sessions end."""
        if self.get(name) is None:
            return False
        key = OPERATOR.format(name=name)
        with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(key, "password", password_hash)
            pipe.hdel(key, "disabled")
            pipe.execute()
        self.end_sessions(name)
        return True

    def has_admin(self) -> bool:
        """True when an enabled admin account exists (the first admin of the settings retires)."""
        return any(o.role == "admin" and not o.disabled for o in self.all())

    # ---- the second factor ---------------------------------------------------------------------
    def totp(self, name: str) -> str | None:
        """The operator's TOTP secret (decrypted), None without a second factor."""
        token = self.redis.hget(OPERATOR.format(name=name), TOTP_FIELD)
        return self.vault.decrypt(token) if token else None

    def set_totp(self, name: str, secret: str | None) -> bool:
        """Give the operator a second factor (encrypted), or take it away with None."""
        if self.get(name) is None:
            return False
        key = OPERATOR.format(name=name)
        if secret is None:
            self.redis.hdel(key, TOTP_FIELD)
        else:
            self.redis.hset(key, TOTP_FIELD, self.vault.encrypt(secret))
        return True

    def use_totp_step(self, name: str, step: int) -> bool:
        """Spend a code's 30-second step; False when it was spent already (a replayed code)."""
        return bool(self.redis.set(TOTP_USED.format(name=name, step=step), "1", nx=True, ex=120))

    # ---- console sign-ins ----------------------------------------------------------------------
    def open_session(self, name: str, idle: int) -> tuple[str, str]:
        """A new sign-in: (the cookie's secret, the CSRF token of its forms)."""
        sid, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        key = self._session_key(sid)
        with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(key, mapping={"operator": name, "csrf": csrf})
            pipe.expire(key, idle)
            pipe.execute()
        return sid, csrf

    def session(self, sid: str, idle: int) -> tuple[str, str] | None:
        """(operator name, CSRF token) of a live sign-in, its idle clock restarted; else None."""
        key = self._session_key(sid)
        with self.redis.pipeline(transaction=True) as pipe:
            pipe.hmget(key, "operator", "csrf")
            pipe.expire(key, idle)
            (name, csrf), _ = pipe.execute()
        if name is None or csrf is None:
            return None
        return name.decode(), csrf.decode()

    def close_session(self, sid: str) -> None:
        """Sign out."""
        self.redis.delete(self._session_key(sid))

    def end_sessions(self, name: str) -> int:
        """End every console sign-in of this operator; how many."""
        ended = 0
        for key in self.redis.scan_iter(match=CONSOLE_SESSION.format(digest="*"), count=500):
            if self.redis.hget(key, "operator") == name.encode():
                ended += self.redis.delete(key)
        return ended

    def _session_key(self, sid: str) -> str:
        # Named by a keyed hash: a copy of the database holds no usable cookie.
        return CONSOLE_SESSION.format(digest=self.vault.digest("console-session:" + sid))
