"""Operators: the real RQ dashboard over HTTP, safe replay, audit chain, metrics."""

from __future__ import annotations

import base64
import json
import logging
import time

import pytest
from rq import Queue
from rq.job import Job
from rq.registry import ScheduledJobRegistry

from gateway.jobs import ALERTS_QUEUE, job_case
from gateway.store.keys import AUDIT
from gateway.web import context_of
from testing.app import (
    DUTY,
    GROUP_1,
    GROUP_2,
    ask_for_help,
    fail_both_alerts,
    login,
    sms_from,
    work,
)

# Every test here runs the whole gateway: fake Twilio and Android on loopback, a real Redis.
pytestmark = pytest.mark.live


DASHBOARD_URLS = [
    ("GET", "/rq/"),
    ("GET", "/rq/0/view/jobs"),
    ("GET", "/rq/0/view/workers"),
    ("GET", "/rq/0/data/queues.json"),
    ("GET", "/rq/0/data/workers.json"),
    ("GET", "/rq/0/data/jobs/alerts/failed/8/asc/1.json"),
    ("GET", "/rq/0/data/job/some-job.json"),
    ("POST", "/rq/job/some-job/requeue"),
    ("POST", "/rq/job/some-job/delete"),
    ("GET", "/rq/requeue/alerts"),
    ("POST", "/rq/requeue/alerts"),
    ("POST", "/rq/queue/alerts/failed/empty"),
    ("POST", "/rq/queue/alerts/compact"),
    ("GET", "/metrics"),
]


@pytest.mark.parametrize(("method", "path"), DASHBOARD_URLS)
def test_every_operator_url_needs_login(app, method, path):  # noqa: F811
    client = app.test_client()
    response = client.open(path, method=method)
    assert response.status_code == 401
    assert "Basic" in response.headers["WWW-Authenticate"]
    wrong = {"Authorization": "Basic " + base64.b64encode(b"operator:guess").decode()}
    assert client.open(path, method=method, headers=wrong).status_code == 401


def test_dashboard_pages_work_when_logged_in(app):  # noqa: F811
    client = app.test_client()
    assert client.get("/rq/", headers=login(app)).status_code == 200
    assert client.get("/rq/0/data/queues.json", headers=login(app)).status_code == 200


DEAD_ENDS = [
    ("/rq/0/view/job/no-such-job", "no such job"),
    ("/rq/0/data/job/no-such-job.json", "no such job"),
    ("/rq/1/view/jobs", "no Redis instance 1"),
    ("/rq/7/data/queues.json", "no Redis instance 7"),
    ("/rq/1/view/job/no-such-job", "no Redis instance 1"),
]


def no_error_logged(caplog) -> bool:
    return not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]


@pytest.mark.parametrize(("path", "reason"), DEAD_ENDS)
def test_dashboard_dead_ends_are_404_with_a_reason_and_no_traceback(app, caplog, path, reason):  # noqa: F811
    with caplog.at_level(logging.INFO):
        response = app.test_client().get(path, headers=login(app))
    assert response.status_code == 404
    if "/data/" in path:
        assert response.get_json()["status"] == "not found"
        assert response.get_json()["reason"].startswith(reason)
    else:
        assert response.get_data(as_text=True).startswith(reason)
    assert no_error_logged(caplog)


def test_an_expired_job_page_is_404(app, redis_client, caplog):  # noqa: F811
    ask_for_help(app)
    work(app)
    scheduled = ScheduledJobRegistry(ALERTS_QUEUE, connection=redis_client).get_job_ids()
    [timer] = [j for j in scheduled if j.startswith("esc-")]
    client = app.test_client()
    assert client.get(f"/rq/0/view/job/{timer}", headers=login(app)).status_code == 200
    redis_client.delete(f"rq:job:{timer}")  # what happens to a job once it ran
    with caplog.at_level(logging.INFO):
        page = client.get(f"/rq/0/view/job/{timer}", headers=login(app))
        data = client.get(f"/rq/0/data/job/{timer}.json", headers=login(app))
    assert page.status_code == 404 and data.status_code == 404
    assert data.get_json()["reason"].startswith("no such job")
    assert no_error_logged(caplog)


