"""Drill: one whole host (web, worker pool with its work-horses and scheduler, clock) is SIGKILLed
under a stream of help requests; a second host on the same Redis carries on alone.

Two hosts are the Procfile's three processes, twice, on ports and VAR_DIRs of their own, with
one DATA_KEY, one directory and one provider. A load balancer spreads every USSD hop over both
web ports and takes a web out of rotation once it refuses a connection.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import threading
import time
from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit

import psutil
import pytest
import requests
import urllib3
from rq import Queue, Worker
from rq.cron import get_cron_job_ids
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus
from rq.scheduler import SCHEDULER_KEY_TEMPLATE, RQScheduler

from gateway import logs
from gateway.jobs import ALERTS_QUEUE, send_job
from gateway.store.keys import CASE, CASE_MESSAGES, MESSAGE, OPEN_CASES, REF
from testing.drill import DrillGateway, sent_about, survivor, wait_until
from testing.processes import session_members
from testing.ussd import Help, http_help

pytestmark = [pytest.mark.drill, pytest.mark.timeout(1500)]

PHONES = "+99290002{:04d}"  # her numbers in this drill (no other drill uses +99290002xxxx)
STREAM_SECONDS = 30  # the whole stream; host A dies from second 10 on (see PROBE_AT)
PROBE_AT = 10.0  # a send is held at the provider from here until host A's worker has one
PACE = 0.25  # seconds between the starts of two help requests (one at a time)
MAX_REQUESTS = 160
# The stream asks districts D01..D30; D31..D40 are the probes': a send to their first leader is
# held at the provider until host A's worker is the one sending it.
STREAM_DISTRICTS = 30
DUTY = "+992900049999"  # tier 2 of every district (bench/common.py write_directory)
# A killed worker's job is found abandoned once its heartbeat lapses (90 s) at the next
# maintenance pass (every 60 s) and retried by a scheduler; the dead one's lock lapses after
# 61 s and a surviving worker takes it at its maintenance. README: about two minutes.
RECOVERY_LIMIT = 420
SETTINGS = {
    "SEND_RATE": "200",
    "ESCALATE_AFTER": "10",  # the lowest allowed: tier 2 is due 10 s after a case opens
    "ESCALATE_AFTER_URGENT": "10",
    "REMIND_EVERY": "3600",  # no duty reminder within the drill
    "ALERTS_PER_HOUR": "10000",  # the duty officer gets every case's tier-2 alert
    "SEND_TIMEOUT": "20",  # the held send waits at the provider until host A is killed
}
LOCK = RQScheduler.get_locking_key(ALERTS_QUEUE)


def lock_holder(client) -> tuple[str, int]:
    """The scheduler holding the alerts queue's lock and its process id ("", 0: none)."""
    name = client.get(LOCK)
    if not name:
        return "", 0
    pid = client.hget(SCHEDULER_KEY_TEMPLATE % name.decode(), "pid")
    return name.decode(), int(pid or 0)


def host_of(pid: int, hosts: dict[str, DrillGateway]) -> str:
    """Which host's worker pool a process belongs to (its session), "gone" when dead."""
    if not pid:
        return "nobody"
    try:
        sid = os.getsid(pid)
    except OSError:
        return "gone"
    for label, gateway in hosts.items():
        if sid == gateway.procs["worker"].pid:
            return label
    return "elsewhere"


def sender(port: int) -> int:
    """The process whose TCP connection has this local port (0 if none)."""
    for conn in psutil.net_connections(kind="tcp"):
        if conn.laddr and conn.laddr.port == port and conn.pid:
            return conn.pid
    return 0


