"""`make bench`: USSD, intake, sending, memory and scale figures beside same-run baselines."""

# Everything runs on loopback against servers started here (a throwaway redis-server, gunicorn
# from the Procfile's web line, the Procfile's processes, a fake Twilio) and stopped at the end.
# Every load loop is bounded in time or count. Prints one table and writes bench/results.json.

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

import redis
import requests
from rq import Queue, Worker
from rq.job import Job
from rq.suspension import resume, suspend

from bench.common import (
    BARE_APP,
    TWILIO,
    Web,
    box_busy,
    cpu_seconds,
    help_request,
    percentile,
    wait_quiet,
    write_directory,
)
from config.settings import ROOT, Settings
from gateway import localredis
from gateway.compose import build
from gateway.privacy import Vault
from testing.env import make_env
from testing.fakes import FakeTwilio
from testing.processes import Processes, procfile, wait_for

LUA = Path(__file__).with_name("ussd.lua")
RESULTS = Path(__file__).with_name("results.json")
USSD_PHONES = 900010000  # +99290001xxxx: the measured help flows
FILL_PHONES = 900020000  # +99290002xxxx: sessions left live for the scale test
INTAKE_PHONES = 900030000  # +99290003xxxx: intake and sending cases
NOISY = 0.3  # cores used by other processes that make a cell worth measuring again
TARGETS = {
    "ussd_ratio_16": 0.40,
    "ussd_p99_16_ms": 25.0,
    "intake_p50_ms": 200.0,
    "intake_p99_ms": 1000.0,
    "send_ratio": 0.5,
    "session_bytes": 1024,
    "case_bytes": 4096,
    "scale_p99_ratio": 2.0,
}