def test_jobs_tab_opens_on_the_queue_we_use(app):  # noqa: F811
    client = app.test_client()
    response = client.get("/rq/0/view/jobs", headers=login(app))
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/rq/0/view/jobs/{ALERTS_QUEUE}/queued/8/asc/1")
    assert client.get(response.headers["Location"], headers=login(app)).status_code == 200


def dashboard_jobs(flask_app, registry: str) -> list[dict]:
    url = f"/rq/0/data/jobs/{ALERTS_QUEUE}/{registry}/100/asc/1.json"
    return flask_app.test_client().get(url, headers=login(flask_app)).get_json()["jobs"]


def test_every_job_names_its_case_and_a_scheduled_one_when_it_runs(app, twilio_fake):  # noqa: F811
    ref = ask_for_help(app, sms="yes")  # her acknowledgement too, now: she allowed any time
    # A job that succeeded is deleted at once: each is read while it waits.
    done = dashboard_jobs(app, "queued")  # the planning
    work(app, max_jobs=1)
    done += dashboard_jobs(app, "queued")  # the sends it queued
    work(app)
    store = app.extensions["hamdam"].store
    case = store.cases.by_ref(ref)
    waiting = dashboard_jobs(app, "scheduled")
    kinds = sorted(job["id"].split("-")[0] for job in done + waiting)
    assert kinds == ["esc", "plan", "rcpt", "rcpt", "rcpt", "send", "send", "send"]
    for job in done + waiting:
        assert f"case {ref}" in job["description"], job
        assert "900009" not in job["description"] and "900001" not in job["description"]
        assert case.id not in job["description"]  # the internal id says nothing to an operator
    sends = [j["description"] for j in done if j["id"].startswith("send-")]
    assert (
        sorted(d.split(" (")[1] for d in sends)
        == [f"ack, case {ref})"] + [f"alert, case {ref})"] * 2
    )
    for job in waiting:
        assert "UTC+5 (" in job["description"] and job["description"].endswith(" UTC)")
    [escalation] = [j for j in waiting if j["id"].startswith("esc-")]
    due = case.created + app.extensions["hamdam"].alerting.timing.escalate_after
    utc = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(due))
    local = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(due + 5 * 3600))
    assert escalation["description"] == (
        f"escalate case {ref} to tier 2 of 3, runs {local} UTC+5 ({utc} UTC)"
    )
    single = app.test_client().get(f"/rq/0/data/job/{escalation['id']}.json", headers=login(app))
    assert single.get_json()["description"] == escalation["description"]


def test_requeue_from_dashboard_sends_once(app, twilio_fake, android_fake, redis_client):  # noqa: F811
    failed = fail_both_alerts(app, twilio_fake, android_fake)
    client = app.test_client()
    listing = client.get("/rq/0/data/jobs/alerts/failed/8/asc/1.json", headers=login(app))
    descriptions = [job["description"] for job in listing.get_json()["jobs"]]
    assert all(d.startswith("send message ") for d in descriptions)
    assert not any(GROUP_1 in d or "900001001" in d for d in descriptions)
    job = Job.fetch(failed[0], connection=redis_client)  # (deleted once it succeeds)
    assert job.args == (failed[0][len("send-") :],)

    response = client.post(f"/rq/job/{failed[0]}/requeue", headers=login(app))
    assert response.get_json() == {"status": "OK", "outcome": "requeued"}
    work(app)
    assert len(twilio_fake.sent) == 1
    again = client.post(f"/rq/job/{failed[0]}/requeue", headers=login(app))
    assert again.get_json()["outcome"].startswith("not in the failed registry")
    work(app)
    assert len(twilio_fake.sent) == 1  # never twice
    trail = app.extensions["hamdam"].store.audit.trail()
    replayed = [e for e in trail if e["event"] == "replayed"]
    assert replayed[0]["by"] == "operator" and "dashboard" in replayed[0]["why"]