def kill_host(gateway: DrillGateway) -> Counter:
    """SIGKILL every process of a host at once: the process groups of web, worker pool and clock
    first (no parent forks again), then what else is in their sessions (the work-horses, each in
    a process group of its own). What was killed, by Procfile process."""
    killed: Counter = Counter()
    members = {name: session_members(proc.pid) for name, proc in gateway.procs.items()}
    for proc in gateway.procs.values():
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    for _ in range(3):
        for name, proc in gateway.procs.items():
            left = session_members(proc.pid)
            members[name] = sorted(set(members[name]) | set(left))
            for pid in left:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        if not any(session_members(p.pid) for p in gateway.procs.values()):
            break
        time.sleep(0.2)
    for name, proc in gateway.procs.items():
        proc.wait(10)
        killed[name] = len(members[name])
    return killed


def refused(base: str) -> bool:
    """True when nothing listens on this web's port any more."""
    parts = urlsplit(base)
    try:
        socket.create_connection((parts.hostname, parts.port), timeout=2).close()
    except ConnectionRefusedError:
        return True
    except OSError:
        return False
    return False


class Balancer:
    """A load balancer in front of the webs: each request (a USSD hop) to the next web in turn;
    a web whose port refuses the connection leaves the rotation and the request goes to the
    next one (nothing was sent). Any other failure is the client's. Used as the `http` of
    testing.ussd.http_help, with the URL's path and query as its `url`."""

    def __init__(self, webs: dict[str, str]):
        self.rotation = list(webs.items())
        self.turn = 0
        self.served: Counter = Counter()
        self.out: dict[str, float] = {}  # web -> when it left the rotation (time.time())
        self.lock = threading.Lock()

    def post(self, path: str, data: dict, timeout: float) -> requests.Response:
        while True:
            with self.lock:
                if not self.rotation:
                    raise requests.ConnectionError("no web in rotation")
                name, base = self.rotation[self.turn % len(self.rotation)]
                self.turn += 1
            try:
                response = requests.post(base + path, data=data, timeout=timeout)
            except requests.ConnectionError as error:
                reason = getattr(error.args[0], "reason", None) if error.args else None
                if not isinstance(reason, urllib3.exceptions.NewConnectionError):
                    raise  # sent, or half sent: not the balancer's to repeat
                if not refused(base):
                    raise
                with self.lock:
                    self.rotation = [(n, b) for n, b in self.rotation if n != name]
                    self.out.setdefault(name, time.time())
                continue
            with self.lock:
                self.served[name] += 1
            return response


@pytest.fixture
def host_a(drill_redis, tmp_path):
    running = DrillGateway(drill_redis.url, tmp_path / "host-a", **SETTINGS)
    yield running
    running.stop()  # after the kill: nothing left to stop, and nothing raises


@pytest.fixture
def host_b(host_a, drill_redis, tmp_path):
    # Host A first, and its worker holds the scheduler lock before host B starts.
    client = drill_redis.client()
    try:
        holds = wait_until(lambda: host_of(lock_holder(client)[1], {"A": host_a}) == "A", 60, 0.5)
    finally:
        client.close()
    assert holds, "host A's worker never took the scheduler lock"
    shared = {k: host_a.env[k] for k in ("DATA_KEY", "USSD_KEY", "OPERATOR_PASSWORD")}
    running = DrillGateway(
        drill_redis.url,
        tmp_path / "host-b",
        **SETTINGS,
        **shared,
        TWILIO_API_URL=host_a.twilio.url,  # one provider for both hosts
    )
    yield running
    running.stop()  # before host A's stop, which closes the shared provider


@pytest.fixture
def client(drill_redis):
    connection = drill_redis.client()
    yield connection
    connection.close()


