"""Drill: hundreds of idle and slow connections do not hold up USSD hops or /healthz."""

from __future__ import annotations

import socket
import threading
import time
from collections import Counter

import pytest
import requests

from bench.common import percentile
from testing.drill import DrillGateway, survivor
from testing.ussd import Help, http_help

pytestmark = [pytest.mark.drill, pytest.mark.timeout(600)]

IDLE = 200  # connections opened and never written to
SLOW_HEADERS = 20  # a request line, then one header byte a second
SLOW_BODIES = 20  # complete headers announcing a body, then one body byte a second
FLOWS = 40  # help flows per run, four at a time (8 hops each)
P99_LIMIT = 0.8  # seconds: well inside an aggregator's few seconds, robust on a busy box


class Crowd:
    """Holds idle and slow connections open to the gateway; reopens any the server closes."""

    def __init__(self, port: int, ussd_path: str):
        self.port = port
        self.path = ussd_path
        self.socks: list[tuple[str, socket.socket]] = []
        self.reopened: Counter[str] = Counter()
        self.stopping = threading.Event()
        for kind, count in (("idle", IDLE), ("headers", SLOW_HEADERS), ("body", SLOW_BODIES)):
            for _ in range(count):
                self.socks.append((kind, self._open(kind)))
        self.thread = threading.Thread(target=self._trickle, daemon=True)
        self.thread.start()

    def _open(self, kind: str) -> socket.socket:
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=5)
        sock.settimeout(0.01)
        if kind == "headers":
            sock.sendall(f"POST {self.path} HTTP/1.1\r\nHost: gateway\r\n".encode())
        elif kind == "body":
            head = (
                f"POST {self.path} HTTP/1.1\r\nHost: gateway\r\n"
                "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 60000\r\n\r\n"
            )
            sock.sendall(head.encode())
        return sock

    def _closed(self, sock: socket.socket) -> bool:
        try:
            return sock.recv(1024) == b""  # answered or closed by the server: reopen
        except (TimeoutError, BlockingIOError):
            return False
        except OSError:
            return True

    def _trickle(self) -> None:
        while not self.stopping.wait(1.0):
            for i, (kind, sock) in enumerate(self.socks):
                try:
                    if kind == "headers":
                        sock.sendall(b"X")
                    elif kind == "body":
                        sock.sendall(b"a")
                    closed = self._closed(sock)
                except OSError:
                    closed = True
                if closed and not self.stopping.is_set():
                    sock.close()
                    self.reopened[kind] += 1
                    try:
                        self.socks[i] = (kind, self._open(kind))
                    except OSError:
                        self.reopened["refused"] += 1

    def close(self) -> None:
        self.stopping.set()
        self.thread.join(10)
        for _, sock in self.socks:
            sock.close()


class TimedSession(requests.Session):
    """A requests session that records how long each answer took and how it began."""

    def __init__(self, seconds: list[float], answers: Counter):
        super().__init__()
        self.seconds, self.answers = seconds, answers

    def request(self, *args, **kwargs):
        started = time.perf_counter()
        response = super().request(*args, **kwargs)
        self.seconds.append(time.perf_counter() - started)
        self.answers[response.text[:3]] += 1
        return response


def run_flows(gateway: DrillGateway, first: int) -> tuple[list[float], Counter, list[str]]:
    """FLOWS help requests, four at a time; hop times, answer kinds, failures."""
    seconds: list[float] = []
    answers: Counter = Counter()
    failures: list[str] = []
    lock = threading.Lock()
    numbers = iter(range(first, first + FLOWS))
    threads = []
    for _ in range(4):
        session = TimedSession(seconds, answers)
        thread = threading.Thread(target=_walk, args=(gateway, session, numbers, lock, failures))
        threads.append(thread)
        thread.start()
    for thread in threads:
        thread.join(300)
    return seconds, answers, failures


def _walk(gateway, session, numbers, lock, failures):
    while True:
        with lock:
            n = next(numbers, None)
        if n is None:
            break
        label = f"D{n % len(gateway.districts) + 1:02d}"
        try:
            phone = survivor(f"+99290006{n:04d}")
            http_help(session, gateway.ussd_url, phone, Help(district=label))
        except Exception as error:  # noqa: BLE001 - counted and reported
            failures.append(type(error).__name__)
    session.close()


def healthz_seconds(gateway: DrillGateway) -> float:
    started = time.perf_counter()
    try:
        requests.get(gateway.base + "/healthz", timeout=30)
    except requests.RequestException:
        return float("inf")
    return time.perf_counter() - started


@pytest.fixture
def gateway(drill_redis, tmp_path):
    running = DrillGateway(drill_redis.url, tmp_path / "gw", SEND_RATE="200")
    yield running
    running.stop()


def test_hops_answer_in_time_beside_hundreds_of_idle_connections(gateway, report):
    quiet, quiet_answers, quiet_failures = run_flows(gateway, 0)
    quiet_health = healthz_seconds(gateway)
    path = gateway.ussd_url.split(gateway.base, 1)[1]
    crowd = Crowd(gateway.port, path)
    try:
        time.sleep(3)  # let every connection reach the server and the slow ones start
        crowded, crowded_answers, crowded_failures = run_flows(gateway, 1000)
        crowded_health = healthz_seconds(gateway)
    finally:
        crowd.close()
    report(
        f"open beside the flows: {IDLE} idle, {SLOW_HEADERS} slow-header, {SLOW_BODIES} slow-body"
    )
    report(
        f"USSD hop p50/p99 without them: {percentile(quiet, 50) * 1000:.0f}/"
        f"{percentile(quiet, 99) * 1000:.0f} ms over {len(quiet)} hops"
    )
    report(
        f"USSD hop p50/p99 with them:    {percentile(crowded, 50) * 1000:.0f}/"
        f"{percentile(crowded, 99) * 1000:.0f} ms over {len(crowded)} hops"
    )
    quiet_ms, crowded_ms = quiet_health * 1000, crowded_health * 1000
    report(f"/healthz without them {quiet_ms:.0f} ms, with them {crowded_ms:.0f} ms")
    report(f"closed by the server and reopened at once by the drill: {dict(crowd.reopened)}")
    failures = quiet_failures + crowded_failures
    report(f"answers {dict(quiet_answers + crowded_answers)}; failed flows {failures}")
    assert not quiet_failures and not crowded_failures
    assert set(quiet_answers) | set(crowded_answers) <= {"CON", "END"}
    assert len(crowded) == len(quiet)
    assert percentile(crowded, 99) < P99_LIMIT
    assert crowded_health < 2.0