def test_requeue_of_a_stale_alert_is_dropped(app, twilio_fake, android_fake):  # noqa: F811
    failed = fail_both_alerts(app, twilio_fake, android_fake)
    store = app.extensions["hamdam"].store
    case_id = job_case(store, failed[0])
    store.cases.take(case_id, "vakhsh-group-2")  # someone took it by phone meanwhile
    response = app.test_client().post(f"/rq/job/{failed[0]}/requeue", headers=login(app))
    assert response.get_json()["outcome"] == "dropped: case no longer waiting for a responder"
    work(app)
    assert twilio_fake.sent == [] and android_fake.sent == []
    assert failed[0] not in context_of(app).jobs.failed()


def test_requeue_all_is_post_only_and_same_origin_only(app, twilio_fake, android_fake):  # noqa: F811
    fail_both_alerts(app, twilio_fake, android_fake)
    client = app.test_client()
    assert client.get("/rq/requeue/alerts", headers=login(app)).status_code == 405
    evil = {**login(app), "Origin": "https://evil.example"}
    assert client.post("/rq/requeue/alerts", headers=evil).status_code == 403
    no_origin = {"Authorization": login(app)["Authorization"]}
    assert client.post("/rq/requeue/alerts", headers=no_origin).status_code == 403
    response = client.post("/rq/requeue/alerts", headers=login(app))
    assert response.get_json()["count"] == 3
    work(app)
    assert sorted(s.to for s in twilio_fake.sent) == [DUTY, GROUP_1, GROUP_2]


def test_delete_is_disabled(app, twilio_fake, android_fake):  # noqa: F811
    failed = fail_both_alerts(app, twilio_fake, android_fake)
    response = app.test_client().post(f"/rq/job/{failed[0]}/delete", headers=login(app))
    assert response.get_json()["status"] == "DISABLED"
    assert failed[0] in context_of(app).jobs.failed()


@pytest.mark.parametrize("queued", [0, 1])
def test_compact_is_disabled(app, queued):  # noqa: F811
    if queued:
        ask_for_help(app)
    store = app.extensions["hamdam"].store
    before = store.redis.lrange("rq:queue:alerts", 0, -1)
    response = app.test_client().post("/rq/queue/alerts/compact", headers=login(app))
    assert response.status_code == 200
    assert response.get_json()["status"] == "DISABLED"
    assert store.redis.lrange("rq:queue:alerts", 0, -1) == before


def test_replay_command_for_one_case(app, twilio_fake, android_fake):  # noqa: F811
    failed = fail_both_alerts(app, twilio_fake, android_fake)
    store = app.extensions["hamdam"].store
    ref = store.cases.get(job_case(store, failed[0])).ref
    runner = app.test_cli_runner()
    missing = runner.invoke(args=["replay", "--case", ref])
    assert missing.exit_code == 2 and "--reason" in missing.output
    result = runner.invoke(args=["replay", "--case", ref, "--reason", "provider outage over"])
    assert result.exit_code == 0, result.output
    assert result.output.count("requeued") == 2
    work(app)
    assert sorted(s.to for s in twilio_fake.sent) == [GROUP_1, GROUP_2]
    runner.invoke(args=["replay", "--reason", "the duty notice too"])
    work(app)
    again = runner.invoke(args=["replay", "--reason", "again"])
    assert "nothing to replay" in again.output
    assert sorted(s.to for s in twilio_fake.sent) == [DUTY, GROUP_1, GROUP_2]


def test_audit_chain_verifies_and_detects_tampering(app, redis_client):  # noqa: F811
    ask_for_help(app)
    sms_from(app, "+992900009399", "OK 1234")
    work(app)
    runner = app.test_cli_runner()
    ok = runner.invoke(args=["audit", "verify"])
    assert ok.exit_code == 0 and "intact" in ok.output
    entries = redis_client.xrange(AUDIT)
    assert len(entries) >= 2
    redis_client.delete(AUDIT)  # rewrite the stream with the same ids, one field changed
    for n, (entry_id, fields) in enumerate(entries):
        if n == 0:
            fields = {**fields, b"kind": b"money"}
        redis_client.xadd(AUDIT, fields, id=entry_id)
    broken = runner.invoke(args=["audit", "verify"])
    assert broken.exit_code == 1 and "does not match its hash" in broken.output


