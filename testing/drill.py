"""Failure drills' gateway: the Procfile's processes, fake providers, and the leak scan's net.

A drill registers every number it hands the gateway as hers (`survivor`); after the drill,
`leaks` looks for those numbers and the texts she typed, every responder number and any
unregistered synthetic number, in clear in every process log, spool file and Redis value.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import threading
import time
from pathlib import Path

import psutil
import redis
import requests
import yaml
from twilio.request_validator import RequestValidator

from bench.common import TWILIO, write_directory
from gateway import logs
from testing.env import make_env
from testing.fakes import FakeAndroid, FakeTwilio
from testing.leaks import clear_findings, redis_dump
from testing.processes import Processes, procfile, spawn
from testing.ussd import Help, http_help

ANDROID = {
    "ANDROID_GATEWAY_USER": "gateway",
    "ANDROID_GATEWAY_PASSWORD": "gateway-password",
    "ANDROID_WEBHOOK_SECRET": "android-drill-signing-key",
}
# What the running drill handed the gateway as hers (numbers and typed texts), and the var
# directories of its gateways: the leak scan after each drill looks for them (see leak_scan).
SURVIVORS: set[str] = set()
INPUTS: set[str] = set()
VARS: list[Path] = []


def survivor(number: str, *inputs: str) -> str:
    """Register a number a drill uses as a survivor's (and texts she typed) for the leak scan."""
    SURVIVORS.add(number)
    INPUTS.update(inputs)
    return number


# Any synthetic number (+992 900 xxxxxx) written in any form: the scan's net for a survivor
# number a drill used without registering it. With its country code, it is not part of a longer
# digit run; without it, not glued to letters either: nine digits in a row occur by chance in
# the hex ids of RQ jobs and workers (about once in 15,000 ids), with "992900" in front not.
_SEP = logs.SEPARATOR
_SYNTHETIC = re.compile(
    rf"(?<!\d)9{_SEP}*9{_SEP}*2{_SEP}*9{_SEP}*0{_SEP}*0(?:{_SEP}*\d){{6}}(?!\d)"
    rf"|(?<![0-9A-Za-z])9{_SEP}*0{_SEP}*0(?:{_SEP}*\d){{6}}(?![0-9A-Za-z])"
)


def responders(var: Path) -> set[str]:
    """The responders' numbers in a drill gateway's directory (they reach the fake providers)."""
    path = var / "directory.yaml"
    if not path.exists():
        return set()
    return {str(r["phone"]) for r in yaml.safe_load(path.read_text()).get("responders", [])}


def leaks(redis_client: redis.Redis) -> tuple[list[str], dict[str, int]]:
    """Every survivor number, typed text and responder number found in clear: in every process
    log and spool file of the drill's gateways and in the Redis dump; and what was scanned."""
    files = [
        f
        for var in dict.fromkeys(VARS)
        for folder in (var / "logs", var / "spool")
        if folder.is_dir()
        for f in sorted(folder.iterdir())
        if f.is_file()
    ]
    sources = {f"{f.parent.name}/{f.name}": f.read_bytes() for f in files}
    sources["redis"] = redis_dump(redis_client)
    known = {n for var in VARS for n in responders(var)}
    found: list[str] = []
    for where, blob in sources.items():
        for number in sorted(SURVIVORS | known):
            inputs = sorted(INPUTS) if number in SURVIVORS else []
            whose = "survivor" if number in SURVIVORS else "responder"
            found += [f"{where}: {whose} {line}" for line in clear_findings(blob, number, inputs)]
        text = blob.decode("utf-8", "replace")
        for match in _SYNTHETIC.finditer(text):
            if "\n" in match.group() or "\\n" in match.group():
                continue  # digits on separate lines are separate values (e.g. an RQ result)
            digits = "".join(c for c in match.group() if c.isdigit())[-9:]
            if not any(n.endswith(digits) for n in SURVIVORS | known):
                seen = text[max(0, match.start() - 40) : match.end() + 40]
                found.append(f"{where}: unregistered number {match.group()!r} in clear: {seen!r}")
    scanned = {
        "logs": sum(1 for f in files if f.parent.name == "logs"),
        "spool files": sum(1 for f in files if f.parent.name == "spool"),
        "redis keys": redis_client.dbsize(),
        "MB": round(sum(len(b) for b in sources.values()) / 1e6, 1),
        "survivors": len(SURVIVORS),
        "inputs": len(INPUTS),
        "responders": len(known),
    }
    return found, scanned