class Bench:
    """Owns every process it starts; `close()` stops them all."""

    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.tmp = Path(tempfile.mkdtemp(prefix="hamdam-bench-"))
        self.results: dict = {"cells": [], "started": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
        self.redis_proc = None
        self.servers: list = []
        self.offset = 0  # phones already used by measured flows (rate limit: 5 cases an hour)
        self.runs = 0

    # ---- processes -------------------------------------------------------------------------
    def start_redis(self) -> str:
        port = localredis.free_port()
        self.redis_proc = localredis.start(port, self.tmp / "redis", appendonly=False)
        return f"redis://127.0.0.1:{port}/0"

    def redis_pid(self) -> list[int]:
        return [self.redis_proc.pid] if self.redis_proc else []

    def close(self) -> None:
        for server in reversed(self.servers):
            server.stop()
        self.servers.clear()
        localredis.stop(self.redis_proc)
        if self.args.keep:
            print(f"logs and data kept in {self.tmp}")
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)

    # ---- wrk ---------------------------------------------------------------------------------
    def wrk(self, web: Web, conns: int, seconds: float, mode: str, **extra: str) -> dict:
        """One wrk run (bounded by -d); its figures, with CPU used by us and by others."""
        self.runs += 1
        out = self.tmp / f"wrk-{self.runs}.json"
        command = [
            "wrk",
            f"-t{conns}",
            f"-c{conns}",
            f"-d{max(1, round(seconds))}s",
            "--timeout",
            "5s",
            "-s",
            str(LUA),
            web.url,
            "--",
            f"mode={mode}",
            f"key={web.env['USSD_KEY']}",
            f"threads={conns}",
            f"run=r{self.runs}",
            f"offset={self.offset}",
            f"out={out}",
            *[f"{k}={v}" for k, v in extra.items()],
        ]
        ours = web.pids() + self.redis_pid()
        cpu0, box0, wall0 = cpu_seconds(ours), box_busy(), time.monotonic()
        child0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        proc = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
        filled = 0
        for line in proc.stdout:
            # A fill run ends when every thread has opened its quota of sessions.
            if line.startswith("filled "):
                filled += 1
                if filled == conns:
                    proc.send_signal(signal.SIGINT)
        proc.wait(seconds + 30)
        child1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        wall = time.monotonic() - wall0
        server_cpu = cpu_seconds(ours) - cpu0
        wrk_cpu = (child1.ru_utime + child1.ru_stime) - (child0.ru_utime + child0.ru_stime)
        foreign = (box_busy() - box0 - server_cpu - wrk_cpu) / wall
        data = json.loads(out.read_text(errors="replace"))
        if mode != "bare":
            self.offset += data["counts"]["flows"]
        counts = data["counts"]
        errors = (
            sum(data["socket_errors"].values())
            + counts["bad_status"]
            + counts["bad_answer"]
            + counts["error_end"]
        )
        kinds = {
            kind: {
                "n": len(samples),
                "p50_ms": percentile(samples, 50) / 1000,
                "p99_ms": percentile(samples, 99) / 1000,
            }
            for kind, samples in data.pop("latency_us").items()
        }
        return {
            "mode": mode,
            "conns": conns,
            "seconds": data["duration_us"] / 1e6,
            "requests": data["requests"],
            "rps": data["requests"] / (data["duration_us"] / 1e6),
            "p50_ms": data["p50_us"] / 1000,
            "p99_ms": data["p99_us"] / 1000,
            "max_ms": data["max_us"] / 1000,
            "errors": errors,
            "busy": counts["busy"],
            "counts": counts,
            "socket_errors": data["socket_errors"],
            "by_step": kinds,
            "odd_answers": data.get("odd_answers", []),
            "server_cpu_us_per_req": 1e6 * server_cpu / max(1, data["requests"]),
            "foreign_cores": foreign,
        }

    def cell(self, web: Web, conns: int, mode: str, label: str) -> dict:
        """Warm up, wait for a quiet machine, then measure one cell (again if others were busy)."""
        self.wrk(web, conns, self.args.warmup, mode)
        tries = []
        for _ in range(3):
            load = wait_quiet()
            result = self.wrk(web, conns, self.args.duration, mode)
            result["load_before"] = load
            tries.append(result)
            # Other sessions share this machine: a cell where they used a third of a core or
            # more is measured again, and the quietest attempt is kept.
            if result["foreign_cores"] < NOISY:
                break
        result = min(tries, key=lambda r: r["foreign_cores"])
        result["label"] = label
        result["attempts"] = len(tries)
        self.results["cells"].append(result)
        rate = f"{result['rps']:,.0f} req/s"
        print(
            f"  {label:<22} c={conns:<3} {rate:>12}  p50 {result['p50_ms']:.2f} ms"
            f"  p99 {result['p99_ms']:.2f} ms  errors {result['errors']}"
            f"  noise {result['foreign_cores']:.2f} cores",
            flush=True,
        )
        return result

    # ---- 1, 4a and 5: USSD ------------------------------------------------------------------
    def ussd(self, redis_url: str) -> None:
        print("USSD help flow vs bare endpoint", flush=True)
        # Sessions must outlive the fill and the two scale cells (each may be measured three
        # times when the machine is busy); the TTL only changes an EXPIRE argument.
        ttl = min(3600, max(900, int(self.args.duration + self.args.warmup + 20) * 6 + 300))
        env = make_env(redis_url, self.tmp / "var", SESSION_TTL=str(ttl))
        bare = Web(env, self.tmp / "bare.log", app=BARE_APP)
        self.servers.append(bare)
        gateway = Web(env, self.tmp / "web.log")
        self.servers.append(gateway)
        pairs = {}
        for conns in self.args.conns:
            base = self.cell(bare, conns, "bare", "bare POST")
            flow = self.cell(gateway, conns, "ussd", "USSD help flow")
            pairs[conns] = (flow, base)
        self.results["session_ttl"] = ttl
        self.results["ussd"] = {
            str(c): {"ussd": f, "bare": b, "ratio": f["rps"] / b["rps"]}
            for c, (f, b) in pairs.items()
        }
        client = redis.Redis.from_url(redis_url)
        try:
            self.results["session_memory"] = self.fill(gateway, client, env)
            base = self.cell(bare, 16, "bare", "bare POST (scale)")
            flow = self.cell(gateway, 16, "ussd", "USSD + live sessions")
            live = sum(1 for _ in client.scan_iter(match="hd:ussd:ATUid_fill-*", count=1000))
            self.results["scale"] = {
                "ussd": flow,
                "bare": base,
                "live_sessions_after": live,
                "p99_without_ms": pairs[16][0]["p99_ms"] if 16 in pairs else None,
            }
        finally:
            client.close()
        for server in (gateway, bare):
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
            ref, submitted = help_request(http, url, phone, label)
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
        queue = Queue("alerts", connection=client)
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
        queue = Queue("alerts", connection=client)
        n = self.args.send_cases
        before = set(queue.finished_job_registry.get_job_ids())
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
            plan_ids = list(queue.job_ids)
        # FIFO: every plan job runs before the first send job it enqueued, so the sends form
        # one uninterrupted stretch of the worker's time.
        wait_for(lambda: len(fake.sent) >= sent + 2 * n, 300, "every alert of the send test")
        wait_for(lambda: queue.count == 0, 30, "an empty queue")
        time.sleep(0.5)  # the last send's own bookkeeping
        done = set(queue.finished_job_registry.get_job_ids()) - before
        send_ids = [j for j in done if j.startswith("send-")]
        sends = rq_rate(client, send_ids, "send-")
        plans = rq_rate(client, plan_ids, "plan-")
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
            "plans": plans,
            "trivial": noop,
            "ratio": sends["per_s"] / noop["per_s"] if noop["per_s"] else 0.0,
            "worker": procfile()["worker"],
        }


