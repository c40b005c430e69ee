"""Where a USSD hop and an alert send spend their time (pyinstrument), and Redis round trips."""

# `python -m bench.profile` runs the Flask app in-process (the whole WSGI stack: no gunicorn,
# no sockets but Redis) against a throwaway redis-server, then one send job in a work-horse
# forked from a warmed worker, and prints both profiles with a summary by component.

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from collections import Counter, defaultdict
from pathlib import Path

import redis
from pyinstrument import Profiler
from werkzeug.test import EnvironBuilder

from bench.common import TWILIO, percentile
from config.settings import ROOT, Settings
from gateway import localredis
from gateway.store.keys import OPEN_CASES
from testing.env import make_env
from testing.fakes import FakeTwilio

FLOW = ["", "4", "1", "2", "1", "1", "1", "1"]
# Self time is charged to the first component whose marker is in the frame's file path.
COMPONENTS = [
    ("redis-py client", "/redis/"),
    ("Fernet / cryptography", "/cryptography/"),
    ("HMAC, hashlib", "/hmac.py"),
    ("json", "/json/"),
    ("logging", "/logging/"),
    ("rq", "/rq/"),
    ("twilio SDK", "/twilio/"),
    ("requests, urllib3", "/requests/"),
    ("requests, urllib3", "/urllib3/"),
    ("PyYAML", "/yaml/"),
    ("import machinery", "<frozen importlib"),
    ("werkzeug", "/werkzeug/"),
    ("flask", "/flask/"),
    ("menus (engine, render)", "/menus/"),
    ("gateway.store", "/gateway/store/"),
    ("gateway (other)", "/gateway/"),
    ("socket I/O", "/socket.py"),
]


class CountingConnection(redis.Connection):
    """A Redis connection that counts round trips (one packed send per command or pipeline)."""

    sends = 0

    def send_packed_command(self, command, check_health=True):
        CountingConnection.sends += 1
        return super().send_packed_command(command, check_health)


def components(profiler: Profiler) -> list[tuple[str, float]]:
    """Self time per component, largest first, as fractions of the whole."""
    root = profiler.last_session.root_frame()
    totals: dict[str, float] = defaultdict(float)

    def walk(frame, inherited: str) -> None:
        path = frame.file_path or ""
        name = next((label for label, marker in COMPONENTS if marker in path), None)
        if name is None:
            # C functions and pyinstrument's [self] frames belong to whoever called them,
            # except the waits on a socket, which are the Redis round trips themselves.
            function = frame.function or ""
            waiting = any(w in function for w in ("recv", "sendall", "poll", "select"))
            name = "socket I/O" if waiting else (inherited if not path.startswith("/") else "other")
        totals[name] += frame.total_self_time
        for child in frame.children:
            walk(child, name)

    walk(root, "other")
    whole = sum(totals.values()) or 1.0
    return sorted(((k, v / whole) for k, v in totals.items()), key=lambda kv: -kv[1])


def ussd_profile(url: str, tmp: Path, flows: int, offset: int = 0) -> dict:
    """Profile `flows` English help flows through the WSGI app; round trips per hop kind.
    `offset` moves the phones and sessions used, for a second call on the same Redis."""
    from gateway.app import create_app

    settings = Settings.from_env(make_env(url, tmp / "var"))
    app = create_app(settings)
    # Every repository, and the job queue, share the store's client: count on its pool.
    pool = app.extensions["hamdam"].store.redis.connection_pool
    pool.connection_class = CountingConnection
    pool.disconnect()
    path = f"/ussd/africastalking?key={settings.ussd_key}"

    def environ(session: str, phone: str, text: str) -> dict:
        form = {
            "sessionId": session,
            "serviceCode": "*384#",
            "phoneNumber": phone,
            "networkCode": "43612",
            "text": text,
        }
        return EnvironBuilder(path=path, method="POST", data=form).get_environ()

    def start_response(status, headers, exc_info=None):
        if not status.startswith("200"):
            raise RuntimeError(f"USSD answered {status}")

    def run(count: int, first: int, profiler: Profiler | None) -> dict[str, list]:
        kinds: dict[str, list] = defaultdict(list)
        for i in range(count):
            phone = f"+992{900050000 + offset + first + i:09d}"
            prepared = [
                environ(f"prof-{offset + first + i}", phone, "*".join(FLOW[1 : k + 1]))
                for k in range(len(FLOW))
            ]
            for k, env in enumerate(prepared):
                kind = "first" if k == 0 else ("submit" if k == len(FLOW) - 1 else "menu")
                sends, started = CountingConnection.sends, time.perf_counter()
                if profiler:
                    profiler.start()
                body = b"".join(app(env, start_response))
                if profiler:
                    profiler.stop()
                took = time.perf_counter() - started
                kinds[kind].append((CountingConnection.sends - sends, took))
                expected = b"END " if kind == "submit" else b"CON "
                if not body.startswith(expected):
                    raise RuntimeError(f"unexpected screen {body[:60]!r}")
        return kinds

    run(30, 0, None)  # warm-up: imports, script loading, connection
    timed = run(flows, 1000, None)
    profiler = Profiler(interval=0.0002)
    run(flows, 5000, profiler)
    summary = {
        kind: {
            "hops": len(rows),
            "round_trips": Counter(r for r, _ in rows).most_common(),
            "p50_ms": 1000 * percentile([t for _, t in rows], 50),
        }
        for kind, rows in timed.items()
    }
    pool.disconnect()
    return {"summary": summary, "profiler": profiler}


