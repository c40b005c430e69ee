"""Trivial RQ jobs: the queue's own floor, run by the same worker as the gateway's jobs."""

# Only modules the worker process has already imported are used (rq, socket, urllib.parse), so
# a forked work-horse pays no import for these jobs: what they cost is RQ's own cost.

from __future__ import annotations

import socket
from urllib.parse import urlencode, urlsplit


def noop(i: int) -> int:
    """Nothing: one job's worth of RQ bookkeeping."""
    return i


def relay(url: str, tag: str) -> None:
    """First hop of a trivial two-job chain, shaped like plan_alerts -> send_message."""
    from rq import Queue, get_current_job

    job = get_current_job()
    Queue(job.origin, connection=job.connection).enqueue(post, url, tag)


def post(url: str, tag: str) -> int:
    """Second hop: one form POST to the fake provider over a plain socket; the HTTP status."""
    parts = urlsplit(url)
    body = urlencode({"To": tag, "Body": f"relay {tag}"}).encode()
    head = (
        f"POST {parts.path} HTTP/1.0\r\nHost: {parts.netloc}\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as conn:
        conn.sendall(head + body)
        status = conn.recv(64).split(b" ", 2)[1]
    return int(status)