def wait_sent(fake: FakeTwilio, needle: str, timeout: float) -> float | None:
    """When the fake provider received a message containing `needle` (None after timeout)."""
    deadline = time.monotonic() + timeout
    seen = 0
    while time.monotonic() < deadline:
        with fake.lock:
            fresh = fake.sent[seen:]
            seen += len(fresh)
        for sent in fresh:
            if needle in sent.body:
                return sent.at
        time.sleep(0.002)
    return None


def memory_usage(client: redis.Redis, keys: list) -> int:
    """Sum of MEMORY USAGE (exact, SAMPLES 0) over keys; missing keys count zero."""
    total = 0
    for start in range(0, len(keys), 500):
        with client.pipeline(transaction=False) as pipe:
            for key in keys[start : start + 500]:
                pipe.memory_usage(key, samples=0)
            total += sum(v or 0 for v in pipe.execute())
    return total


def case_memory(client: redis.Redis, settings: Settings) -> dict:
    """Redis bytes per open case: the gateway's keys (store/keys.py), her profile, RQ's jobs."""
    ids = [i.decode() for i in client.zrange("hd:cases:open", 0, -1)]
    n = max(1, len(ids))
    vault = Vault(settings.data_keys)
    keys: list[tuple[str, str]] = []  # (group, key)
    by_case: dict[str, list[str]] = {}
    for key in client.scan_iter(match="hd:msg:*", count=1000):
        case = client.hget(key, "case")
        if case:
            by_case.setdefault(case.decode(), []).append(key.decode())
    for case_id in ids:
        fields = client.hgetall(f"hd:case:{case_id}")
        ref = fields[b"ref"].decode()
        keys += [("gateway", f"hd:case:{case_id}"), ("gateway", f"hd:ref:{ref}")]
        keys.append(("gateway", f"hd:alerted:{case_id}"))
        jobs = [f"plan-{case_id}", f"esc-{case_id}-1"]
        for key in by_case.get(case_id, []):
            mid = key.split(":", 2)[2]
            keys.append(("gateway", key))
            provider = client.hget(key, "provider_id")
            if provider:
                keys.append(("gateway", f"hd:provider:twilio:{provider.decode()}"))
            jobs += [f"send-{mid}", f"rcpt-{mid}"]
        keys += [("rq", f"rq:job:{j}") for j in jobs] + [("rq", f"rq:results:{j}") for j in jobs]
        if b"enc:phone" in fields:
            phone = vault.decrypt(fields[b"enc:phone"])
            keys.append(("profile", f"hd:phone:{vault.digest(phone)}"))
    # Shared keys are charged in full, split evenly over the cases.
    keys += [("gateway", "hd:cases:open"), ("rq", "rq:finished:alerts")]
    keys += [("rq", "rq:scheduled:alerts")]
    sizes = [memory_usage(client, [key]) for _, key in keys]
    groups: dict[str, float] = {}
    classes: dict[str, float] = {}
    for (group, key), size in zip(keys, sizes, strict=True):
        groups[group] = groups.get(group, 0) + size / n
        name = ":".join(key.split(":", 2)[:2])
        classes[name] = classes.get(name, 0) + size / n
    return {
        "cases": len(ids),
        "messages_per_case": sum(len(v) for v in by_case.values()) / n,
        "gateway_bytes": groups.get("gateway", 0.0),
        "phone_profile_bytes": groups.get("profile", 0.0),
        "rq_bytes": groups.get("rq", 0.0),
        "total_bytes": sum(groups.values()),
        "by_key_class": {k: round(v) for k, v in sorted(classes.items(), key=lambda kv: -kv[1])},
    }


