"""The bench's processes and its wrk cells: every process started here is stopped by close()."""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from bench.common import (
    Web,
    box_busy,
    cpu_seconds,
    percentile,
    wait_quiet,
)
from gateway import localredis

LUA = Path(__file__).with_name("ussd.lua")
NOISY = 0.3  # cores used by other processes that make a cell worth measuring again


RESULTS = Path(__file__).with_name("results.json")


def parse_args(argv: list[str] | None, description: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=description)
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
    args.conns = (1, 16, 64, 256)
    return args


class Harness:
    """Owns every process it starts (`close()` stops them all) and measures load with wrk."""

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