def test_a_whole_host_dies_and_the_other_carries_on(host_a, host_b, client, drill_redis, report):
    hosts = {"A": host_a, "B": host_b}
    provider = host_a.twilio
    for key in ("DATA_KEY", "USSD_KEY", "OPERATOR_PASSWORD", "TWILIO_API_URL", "REDIS_URL"):
        assert host_a.env[key] == host_b.env[key], key
    for key in ("PORT", "VAR_DIR"):
        assert host_a.env[key] != host_b.env[key], key
    directories = [Path(gw.env["DIRECTORY_FILE"]).read_bytes() for gw in (host_a, host_b)]
    assert directories[0] == directories[1], "the hosts read different directories"
    first_holder, first_pid = lock_holder(client)
    first_host = host_of(first_pid, hosts)

    balancer = Balancer({"A": host_a.base, "B": host_b.base})
    path = urlsplit(host_a.ussd_url)
    path = f"{path.path}?{path.query}"
    outcomes: list[tuple[float, str | None]] = []
    began = time.monotonic()
    done = threading.Event()

    def stream():
        try:
            for i in range(MAX_REQUESTS):
                if time.monotonic() - began > STREAM_SECONDS:
                    break
                start = time.monotonic()
                at = time.time()
                phone = survivor(PHONES.format(i))
                help = Help(district=f"D{i % STREAM_DISTRICTS + 1:02d}")
                ref, _ = http_help(balancer, path, phone, help, strict=False)
                outcomes.append((at, ref))
                time.sleep(max(0.0, PACE - (time.monotonic() - start)))
        finally:
            done.set()

    client_thread = threading.Thread(target=stream, daemon=True)
    client_thread.start()
    time.sleep(PROBE_AT)

    # Two clocks run: how often each cron job was enqueued so far (RQ's CronScheduler enqueues
    # an interval job at its start and keeps no lock: each clock enqueues on its own).
    cron_before = cron_counts(client)

    # A send held at the provider (which has the message) by host A's work-horse when it dies.
    probes: list[tuple[str, str]] = []  # (reference, host whose work-horse sent it)
    held = None
    for k in range(STREAM_DISTRICTS + 1, len(host_a.districts) + 1):
        provider.holding.clear()
        provider.hold(to=leader(k))
        ref = host_a.ask_for_help(PHONES.format(9000 + k), index=k - 1)
        assert provider.holding.wait(30), "the probe's send never reached the provider"
        owner = host_of(sender(provider.holding_port), hosts)
        probes.append((ref, owner))
        if owner == "A":
            held = (ref, k)
            break
        provider.release()  # host B's work-horse has it: let it go, try another district
    assert held, f"host A's worker never took a probe's send: {probes}"

    workers_a = {w.name for w in Worker.all(connection=client) if host_of(w.pid, hosts) == "A"}
    killed_at = time.time()
    killed = kill_host(host_a)
    kill_mono = time.monotonic()
    provider.release()  # the provider answers a socket nobody reads any more
    queue = Queue(ALERTS_QUEUE, connection=client)
    lock_ttl = client.pttl(LOCK) / 1000
    lock_after = host_of(lock_holder(client)[1], hosts)
    maintenance_locked = client.ttl(queue.registry_cleaning_key)
    # The jobs host A's workers had started: RQ finds them abandoned and retries them.
    abandoned = sorted(
        job_id
        for job_id, execution in queue.started_job_registry.get_job_and_execution_ids(cleanup=False)
        if client.hget(f"rq:execution:{job_id}:{execution}", "worker_name")
        in {n.encode() for n in workers_a}
    )
    # Escalation timers still waiting at the kill: only a scheduler that takes the dead one's
    # place moves them to the queue.
    registry = queue.scheduled_job_registry
    pending = {
        job_id: registry.get_scheduled_time(job_id).timestamp()
        for job_id in registry.get_job_ids(cleanup=False)
        if job_id.startswith("esc-") and job_id.endswith("-1")
    }

    # Who holds the scheduler lock from now on, and since when.
    takeover: dict[str, object] = {}
    watching = threading.Event()

    def watch():
        watcher = drill_redis.client()
        try:
            while not watching.is_set():
                name, pid = lock_holder(watcher)
                if name and name != first_holder:
                    takeover.setdefault("at", time.time())
                    # RQ takes the lock before it writes its scheduler's record (the pid): a
                    # look between the two saw "nobody" take over once.
                    if pid or time.time() - takeover["at"] > 10:
                        takeover["host"] = host_of(pid, hosts)
                        return
                time.sleep(0.25)
        finally:
            watcher.close()

    watcher_thread = threading.Thread(target=watch, daemon=True)
    watcher_thread.start()

    assert done.wait(STREAM_SECONDS + 90), "the request stream did not finish"
    refs = [ref for _, ref in outcomes if ref]
    missing = [ref for ref in refs if not client.get(REF.format(ref=ref))]
    held_ref, held_k = held
    held_case = client.get(REF.format(ref=held_ref)).decode()
    held_recipient = f"bd{held_k:02d}-group-1"  # bench/common.py write_directory

    def held_message() -> tuple[str, dict[str, str]]:
        for mid in client.smembers(CASE_MESSAGES.format(case=held_case)):
            raw = client.hgetall(MESSAGE.format(id=mid.decode()))
            fields = {k.decode(): v.decode() for k, v in raw.items()}
            if fields.get("recipient") == held_recipient:
                return mid.decode(), fields
        return "", {}

    held_job = send_job(held_message()[0])

    def open_cases() -> dict[str, float]:
        """Reference -> created, of every open case."""
        found = {}
        for case_id in client.zrange(OPEN_CASES, 0, -1):
            ref, created = client.hmget(CASE.format(id=case_id.decode()), "ref", "created")
            found[ref.decode()] = float(created)
        return found

    def recipients(ref: str) -> set[str]:
        return {s.to for s in sent_about(provider, ref)}

    seen: dict[str, float] = {}  # when the held job left "started", and when it settled

    def settled() -> bool:
        status = job_status(client, held_job)
        if "requeued" not in seen and status != JobStatus.STARTED:
            seen["requeued"] = time.time()
        if "settled" not in seen and held_message()[1].get("provider_id"):
            seen["settled"] = time.time()
        cases = open_cases()
        escalated = all(len(recipients(ref)) >= 3 and DUTY in recipients(ref) for ref in cases)
        busy = (JobStatus.STARTED, JobStatus.SCHEDULED, JobStatus.QUEUED)
        retried = all(job_status(client, job) not in busy for job in abandoned)
        taken = "host" in takeover
        return bool(
            "settled" in seen and retried and set(refs) <= set(cases) and escalated and taken
        )

    wait_until(settled, max(1.0, RECOVERY_LIMIT - (time.monotonic() - kill_mono)), 1.0)
    watching.set()
    watcher_thread.join(5)
    time.sleep(5)  # a second copy would come right after the recovery

    cases = open_cases()
    unalerted = [ref for ref in cases if len(recipients(ref) - {DUTY}) < 2]
    unescalated = [ref for ref in cases if DUTY not in recipients(ref)]
    with provider.lock:
        sent = list(provider.sent)
    copies = Counter((s.to, s.body) for s in sent)
    twice = {k: n for k, n in copies.items() if n > 1}
    duty_at = {}
    for s in sent:
        for ref in cases:
            if s.to == DUTY and f"#{ref}" in s.body:
                duty_at[ref] = min(s.at, duty_at.get(ref, s.at))
    refs_of = {client.hget(CASE.format(id=job.split("-")[1]), "ref") for job in pending}
    waited = {r.decode() for r in refs_of if r}
    fired = sorted(duty_at[ref] - killed_at for ref in waited if ref in duty_at)
    overdue = [due for due in pending.values() if takeover and due < takeover["at"]]
    mid, fields = held_message()
    at_provider = [s for s in sent if s.to == leader(held_k) and f"#{held_ref}" in s.body]
    log_b = "\n".join(p.read_text() for p in sorted(host_b.logs.glob("worker*.log")))
    outcome = {job: job_status(client, job) for job in abandoned}
    runs_on_b = {job: len(runs(log_b, job)) for job in abandoned}
    raised_on_b = {job: raised(log_b, job) for job in abandoned}
    errors = Counter(error for found in raised_on_b.values() for error in found)
    failed = {
        job.id: last_error(job)
        for job in Job.fetch_many(queue.failed_job_registry.get_job_ids(), connection=client)
        if job is not None
    }
    cron_after = cron_counts(client)
    # A message record without its state: its creation was cut short (hsetnx, then the fields).
    husks = [
        k.decode()
        for k in client.scan_iter(match=MESSAGE.format(id="*"))
        if not client.hget(k, "state")
    ]

    after = [ref for at, ref in outcomes if at > killed_at]
    out_a = balancer.out.get("A")
    took = takeover.get("at")
    report(
        "two hosts (web, worker pool of 3, clock each) on one Redis, one directory, one DATA_KEY, "
        f"one provider; scheduler lock held by host {first_host} before the kill"
    )
    report(
        f"host A SIGKILLed {kill_mono - began:.0f} s into the stream, processes by Procfile line: "
        f"{dict(killed)}; its work-horse held a send at the provider (probes: "
        f"{[h for _, h in probes]})"
    )
    report(
        f"right after the kill: scheduler lock still host {lock_after}'s for {lock_ttl:.0f} s; "
        f"queue maintenance lock {'free' if maintenance_locked < 0 else 'HELD'}; "
        f"escalation timers waiting: {len(pending)}"
    )
    report(
        f"load balancer: hops served {dict(balancer.served)}; host A out of rotation "
        f"{'never' if out_a is None else f'{out_a - killed_at:.1f} s after the kill'}"
    )
    report(
        f"{len(outcomes)} help requests: {len(refs)} got a reference "
        f"({sum(1 for r in after if r)} of {len(after)} after the kill), "
        f"{len(outcomes) - len(refs)} the neutral END or a broken connection"
    )
    report(
        f"cases open: {len(cases)} (references given {len(refs)}, probes {len(probes)}, "
        f"opened without a reference {len(cases) - len(refs) - len(probes)}); lost: {len(missing)}"
    )
    report(
        f"scheduler taken over by host {takeover.get('host', 'nobody')} "
        f"{since(took, killed_at)} after the kill ({len(overdue)} timers fell due meanwhile)"
    )
    report(
        "timers waiting at the kill: first tier-2 alert "
        f"{since(fired[0] if fired else None, 0)} after the kill, last "
        f"{max(fired, default=0):.0f} s; {len(fired)} of {len(waited)} sent"
    )
    report(
        f"alerts: tier 1 to 2 responders for {len(cases) - len(unalerted)} of {len(cases)} cases, "
        f"tier 2 (duty officer) for {len(cases) - len(unescalated)}"
    )
    requeued = seen.get("requeued")
    settled_at = seen.get("settled")
    report(
        f"held send {held_job} (case #{held_ref}): found abandoned and retried "
        f"{since(requeued, killed_at)} after the kill, message settled "
        f"{since(settled_at, killed_at)} after it (limit {RECOVERY_LIMIT} s); "
        f"message {fields.get('state')}, at the provider {len(at_provider)} time(s)"
    )
    completed = [job for job, status in outcome.items() if status in (None, JobStatus.FINISHED)]
    report(
        f"jobs host A had started: {len(abandoned)}; completed on host B {len(completed)}; "
        f"runs on host B {sorted(runs_on_b.values())}, of which raised "
        f"{sum(len(e) for e in raised_on_b.values())}: {dict(errors) or 'none'}"
    )
    report(f"jobs failed for good: {len(failed)} {failed or ''}")
    report(f"message records without a state: {len(husks)} {husks or ''}")
    report(f"messages accepted twice by the provider: {len(twice)} (of {len(sent)})")
    report(
        f"cron jobs enqueued with two clocks: before the kill {cron_before}, at the end "
        f"{cron_after}"
    )

    problems = []
    if first_host != "A":
        problems.append(f"host {first_host} held the scheduler lock, not host A")
    if missing:
        problems.append(f"references lost: {missing}")
    if unalerted:
        problems.append(f"cases not alerted at tier 1: {unalerted}")
    if takeover.get("host") != "B":
        problems.append(f"the scheduler was not taken over by host B: {takeover}")
    if unescalated:
        problems.append(f"cases never alerted at tier 2: {unescalated}")
    if len(fired) != len(waited):
        problems.append(f"timers waiting at the kill that never fired: {len(waited) - len(fired)}")
    if settled_at is None:
        problems.append(f"the send held by host A ({held_job}) was never settled")
    if len(at_provider) != 1:
        problems.append(f"the held send reached the provider {len(at_provider)} times")
    if held_job not in abandoned or not runs_on_b.get(held_job):
        problems.append(f"{held_job} was not among host A's started jobs run on host B")
    if len(completed) != len(abandoned):
        problems.append(f"jobs host A had started that did not complete: {outcome}")
    # Each job host A had started runs again on host B and completes at that run. (With RQ
    # 2.12 and result_ttl 0, a retried job whose dead execution is still listed in its
    # execution registry fails in RQ's own success bookkeeping, "ValueError: Execution …
    # not found in Redis", spending a retry each time until that entry lapses.)
    if errors:
        problems.append(f"retried jobs raised on host B: {raised_on_b}")
    if failed:
        problems.append(f"jobs failed for good: {failed}")
    if husks:
        problems.append(f"message records left half written: {husks}")
    if twice:
        problems.append(f"sent twice: {twice}")
    if out_a is None or not any(after):
        problems.append("no help request got a reference after the kill")
    if not cron_before or min(cron_before.values()) < 1:
        problems.append(f"a cron job was never enqueued: {cron_before}")
    assert not problems, problems