def answers(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False


class DrillGateway(Processes):
    """Web and worker from the Procfile, a fake Twilio (and Android), the bench directory."""

    def __init__(
        self,
        redis_url: str,
        var: Path,
        android: bool = False,
        twilio: type[FakeTwilio] = FakeTwilio,
        groups: tuple[dict, ...] = (),
        **extra: str,
    ):
        self.twilio = twilio()
        self.android = FakeAndroid() if android else None
        directory = var / "directory.yaml"
        var.mkdir(parents=True, exist_ok=True)
        self.districts = write_directory(directory)
        if groups:  # a section of its own at the end of the file
            with directory.open("a", encoding="utf-8") as file:
                file.write(yaml.safe_dump({"groups": list(groups)}, sort_keys=False))
        settings = {
            "DIRECTORY_FILE": str(directory),
            "TWILIO_API_URL": self.twilio.url,
            **TWILIO,
            "SEND_RETRY_DELAYS": "1",
        }
        if self.android is not None:
            settings.update(ANDROID, SMS_ROUTES="twilio,android")
            settings["ANDROID_GATEWAY_URL"] = self.android.url
        env = make_env(redis_url, var, **{**settings, **extra})
        self.http = requests.Session()
        self.spare = 0
        VARS.append(var)
        super().__init__(env, var)

    @property
    def ussd_url(self) -> str:
        return f"{self.base}/ussd/africastalking?key={self.env['USSD_KEY']}"

    def ask_for_help(self, phone: str, index: int = 0, strict: bool = True) -> str | None:
        """One English help request from `phone` to district number `index`; its reference."""
        help = Help(district=f"D{index % len(self.districts) + 1:02d}")
        ref, _ = http_help(self.http, self.ussd_url, survivor(phone), help, strict=strict)
        return ref

    def twilio_sms(self, form: dict[str, str], timeout: float = 30) -> int:
        """POST a Twilio inbound webhook form, signed as Twilio signs it; the HTTP status.
        (A request of its own, not the shared session: drills call this from many threads.)"""
        url = self.env["PUBLIC_URL"] + "/sms/twilio"
        signature = RequestValidator(TWILIO["TWILIO_AUTH_TOKEN"]).compute_signature(url, form)
        return requests.post(
            self.base + "/sms/twilio",
            data=form,
            headers={"X-Twilio-Signature": signature},
            timeout=timeout,
        ).status_code

    def restart_exited(self) -> list[str]:
        """Start the worker again if it exited, as a platform restarts a process; what exited."""
        exited = []
        for name in ("worker", "clock"):
            proc = self.procs.get(name)
            if proc is not None and proc.poll() is not None:
                exited.append(f"{name} (exit {proc.returncode})")
                if name == "worker":
                    self.start_worker()
        return exited

    def start_worker(self) -> subprocess.Popen:
        """Another worker from the Procfile line, as a platform restarts a dead process."""
        self.spare += 1
        name = f"worker-{self.spare}"
        proc = spawn(procfile()["worker"], self.env, self.logs / f"{name}.log")
        self.procs[name] = proc
        return proc

    def stop(self) -> None:
        super().stop()
        # A work-horse runs in a process group of its own and outlives a worker that crashed
        # (a Redis outage): end whatever still talks to this drill's Redis.
        for proc in psutil.process_iter(["pid", "environ"]):
            mine = (proc.info["environ"] or {}).get("REDIS_URL") == self.env["REDIS_URL"]
            if mine and proc.pid != os.getpid():
                with contextlib.suppress(psutil.NoSuchProcess):
                    proc.kill()
        self.http.close()
        self.twilio.close()
        if self.android is not None:
            self.android.close()


def help_stream(
    gateway: DrillGateway,
    numbers: str,
    began: float,
    seconds: float,
    pace: float,
    most: int,
    outcomes: list[tuple[float, str | None]],
) -> threading.Thread:
    """A started thread asking for help over USSD one request at a time, one every `pace` s,
    until `seconds` after `began` (at most `most`): her numbers from the format `numbers`
    (e.g. "+99290007{:04d}"), each (its start - began, its reference or None) in `outcomes`."""

    def stream() -> None:
        for i in range(most):
            if time.monotonic() - began > seconds:
                break
            start = time.monotonic()
            ref = gateway.ask_for_help(numbers.format(i), index=i, strict=False)
            outcomes.append((start - began, ref))
            time.sleep(max(0.0, pace - (time.monotonic() - start)))

    thread = threading.Thread(target=stream, daemon=True)
    thread.start()
    return thread


def sent_about(fake, ref: str) -> list:
    """Messages a fake provider accepted that carry this reference."""
    with fake.lock:
        return [s for s in fake.sent if f"#{ref}" in s.body]


def wait_until(check, timeout: float, step: float = 0.2):
    """Poll `check` until truthy or `timeout` s passed; its last value either way."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(step)
