"""The web layer's one way to the shared context (gateway/compose.py builds it)."""

from __future__ import annotations

from flask import Flask, current_app

from gateway.compose import Context

EXTENSION = "hamdam"  # the key of the context in app.extensions


def install(app: Flask, context: Context) -> None:
    """Make `context` what every request handler and command of `app` reaches."""
    app.extensions[EXTENSION] = context


def context_of(app: Flask) -> Context:
    """The context of an app (tests and code holding the app object)."""
    return app.extensions[EXTENSION]


def context() -> Context:
    """The context of the app serving this request or command."""
    return context_of(current_app)
