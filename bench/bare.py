"""The bare endpoint: the same path and gunicorn settings as the gateway, and no work at all."""

from __future__ import annotations

from flask import Flask, Response

app = Flask(__name__)


@app.post("/ussd/africastalking")
def ussd():
    """A constant screen; the form is not even read, like the floor in perf.md B.6."""
    return Response("CON bare", mimetype="text/plain")


@app.get("/healthz")
def healthz():
    """Ready check for the harness."""
    return {"status": "ok"}
