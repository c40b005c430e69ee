"""Fake SMS providers on loopback: the Twilio REST API and the SMS Gateway for Android API.

Real HTTP servers in a thread: the code under test talks to them exactly as to the real thing.
Each can be scripted to fail (`fail_next`) or to hold requests until released (`hold`).
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode, urlsplit


@dataclass
class Sent:
    """One message the fake provider accepted."""

    id: str
    to: str
    body: str
    extra: dict = field(default_factory=dict)
    at: float = field(default_factory=time.time)


class FakeProvider:
    """Shared machinery: a threaded HTTP server, scripted failures, held requests, a log."""

    def __init__(self):
        self.sent: list[Sent] = []
        self.requests: list[tuple[str, str]] = []
        self.failures: list[tuple[int, dict]] = []
        self.lock = threading.Lock()
        self.held = threading.Event()
        self.held.set()
        self.holding = threading.Event()
        self.holding_port = 0
        self.hold_to = ""
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output clean
                pass

            def do_GET(self):  # noqa: N802 - http.server naming
                provider._serve(self, "GET")

            def do_POST(self):  # noqa: N802
                provider._serve(self, "POST")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.held.set()
        self.server.shutdown()
        self.server.server_close()

    def fail_next(self, status: int, body: dict | None = None, times: int = 1) -> None:
        """Answer the next `times` sends with this status and JSON body."""
        with self.lock:
            self.failures += [(status, body or {})] * times

    def hold(self, to: str = "") -> None:
        """Keep the next sends (to `to` only, if given) waiting until release()."""
        self.hold_to = to
        self.held.clear()

    def release(self) -> None:
        self.held.set()

    def to(self, phone: str) -> list[Sent]:
        """Messages accepted for one phone."""
        return [s for s in self.sent if s.to == phone]

    def _serve(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        with self.lock:
            self.requests.append((method, handler.path))
        status, payload = self.handle(method, handler.path, raw, handler)
        body = json.dumps(payload).encode()
        try:
            handler.send_response(status)
            handler.send_header("Content-Type", "application/json")
            handler.send_header("Content-Length", str(len(body)))
            handler.end_headers()
            handler.wfile.write(body)
        except OSError:
            pass  # the client went away (a killed worker)

    def _scripted(self) -> tuple[int, dict] | None:
        with self.lock:
            return self.failures.pop(0) if self.failures else None

    def _wait_if_held(self, handler: BaseHTTPRequestHandler, to: str = "") -> None:
        if not self.held.is_set() and self.hold_to in ("", to):
            self.holding_port = handler.client_address[1]  # finds the sending process
            self.holding.set()
            self.held.wait(120)

    def handle(self, method, path, raw, handler):  # pragma: no cover - overridden
        raise NotImplementedError


class FakeTwilio(FakeProvider):
    """POST/GET /2010-04-01/Accounts/{sid}/Messages.json as Twilio answers them."""

    def __init__(self):
        super().__init__()
        self.inbound: list[Sent] = []  # SMS Twilio received for us (listed, direction inbound)

    def receive(self, sender: str, to: str, body: str) -> str:
        """An SMS that reached Twilio for our number `to` (whether or not a webhook brought it
        to us); its MessageSid."""
        message = Sent("SM" + uuid.uuid4().hex, to, body, {"From": sender, "direction": "inbound"})
        with self.lock:
            self.inbound.append(message)
        return message.id

    def handle(self, method, path, raw, handler):
        parts = urlsplit(path)
        if not parts.path.endswith("/Messages.json"):
            return 404, {"code": 20404, "message": "not found", "status": 404}
        if method == "GET":
            # Newest first, one page of PageSize (50 by default) at a time, as Twilio lists.
            query = {k: v[0] for k, v in parse_qs(parts.query).items()}
            to, size = query.get("To", ""), int(query.get("PageSize", 50))
            page = int(query.get("Page", 0))
            listed = sorted(self.sent + self.inbound, key=lambda s: s.at, reverse=True)
            found = [self._resource(s) for s in listed if not to or s.to == to]
            chunk = found[page * size : (page + 1) * size]
            nxt = None
            if len(found) > (page + 1) * size:
                nxt = f"{parts.path}?{urlencode({**query, 'Page': page + 1})}"
            return 200, {"messages": chunk, "next_page_uri": nxt, "page": page, "uri": parts.path}
        form = {k: v[0] for k, v in parse_qs(raw.decode()).items()}
        scripted = self._scripted()
        if scripted:
            status, body = scripted
            return status, {"status": status, "message": "scripted failure", **body}
        sent = Sent(
            id="SM" + uuid.uuid4().hex, to=form.get("To", ""), body=form.get("Body", ""), extra=form
        )
        with self.lock:
            self.sent.append(sent)  # Twilio has the message once it has read the request
        self._wait_if_held(handler, sent.to)
        return 201, self._resource(sent)

    @staticmethod
    def _resource(sent: Sent) -> dict:
        return {
            "sid": sent.id,
            "status": "queued",
            "to": sent.to,
            "from": sent.extra.get("From", ""),
            "body": sent.body,
            "num_segments": "1",
            "date_created": time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime(sent.at)),
            "date_sent": time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime(sent.at)),
            "direction": sent.extra.get("direction", "outbound-api"),
        }


class FakeAndroid(FakeProvider):
    """POST /messages, GET /messages/{id} and POST /messages/inbox/export as SMS Gateway for
    Android answers them."""

    def __init__(self):
        super().__init__()
        self.exports: list[dict] = []  # inbox exports asked for (deviceId, since, until)

    def handle(self, method, path, raw, handler):
        parts = urlsplit(path).path.rstrip("/").split("/")
        if method == "GET" and len(parts) >= 2 and parts[-2] == "messages":
            found = [s for s in self.sent if s.id == parts[-1]]
            if not found:
                return 404, {"message": "message not found"}
            return 200, {"id": found[0].id, "state": "Sent", "recipients": []}
        if method == "POST" and parts[-2:] == ["inbox", "export"]:
            scripted = self._scripted()
            if scripted:
                return scripted
            with self.lock:
                self.exports.append(json.loads(raw))  # the phone sends its inbox as webhooks
            return 202, {}
        if method != "POST" or parts[-1] != "messages":
            return 404, {"message": "not found"}
        data = json.loads(raw)
        scripted = self._scripted()
        if scripted:
            return scripted
        message_id = data.get("id") or uuid.uuid4().hex
        with self.lock:
            duplicate = any(s.id == message_id for s in self.sent)
            if not duplicate:
                for phone in data["phoneNumbers"]:
                    self.sent.append(Sent(message_id, phone, data["textMessage"]["text"], data))
        self._wait_if_held(handler, data["phoneNumbers"][0])
        recipients = [{"phoneNumber": p, "state": "Pending"} for p in data["phoneNumbers"]]
        return 202, {"id": message_id, "state": "Pending", "recipients": recipients}