SEND_CHILD = textwrap.dedent(
    """
    import os, sys, time
    import config.rq  # what `rq worker -c config.rq -w workers.worker.Worker` has loaded
    from workers import jobs
    jobs.warm()  # workers.worker.Worker builds the context before it forks
    config.rq.connection().ping()  # the worker talks to Redis before forking
    from pyinstrument import Profiler
    pid = os.fork()  # the work-horse: a fork per job, as rq.Worker does
    if pid:
        os.waitpid(pid, 0)
        sys.exit(0)
    profiler = Profiler(interval=0.0002)
    started = time.perf_counter()
    profiler.start()
    outcome = jobs.send_message(sys.argv[1])
    profiler.stop()
    print(f"outcome {outcome!r} in {1000 * (time.perf_counter() - started):.1f} ms", flush=True)
    profiler.print(show_all=False, short_mode=False, color=False)
    os._exit(0)
    """
)


def send_profile(url: str, tmp: Path) -> str:
    """Profile one alert send in a work-horse forked from a warmed worker process."""
    from gateway.compose import build

    fake = FakeTwilio()
    env = make_env(
        url,
        tmp / "var",
        TWILIO_API_URL=fake.url,
        **TWILIO,
    )
    try:
        context = build(Settings.from_env(env))
        answers = {"kind": "legal", "district": "vakhsh", "consent": "group", "call": "any"}
        context.opening.open("+992900059999", answers, "ussd", "en")
        case_id = context.store.redis.zrange(OPEN_CASES, 0, 0)[0].decode()
        context.alerting.start(case_id)
        mids = [k.decode().split(":", 2)[2] for k in context.store.redis.scan_iter("hd:msg:*")]
        context.store.redis.close()
        child_env = {**os.environ, **env, "LOG_LEVEL": "WARNING"}
        done = subprocess.run(
            [sys.executable, "-c", SEND_CHILD, mids[0]],
            cwd=ROOT,
            env=child_env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        return done.stdout + done.stderr
    finally:
        fake.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__)
    parser.add_argument("--flows", type=int, default=300, help="profiled help flows (300)")
    args = parser.parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="hamdam-profile-"))
    port = localredis.free_port()
    proc = localredis.start(port, tmp / "redis", appendonly=False)
    url = f"redis://127.0.0.1:{port}/0"
    try:
        ussd = ussd_profile(url, tmp, args.flows)
        redis.Redis.from_url(url).flushall()
        send = send_profile(url, tmp)
    finally:
        localredis.stop(proc)
        shutil.rmtree(tmp, ignore_errors=True)
    profiler = ussd["profiler"]
    print(f"== USSD hop, in-process WSGI, {args.flows} flows x {len(FLOW)} hops ==")
    for kind, row in ussd["summary"].items():
        print(
            f"  {kind:<7} {row['hops']:>5} hops  p50 {row['p50_ms']:.2f} ms  "
            f"Redis round trips per hop (count, hops): {row['round_trips']}"
        )
    print("  self time by component:")
    for name, share in components(profiler):
        if share >= 0.005:
            print(f"    {share:6.1%}  {name}")
    print(profiler.output_text(show_all=False, color=False, time="percent_of_total"))
    print("== one alert send in a work-horse forked from the warmed worker ==")
    print(send)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
