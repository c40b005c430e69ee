"""The floor of a stateful hop: the bare endpoint plus one Redis read and one pipelined write.

HGETALL of a session hash, then HSET and EXPIRE in one pipeline, on the client's own connection
pool: the read-then-write pattern of the floor the hop's throughput target was first set beside.
Served by the same gunicorn line as the gateway and the bare endpoint, so `make bench` can show how
far the USSD hop is from the least a stateful hop does.
"""

from __future__ import annotations

import os

import redis
from flask import Flask, Response, request

app = Flask(__name__)
client = redis.Redis.from_url(os.environ["REDIS_URL"])


@app.post("/ussd/africastalking")
def ussd():
    """Read the session, write it back with its expiry: two round trips, no parsing."""
    key = "bench:floor:" + request.headers.get("Content-Length", "0")
    client.hgetall(key)
    with client.pipeline(transaction=False) as pipe:
        pipe.hset(key, "state", "menu")
        pipe.expire(key, 300)
        pipe.execute()
    return Response("CON floor", mimetype="text/plain")


@app.get("/healthz")
def healthz():
    """Ready check for the harness."""
    return {"status": "ok"}