@contextmanager
def paused(client: redis.Redis, queue: Queue):
    """Hold the worker while jobs are enqueued, so they are run back to back afterwards."""
    suspend(client)
    # A worker blocked in BLMOVE only sees the suspension after one more job: give each of the
    # pool's workers one.
    for _ in Worker.all(connection=client):
        queue.enqueue("bench.jobs.noop", -1)
    try:
        wait_for(lambda: suspended(client), 60, "the worker to pause")
        yield
    finally:
        resume(client)


def suspended(client: redis.Redis) -> bool:
    """True when every worker reports itself suspended."""
    workers = Worker.all(connection=client)
    return bool(workers) and all(w.get_state() == "suspended" for w in workers)


def finished(client: redis.Redis, ids: list[str]) -> bool:
    """True when every one of these jobs has ended."""
    return all(j is not None and j.ended_at for j in Job.fetch_many(ids, connection=client))


def rq_rate(client: redis.Redis, ids: list[str], prefix: str) -> dict:
    """Jobs per second from the first start to the last end among these jobs (RQ's own stamps)."""
    jobs = [
        j
        for j in Job.fetch_many([i for i in ids if i.startswith(prefix)], connection=client)
        if j is not None and j.started_at and j.ended_at
    ]
    if not jobs:
        return {"n": 0, "per_s": 0.0, "ms_per_job": 0.0}
    first = min(j.started_at for j in jobs)
    last = max(j.ended_at for j in jobs)
    span = (last - first).total_seconds()
    busy = statistics.fmean((j.ended_at - j.started_at).total_seconds() for j in jobs)
    return {
        "n": len(jobs),
        "per_s": len(jobs) / span if span > 0 else 0.0,
        "ms_per_job": 1000 * span / len(jobs),
        "ms_in_job": 1000 * busy,
    }


STEPS = (("first", "first screen"), ("menu", "menu step"), ("submit", "final submit"))


# ---- the table -----------------------------------------------------------------------------
def verdict(ok: bool | None) -> str:
    return "-" if ok is None else ("PASS" if ok else "FAIL")


