"""Operator authentication: HTTP basic against OPERATOR_USER / OPERATOR_PASSWORD (use TLS)."""

from __future__ import annotations

import hmac

from flask import Response, request


def operator_ok(user: str, password: str) -> bool:
    """True when the request carries the operator's credentials (constant-time comparison)."""
    auth = request.authorization
    if auth is None or auth.type != "basic":
        return False
    same_user = hmac.compare_digest((auth.username or "").encode(), user.encode())
    same_password = hmac.compare_digest((auth.password or "").encode(), password.encode())
    return same_user and same_password


def challenge() -> Response:
    """The 401 answer that makes a browser ask for the operator's login."""
    return Response(
        "operator login required\n",
        401,
        {"WWW-Authenticate": 'Basic realm="hamdam operator", charset="UTF-8"'},
        mimetype="text/plain",
    )