def runs(log: str, job_id: str) -> list[str]:
    """The lines where a worker started this job ("Worker …: alerts: <description> (<id>)");
    the id as the logs write it (a run of digits in it is masked like a phone number)."""
    shown = logs.redact(job_id)
    return [
        line
        for line in log.splitlines()
        if ": alerts: " in line and line.endswith(f"({shown})") and "Job OK" not in line
    ]


def raised(log: str, job_id: str) -> list[str]:
    """The exception of each run of this job that raised (the traceback's last line, its hex
    ids masked)."""
    found, lines, shown = [], log.splitlines(), logs.redact(job_id)
    for i, line in enumerate(lines):
        if f"job {shown}: exception raised while executing" in line:
            tail = next(
                (t for t in lines[i + 1 :] if re.match(r"[A-Za-z_.]+(Error|Exception)\b", t)), ""
            )
            found.append(re.sub(r"[0-9a-f*]{12,}", "…", tail))
    return found


def since(at: float | None, start: float) -> str:
    """Seconds from `start` to `at`, or "never"."""
    return "never" if at is None else f"{at - start:.0f} s"


def leader(k: int) -> str:
    """The first tier-1 responder of district k (bench/common.py write_directory)."""
    return f"+99290004{k:02d}01"


def job_status(client, job_id: str) -> JobStatus | None:
    """An RQ job's status; None once it is deleted (a job that succeeded: result_ttl 0)."""
    try:
        return Job.fetch(job_id, connection=client).get_status()
    except NoSuchJobError:
        return None


def last_error(job: Job) -> str:
    """The last line of a failed job's latest exception."""
    result = job.latest_result()
    lines = (result.exc_string or "").strip().splitlines() if result else []
    return lines[-1] if lines else ""


def cron_counts(client) -> dict[str, int]:
    """Cron job name -> jobs it enqueued (RQ keeps each cron job's history)."""
    names = [
        key.decode().removeprefix("rq:cron_job:").removesuffix(":jobs")
        for key in client.scan_iter(match="rq:cron_job:*:jobs")
    ]
    return {name: len(get_cron_job_ids(name, client)) for name in sorted(names)}