def table(results: dict, args: argparse.Namespace) -> str:
    """The one table of the run."""
    rows: list[tuple[str, ...]] = []
    head = ("#", "what", "c", "figure", "p50 ms", "p99 ms", "err", "baseline (same run)")
    head += ("ratio", "target", "result", "noise")
    t = TARGETS
    for conns, pair in results.get("ussd", {}).items():
        flow, base, ratio = pair["ussd"], pair["bare"], pair["ratio"]
        ok, target = None, "-"
        if conns == "16":
            target = f">={t['ussd_ratio_16']:.2f}, p99<={t['ussd_p99_16_ms']:.0f}, 0 err"
            ok = ratio >= t["ussd_ratio_16"] and flow["p99_ms"] <= t["ussd_p99_16_ms"]
            ok = ok and flow["errors"] == 0
        busy = f" +{flow['busy']} busy" if flow["busy"] else ""
        rows.append(
            (
                "1",
                "USSD help-flow steps (mix)",
                conns,
                f"{flow['rps']:,.0f} req/s",
                f"{flow['p50_ms']:.2f}",
                f"{flow['p99_ms']:.2f}",
                f"{flow['errors']}{busy}",
                f"bare {base['rps']:,.0f} req/s, p99 {base['p99_ms']:.2f}",
                f"{ratio:.2f}",
                target,
                verdict(ok),
                f"{max(flow['foreign_cores'], base['foreign_cores']):.2f}",
            )
        )
        if conns == "16":
            for kind, label in STEPS:
                step = flow["by_step"][kind]
                rows.append(
                    ("1", f"  of which {label}", conns, f"{step['n']:,} reqs")
                    + (f"{step['p50_ms']:.2f}", f"{step['p99_ms']:.2f}", "", "", "", "", "", "")
                )
    intake = results.get("intake")
    if intake:
        chain = intake["chain"]
        ok = intake["p50_ms"] <= t["intake_p50_ms"] and intake["p99_ms"] <= t["intake_p99_ms"]
        ok = ok and intake["missing"] == 0
        rows.append(
            (
                "2",
                "submit -> first alert at fake Twilio",
                "1",
                f"{intake['cases'] - intake['missing']}/{intake['cases']} cases",
                f"{intake['p50_ms']:.0f}",
                f"{intake['p99_ms']:.0f}",
                str(intake["missing"]),
                f"RQ 2-job chain p50 {chain['p50_ms']:.0f}, p99 {chain['p99_ms']:.0f} ms",
                f"{intake['p50_ms'] / chain['p50_ms']:.1f}x" if chain["p50_ms"] else "-",
                f"p50<={t['intake_p50_ms']:.0f}, p99<={t['intake_p99_ms']:.0f} ms",
                verdict(ok),
                "",
            )
        )
    sending = results.get("sending")
    if sending:
        alerts, noop = sending["alerts"], sending["trivial"]
        rows.append(
            (
                "3",
                "alerts sent per second, worker pool",
                "1",
                f"{alerts['per_s']:.1f}/s ({alerts['n']})",
                "",
                "",
                "",
                f"trivial RQ job {noop['per_s']:.1f}/s ({noop['n']})",
                f"{sending['ratio']:.2f}",
                f">={t['send_ratio']}",
                verdict(sending["ratio"] >= t["send_ratio"]),
                "",
            )
        )
    session = results.get("session_memory")
    if session:
        rows.append(
            (
                "4",
                "Redis bytes per live USSD session",
                "",
                f"{session['per_session_bytes']:,.0f} B",
                "",
                "",
                "",
                f"used_memory delta {session['used_memory_delta_per_session']:,.0f} B",
                "",
                f"<={t['session_bytes']}",
                verdict(session["per_session_bytes"] <= t["session_bytes"]),
                "",
            )
        )
    case = results.get("case_memory")
    if case:
        rows.append(
            (
                "4",
                "Redis bytes per open case + alerts",
                "",
                f"{case['gateway_bytes']:,.0f} B",
                "",
                "",
                "",
                f"+profile {case['phone_profile_bytes']:,.0f}, +RQ jobs {case['rq_bytes']:,.0f} B",
                "",
                f"<={t['case_bytes']}",
                verdict(case["gateway_bytes"] <= t["case_bytes"]),
                "",
            )
        )
    scale = results.get("scale")
    if scale and scale["p99_without_ms"]:
        flow, base = scale["ussd"], scale["bare"]
        ratio = flow["p99_ms"] / scale["p99_without_ms"]
        ok = ratio <= t["scale_p99_ratio"] and flow["errors"] == 0
        rows.append(
            (
                "5",
                f"USSD with {scale['live_sessions_after']:,} live sessions",
                "16",
                f"{flow['rps']:,.0f} req/s",
                f"{flow['p50_ms']:.2f}",
                f"{flow['p99_ms']:.2f}",
                str(flow["errors"]),
                f"p99 without {scale['p99_without_ms']:.2f}; bare {base['rps']:,.0f} req/s",
                f"{ratio:.2f}",
                f"p99 ratio<={t['scale_p99_ratio']:.0f}",
                verdict(ok),
                f"{max(flow['foreign_cores'], base['foreign_cores']):.2f}",
            )
        )
    rows = [tuple(str(c) for c in row) for row in rows]
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    line = "  ".join("-" * w for w in widths)
    out = [
        f"Hamdam bench {results['started']}  ({results['machine']}; {args.duration:g} s per cell)",
        "  ".join(h.ljust(w) for h, w in zip(head, widths, strict=True)),
        line,
    ]
    out += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    out.append(line)
    out.append(
        "noise = CPU cores used by other processes on the machine during the cell; "
        "err = socket errors, non-200 and wrong screens"
    )
    return "\n".join(out)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="short smoke run (~1 minute)")
    parser.add_argument("--duration", type=float, default=None, help="seconds per wrk cell (10)")
    parser.add_argument("--sessions", type=int, default=None, help="live sessions (10000)")
    parser.add_argument("--cases", type=int, default=None, help="cases for the intake test (200)")
    parser.add_argument("--only", choices=("ussd", "intake"), help="run one part only")
    parser.add_argument("--out", type=Path, default=RESULTS, help="results file")
    parser.add_argument("--keep", action="store_true", help="keep logs and Redis data afterwards")
    args = parser.parse_args(argv)
    quick = args.quick
    args.duration = args.duration or (3.0 if quick else 10.0)
    args.warmup = 1.0 if quick else 2.0
    args.sessions = args.sessions or (2000 if quick else 10000)
    args.cases = args.cases or (30 if quick else 200)
    args.chain = 10 if quick else 30
    args.send_cases = 30 if quick else 150
    args.conns = (1, 16, 64)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if shutil.which("wrk") is None:
        print("bench: wrk not found; install it with: apt-get install -y wrk", file=sys.stderr)
        return 2
    bench = Bench(args)
    bench.results["machine"] = f"{os.cpu_count()} cores, Python {platform.python_version()}"
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