def test_audit_detects_a_removed_entry(app, redis_client):  # noqa: F811
    ask_for_help(app)
    ask_for_help(app, phone="+992900009312")
    ask_for_help(app, phone="+992900009313")
    work(app, max_jobs=3)  # the three plannings, which record each opening
    [(_, _), (middle, _), (_, _)] = redis_client.xrange(AUDIT)
    redis_client.xdel(AUDIT, middle)
    result = app.test_cli_runner().invoke(args=["audit", "verify"])
    assert result.exit_code == 1 and "does not follow" in result.output


def test_audit_detects_a_removed_newest_entry(app, redis_client):  # noqa: F811
    ask_for_help(app)
    work(app)  # the planning records the opening
    [(last_id, _)] = redis_client.xrevrange(AUDIT, count=1)
    redis_client.xdel(AUDIT, last_id)
    result = app.test_cli_runner().invoke(args=["audit", "verify"])
    assert result.exit_code == 1 and "removed" in result.output


def test_audit_export_verifies_offline_and_detects_edits(app, redis_client, tmp_path):  # noqa: F811
    ask_for_help(app)
    ask_for_help(app, phone="+992900009312")
    sms_from(app, "+992900009399", "OK 1234")
    work(app)
    runner = app.test_cli_runner()
    help_text = runner.invoke(args=["audit", "export", "--help"]).output
    assert "JSON lines" in help_text and "audit verify --file" in help_text
    printed = runner.invoke(args=["audit", "export"])
    assert printed.exit_code == 0, printed.output
    lines = [line for line in printed.stdout.splitlines() if line.strip()]
    assert len(lines) == len(redis_client.xrange(AUDIT)) >= 3
    first = json.loads(lines[0])
    assert set(first) == {"stream_id", "prev", "hash", "fields"} and "event" in first["fields"]
    assert first["prev"] == "0" * 64
    last_hash = json.loads(lines[-1])["hash"]
    assert f"last hash {last_hash}" in printed.stderr
    assert "+992" not in printed.output and "9900009" not in printed.output

    target = tmp_path / "audit.jsonl"
    written = runner.invoke(args=["audit", "export", "--output", str(target)])
    assert written.exit_code == 0 and target.read_text().splitlines() == lines
    redis_client.flushdb()  # the check needs the file only
    ok = runner.invoke(args=["audit", "verify", "--file", str(target)])
    assert ok.exit_code == 0, ok.output
    assert f"intact: {len(lines)} entries" in ok.output and f"last hash {last_hash}" in ok.output

    edited = json.loads(lines[1])
    edited["fields"]["event"] = "case_closed"
    target.write_text("\n".join([lines[0], json.dumps(edited), *lines[2:]]) + "\n")
    broken = runner.invoke(args=["audit", "verify", "--file", str(target)])
    assert broken.exit_code == 1 and "does not match its hash" in broken.output
    assert edited["stream_id"] in broken.output
    target.write_text("\n".join([lines[0], *lines[2:]]) + "\n")
    gap = runner.invoke(args=["audit", "verify", "--file", str(target)])
    assert gap.exit_code == 1 and "does not follow" in gap.output
    target.write_text(lines[0] + "\nnot json\n")
    garbled = runner.invoke(args=["audit", "verify", "--file", str(target)])
    assert garbled.exit_code == 1 and "line 2: not an exported audit entry" in garbled.output


def test_metrics(app, twilio_fake):  # noqa: F811
    ref = ask_for_help(app)
    work(app)
    sms_from(app, GROUP_1, f"OK {ref}")
    ask_for_help(app, phone="+992900009311")
    work(app)
    text = app.test_client().get("/metrics", headers=login(app)).get_data(as_text=True)
    assert 'hamdam_queue_jobs{queue="alerts",registry="failed"} 0' in text
    assert 'hamdam_cases{state="open"} 1' in text
    assert 'hamdam_cases{state="taken"} 1' in text
    assert "hamdam_alerts_awaiting_acceptance 2" in text
    assert 'hamdam_sends_total{route="twilio",state="queued"}' in text
    assert 'hamdam_webhook_seconds_count{endpoint="ussd_africastalking"}' in text
    assert 'hamdam_webhook_seconds_bucket{endpoint="sms_twilio",le="+Inf"}' in text
    assert "900009" not in text
    assert len(Queue(ALERTS_QUEUE, connection=app.extensions["hamdam"].store.redis)) == 0
