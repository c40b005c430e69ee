"""Drill: STOPs before, during and after a key rotation, some racing her own help request, on
the Procfile's processes. No case of hers opened before her STOP keeps her number."""

from __future__ import annotations

import random
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests
from rq import Queue

from config.settings import ROOT
from gateway.jobs import ALERTS_QUEUE
from gateway.privacy import Vault, new_key
from gateway.store import Store
from testing.drill import DrillGateway, wait_until

pytestmark = [pytest.mark.drill, pytest.mark.timeout(900)]

PER_GROUP = 8
GROUPS = ("stop with the old key", "stop after the restart, before rotating", "race", "after")


class Gateway(DrillGateway):
    """The drill gateway, patient with a busy machine while it starts (a slow /healthz answer
    is not yet an answer, not a reason to abandon the processes it started)."""

    def _healthy(self) -> bool:
        try:
            return requests.get(self.base + "/healthz", timeout=5).status_code == 200
        except requests.RequestException:
            return False


def phone(group: int, n: int) -> str:
    return f"+9929000{group + 5}{n:04d}"


def stop(gateway: DrillGateway, number: str) -> int:
    form = {"MessageSid": f"SM{random.getrandbits(128):032x}", "From": number, "Body": "STOP"}
    return gateway.twilio_sms(form)


def purges_done(client) -> bool:
    queue = Queue(ALERTS_QUEUE, connection=client)
    waiting = [j for j in queue.job_ids if j.startswith("purge-")]
    return not waiting and not queue.started_job_registry.get_job_ids()


def test_no_case_escapes_a_stop_across_a_rotation(drill_redis, tmp_path, report):
    old, new = new_key(), new_key()
    var = tmp_path / "gw"
    client = drill_redis.client()
    refs: dict[str, list[str]] = {}

    def ask(gateway, number: str, index: int) -> None:
        ref = gateway.ask_for_help(number, index=index, strict=False)
        if ref:
            refs.setdefault(number, []).append(ref)

    gateway = Gateway(drill_redis.url, var, DATA_KEY=old)
    try:
        for group in range(len(GROUPS)):
            for n in range(PER_GROUP):
                ask(gateway, phone(group, n), n)
        for n in range(PER_GROUP):
            assert stop(gateway, phone(0, n)) == 200
    finally:
        gateway.stop()

    gateway = Gateway(drill_redis.url, var, DATA_KEY=f"{new},{old}")
    try:
        for n in range(PER_GROUP):  # an idle worker purges these at once, before the rotation
            assert stop(gateway, phone(1, n)) == 200
        threads = []
        for n in range(PER_GROUP):  # her second help request and her STOP, at the same time
            number = phone(2, n)
            threads.append(threading.Thread(target=ask, args=(gateway, number, n)))
            threads.append(
                threading.Thread(
                    target=lambda x=number: (time.sleep(random.uniform(0, 1.5)), stop(gateway, x))
                )
            )
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        wait_until(lambda: purges_done(client), 60)
        rotated = subprocess.run(
            [str(Path(sys.executable).parent / "flask"), "--app", "gateway.app", "keys", "rotate"],
            cwd=ROOT,
            env=gateway.env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert rotated.returncode == 0, rotated.stderr
        report(rotated.stdout.strip())
    finally:
        gateway.stop()

    gateway = Gateway(drill_redis.url, var, DATA_KEY=new)  # the old key is gone
    try:
        for n in range(PER_GROUP):
            assert stop(gateway, phone(3, n)) == 200
        started = time.monotonic()
        assert wait_until(lambda: purges_done(client), 120), "purge jobs still waiting"
        settled = time.monotonic() - started
    finally:
        gateway.stop()

    store = Store(client, Vault([new]))
    opened = sum(len(r) for r in refs.values())
    kept_after_stop = purged = 0
    for number, given in refs.items():
        stop_at = float(store.phones.profile(number).get("stop_at", "inf"))
        assert store.consent.suppressed(number)
        for ref in given:
            case = store.cases.by_ref(ref)
            assert case is not None, f"case {ref} lost"
            if store.cases.phone(case.id) is None:
                purged += 1
            else:  # only a request that came after her STOP may keep her number
                assert case.created > stop_at, f"case {ref} escaped her STOP"
                kept_after_stop += 1
    assert opened == (len(GROUPS) + 1) * PER_GROUP  # every request got its reference
    report(
        f"cases opened {opened}, purged {purged}, opened after her STOP (kept) "
        f"{kept_after_stop}, escaped 0, lost 0; purges done {settled:.1f} s after the last STOP"
    )
    client.close()
