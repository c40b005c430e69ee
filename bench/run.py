"""`make bench`: USSD, intake, sending, memory and scale figures beside same-run baselines."""

# Everything runs on loopback against servers started here (a throwaway redis-server, gunicorn
# from the Procfile's web line, the Procfile's processes, a fake Twilio) and stopped at the end.
# Every load loop is bounded in time or count. Prints one table and writes bench/results.json.

from __future__ import annotations

import json
import logging
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

import redis
import requests
from rq import Queue

from bench.common import (
    BARE_APP,
    FLOOR_APP,
    TWILIO,
    Web,
    percentile,
    write_directory,
)
from bench.harness import Harness, parse_args
from bench.measure import (
    arrival_rate,
    case_memory,
    finished,
    memory_usage,
    paused,
    rq_rate,
    wait_sent,
)
from bench.profile import ussd_profile
from bench.report import TARGETS, table
from config.settings import ROOT, Settings
from gateway.compose import build
from gateway.jobs import ALERTS_QUEUE
from gateway.privacy import Vault
from gateway.store.keys import OPEN_CASES
from testing.env import make_env
from testing.fakes import FakeTwilio
from testing.processes import Processes, procfile, wait_for
from testing.ussd import Help, http_help

USSD_PHONES = 900010000  # +99290001xxxx: the measured help flows
# The floor (bench/floor.py) is measured at the connections of the hop's throughput target.
FLOOR_CONNS = 16
FILL_PHONES = 900020000  # +99290002xxxx: sessions left live for the scale test
INTAKE_PHONES = 900030000  # +99290003xxxx: intake and sending cases


def round_trips(redis_url: str, tmp: Path, offset: int = 0) -> dict:
    """Redis round trips of each kind of hop over 30 help flows (bench.profile), as counted."""
    summary = ussd_profile(redis_url, tmp, 30, offset=offset)["summary"]
    return {kind: figures["round_trips"] for kind, figures in summary.items()}


class Bench(Harness):
    """The measured parts: USSD, intake, sending, memory and scale."""

    def ussd(self, redis_url: str) -> None:
        print("USSD help flow vs bare endpoint", flush=True)
        # Sessions must outlive the fill and the two scale cells (each may be measured three
        # times when the machine is busy); the TTL only changes an EXPIRE argument.
        ttl = min(3600, max(900, int(self.args.duration + self.args.warmup + 20) * 6 + 300))
        env = make_env(redis_url, self.tmp / "var", SESSION_TTL=str(ttl))
        bare = Web(env, self.tmp / "bare.log", app=BARE_APP)
        self.servers.append(bare)
        floor = Web(env, self.tmp / "floor.log", app=FLOOR_APP)
        self.servers.append(floor)
        gateway = Web(env, self.tmp / "web.log")
        self.servers.append(gateway)
        # Counted on the store's own connection pool, hop by hop, in this process, before the
        # cells below open thousands of cases: with 10,000 open, 4-digit references are mostly
        # taken and a new case's takes a second batch (counted again after them, below).
        self.results["round_trips"] = round_trips(redis_url, self.tmp / "counted")
        pairs, floors = {}, {}
        for conns in self.args.conns:
            base = self.cell(bare, conns, "bare", "bare POST")
            if conns == FLOOR_CONNS:
                floors[conns] = self.cell(floor, conns, "bare", "floor (2 round trips)")
            flow = self.cell(gateway, conns, "ussd", "USSD help flow")
            pairs[conns] = (flow, base)
        self.results["session_ttl"] = ttl
        self.results["ussd"] = {
            str(c): {"ussd": f, "bare": b, "ratio": f["rps"] / b["rps"]}
            | ({"floor": floors[c]} if c in floors else {})
            for c, (f, b) in pairs.items()
        }
        client = redis.Redis.from_url(redis_url)
        try:
            self.results["session_memory"] = self.fill(gateway, client, env)
            base = self.cell(bare, 16, "bare", "bare POST (scale)")
            flow = self.cell(gateway, 16, "ussd", "USSD + live sessions")
            live = sum(1 for _ in client.scan_iter(match="hd:ussd:ATUid_fill-*", count=1000))
            # Counted again now that thousands of cases are open and most 4-digit references
            # are taken: a new case tries a batch of references per round trip.
            self.results["round_trips_crowded"] = {
                "open_cases": client.zcard(OPEN_CASES),
                **round_trips(redis_url, self.tmp / "crowded", offset=20000),
            }
            self.results["scale"] = {
                "ussd": flow,
                "bare": base,
                "live_sessions_after": live,
                "p99_without_ms": pairs[16][0]["p99_ms"] if 16 in pairs else None,
            }
        finally:
            client.close()
        for server in (gateway, floor, bare):
            server.stop()
            self.servers.remove(server)

    def fill(self, web: Web, client: redis.Redis, env: dict) -> dict:
        """Leave `--sessions` USSD sessions live (language chosen); measure their Redis bytes."""
        print(f"filling {self.args.sessions:,} live sessions", flush=True)
        used0 = int(client.info("memory")["used_memory"])
        conns = 16
        quota = -(-self.args.sessions // conns)
        saved = self.offset
        self.offset = 0
        run = self.wrk(web, conns, 300, "fill", base=str(FILL_PHONES), quota=str(quota), run="fill")
        self.offset = saved
        used1 = int(client.info("memory")["used_memory"])
        vault = Vault(Settings.from_env(env).data_keys)
        sessions = list(client.scan_iter(match="hd:ussd:ATUid_fill-*", count=1000))
        phones = [f"+992{FILL_PHONES + i:09d}" for i in range(quota * conns)]
        resume = [f"hd:resume:{vault.digest(p)}" for p in phones]
        profile = [f"hd:phone:{vault.digest(p)}" for p in phones]
        ussd_bytes = memory_usage(client, sessions)
        resume_bytes = memory_usage(client, resume)
        profile_bytes = memory_usage(client, profile)
        n = max(1, len(sessions))
        return {
            "sessions": len(sessions),
            "fill_requests": run["requests"],
            # wrk is stopped with SIGINT once every thread has its quota: connections still
            # open then count as socket errors, so only wrong answers count here.
            "fill_errors": run["errors"] - sum(run["socket_errors"].values()),
            "fill_odd_answers": run["odd_answers"],
            "ussd_key_bytes": ussd_bytes / n,
            "resume_key_bytes": resume_bytes / n,
            "per_session_bytes": (ussd_bytes + resume_bytes) / n,
            "phone_profile_bytes": profile_bytes / n,
            "used_memory_delta_per_session": (used1 - used0) / n,
        }

    # ---- 2 and 4b: intake to provider --------------------------------------------------------
    def intake(self, redis_url: str) -> None:
        client = redis.Redis.from_url(redis_url)
        client.flushall()
        fake = FakeTwilio()
        directory = self.tmp / "directory.yaml"
        districts = write_directory(directory)
        env = make_env(
            redis_url,
            self.tmp / "var",
            DIRECTORY_FILE=str(directory),
            TWILIO_API_URL=fake.url,
            **TWILIO,
        )
        procs = Processes(env, self.tmp / "procs")
        self.servers.append(procs)
        try:
            print("RQ floor: trivial two-job chain to the fake provider", flush=True)
            chain = self.chain(client, fake)
            self.intake_cases(procs, env, fake, districts)
            self.results["intake"]["chain"] = chain
            alerts = 2 * self.args.cases
            wait_for(lambda: len([s for s in fake.sent if "#" in s.body]) >= alerts, 30, "alerts")
            self.results["case_memory"] = case_memory(client, Settings.from_env(env))
            self.sending(client, fake, env, districts)
        finally:
            procs.stop()
            self.servers.remove(procs)
            fake.close()
            client.close()

    def intake_cases(self, procs, env, fake, districts) -> None:
        """Help requests one after another; submit -> first alert at the provider, each."""
        print(f"intake to first alert, {self.args.cases} cases one after another", flush=True)
        latencies, missing = [], 0
        http = requests.Session()
        url = f"{procs.base}/ussd/africastalking?key={env['USSD_KEY']}"
        for i in range(self.args.cases):
            phone = f"+992{INTAKE_PHONES + i:09d}"
            label = f"D{(i % len(districts)) + 1:02d}"
            ref, submitted = http_help(http, url, phone, Help(district=label))
            found = wait_sent(fake, f"#{ref}", 10.0)
            if found is None:
                missing += 1
                continue
            latencies.append((found - submitted) * 1000)
        http.close()
        self.results["intake"] = {
            "cases": self.args.cases,
            "missing": missing,
            "p50_ms": percentile(latencies, 50),
            "p99_ms": percentile(latencies, 99),
            "max_ms": max(latencies, default=0.0),
            "mean_ms": statistics.fmean(latencies) if latencies else 0.0,
        }

    def chain(self, client: redis.Redis, fake: FakeTwilio) -> dict:
        """Enqueue -> relay job -> post job -> fake provider: RQ's own two-hop latency."""
        queue = Queue(ALERTS_QUEUE, connection=client)
        url = f"{fake.url}/2010-04-01/Accounts/{TWILIO['TWILIO_ACCOUNT_SID']}/Messages.json"
        samples = []
        for _ in range(self.args.chain):
            tag = uuid.uuid4().hex
            start = time.time()
            queue.enqueue("bench.jobs.relay", url, tag)
            found = wait_sent(fake, f"relay {tag}", 10.0)
            if found is not None:
                samples.append((found - start) * 1000)
        return {
            "n": len(samples),
            "p50_ms": percentile(samples, 50),
            "p99_ms": percentile(samples, 99),
        }

    # ---- 3: sending --------------------------------------------------------------------------
    def sending(self, client, fake: FakeTwilio, env: dict, districts: list) -> None:
        print("sending: alerts per second vs trivial jobs, the Procfile's worker pool", flush=True)
        context = build(Settings.from_env(env))
        queue = Queue(ALERTS_QUEUE, connection=client)
        n = self.args.send_cases
        sent = len(fake.sent)
        with paused(client, queue):
            for i in range(n):
                answers = {
                    "kind": "legal",
                    "district": districts[i % len(districts)],
                    "consent": "group",
                    "call": "any",
                    "sms": "no",
                }
                phone = f"+992{INTAKE_PHONES + 5000 + i:09d}"
                context.opening.open(phone, answers, "ussd", "en")
        # FIFO: every plan job runs before the first send job it enqueued, so the sends form
        # one uninterrupted stretch of the worker's time.
        wait_for(lambda: len(fake.sent) >= sent + 2 * n, 300, "every alert of the send test")
        wait_for(lambda: queue.count == 0, 30, "an empty queue")
        time.sleep(0.5)  # the last send's own bookkeeping
        # A job that succeeded is deleted at once (gateway/jobs.py: RESULT_KEPT), so the
        # sends are timed by their arrival at the provider.
        with fake.lock:
            sends = arrival_rate([s.at for s in fake.sent[sent:]])
        with paused(client, queue):
            jobs = queue.enqueue_many(
                [Queue.prepare_data("bench.jobs.noop", args=(i,)) for i in range(2 * n)]
            )
        ids = [j.id for j in jobs]
        wait_for(lambda: finished(client, ids), 300, "the trivial jobs")
        noop = rq_rate(client, ids, "")
        context.store.redis.close()
        self.results["sending"] = {
            "alerts": sends,
            "trivial": noop,
            "ratio": sends["per_s"] / noop["per_s"] if noop["per_s"] else 0.0,
            "worker": procfile()["worker"],
        }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv, __doc__.split("\n")[0])
    # The gateway's own log lines (from the parts measured in this process) are not the table's.
    logging.getLogger("gateway").setLevel(logging.WARNING)
    if shutil.which("wrk") is None:
        print("bench: wrk not found; install it with: apt-get install -y wrk", file=sys.stderr)
        return 2
    bench = Bench(args)
    bench.results["machine"] = f"{os.cpu_count()} cores, Python {platform.python_version()}"
    found = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    dirty = subprocess.run(["git", "status", "--porcelain"], capture_output=True, text=True)
    commit = found.stdout.strip() or "unknown"
    bench.results["commit"] = commit + (" (with uncommitted changes)" if dirty.stdout else "")
    try:
        url = bench.start_redis()
        if args.only in (None, "ussd"):
            bench.ussd(url)
        if args.only in (None, "intake"):
            bench.intake(url)
    finally:
        bench.close()
    bench.results["targets"] = TARGETS
    print()
    print(table(bench.results, args))
    args.out.write_text(json.dumps(bench.results, indent=2, default=str) + "\n")
    print(f"\nwrote {args.out.relative_to(ROOT) if args.out.is_relative_to(ROOT) else args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
