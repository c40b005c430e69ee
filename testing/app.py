"""Driving a gateway app under test: her help request, an SMS in, the worker's jobs, the login.

Tests in one process use these on the Flask app and a real Redis; the RQ jobs run in a
SimpleWorker here, and the providers are the fakes of `testing.fakes` on loopback.
"""

from __future__ import annotations

import base64
import json
import re
import time
from pathlib import Path

import requests
from rq import Queue, SimpleWorker
from rq.job import Job
from rq.registry import ScheduledJobRegistry
from twilio.request_validator import RequestValidator

from config.settings import ROOT, Settings
from gateway import accounts
from gateway.app import create_app
from gateway.channels.android import sign
from gateway.jobs import ALERTS_QUEUE, job_case
from gateway.store.keys import OPEN_CASES
from testing.env import make_env
from testing.ussd import Help, flask_phone, ref_of

RECORDED = ROOT / "tests" / "recorded"  # providers' own webhook bodies, as captured
TOKEN = "twilio-test-auth-token"  # noqa: S105 - a test value
SECRET = "android-test-signing-key"  # noqa: S105 - a test value
PUBLIC = "https://gateway.example.org"
ORIGIN = "http://localhost"  # what a browser on the operator pages sends
INBOUND = "+992900000100"  # an inbound number of the example directory (organisation nur)
SURVIVOR = "+992900009301"
# Responders of the example directory, for Vakhsh.
GROUP_1, GROUP_2, MAHALLA = "+992900001001", "+992900001002", "+992900001003"
COORDINATOR, POLICE, DUTY = "+992900001090", "+992900001004", "+992900001000"


def live_env(redis_url: str, var: Path, twilio_url: str, android_url: str, **extra: str) -> dict:
    """Settings for a gateway whose two SMS routes are the fake providers at these URLs."""
    settings = {
        "SMS_ROUTES": "twilio,android",
        "TWILIO_ACCOUNT_SID": "AC00000000000000000000000000000000",
        "TWILIO_AUTH_TOKEN": TOKEN,
        "TWILIO_FROM": "+15005550006",
        "TWILIO_API_URL": twilio_url,
        "ANDROID_GATEWAY_URL": android_url,
        "ANDROID_GATEWAY_USER": "gateway",
        "ANDROID_GATEWAY_PASSWORD": "gateway-password",
        "ANDROID_WEBHOOK_SECRET": SECRET,
        "SEND_RETRY_DELAYS": "1",
        "SEND_RATE": "100",
        "SEND_TIMEOUT": "1",
    }
    return make_env(redis_url, var, **{**settings, **extra})


def app_with(env: dict, monkeypatch, **overrides: str):
    """An app (and the worker's job context) with these settings; a generator for a fixture to
    yield from."""
    from workers import jobs

    changed = {**env, **overrides}
    for name, value in changed.items():
        monkeypatch.setenv(name, value)  # the worker's jobs read the same environment
    jobs._built.cache_clear()
    yield create_app(Settings.from_env(changed))
    jobs._built.cache_clear()


def store_of(app):
    return app.extensions["hamdam"].store


def open_cases(app) -> list:
    store = store_of(app)
    return [store.cases.get(i.decode()) for i in store.redis.zrange(OPEN_CASES, 0, -1)]


def work(app, scheduled: str = "", max_jobs: int | None = None) -> None:
    """Run every queued job (or the first `max_jobs`); with `scheduled`, first make due
    scheduled jobs with that prefix."""
    redis = store_of(app).redis
    queue = Queue(ALERTS_QUEUE, connection=redis)
    if scheduled:
        registry = ScheduledJobRegistry(queue=queue)
        for job_id in registry.get_job_ids():
            if job_id.startswith(scheduled):
                registry.remove(job_id)
                queue.enqueue_job(Job.fetch(job_id, connection=redis))
    SimpleWorker([queue], connection=redis).work(burst=True, max_jobs=max_jobs)


def retry_due(app) -> None:
    """Let RQ's own scheduler re-enqueue retries whose interval has passed, then work."""
    time.sleep(1.1)
    redis = store_of(app).redis
    queue = Queue(ALERTS_QUEUE, connection=redis)
    SimpleWorker([queue], connection=redis).work(burst=True, with_scheduler=True)


def ussd_phone(app, phone: str = SURVIVOR):
    """Her phone on the app's USSD endpoint."""
    return flask_phone(app.test_client(), app.extensions["hamdam"].settings.ussd_key, phone)


def ask_for_help(app, phone: str = SURVIVOR, **choices: str) -> str:
    """Her help request over USSD, by meaning (see testing.ussd.Help); her reference."""
    end = ussd_phone(app, phone).ask(Help(**choices))
    assert end.startswith("END "), end
    return ref_of(end)


def sms_from(app, phone: str, body: str) -> None:
    """An inbound SMS through the signed Twilio webhook."""
    form = {"MessageSid": "SM" + str(time.time_ns()), "From": phone, "To": INBOUND, "Body": body}
    response = post_twilio(app.test_client(), form)
    assert response.status_code == 200


def recipients(fake) -> list[str]:
    return sorted(s.to for s in fake.sent)


def twilio_form(**overrides: str) -> dict[str, str]:
    """Twilio's recorded inbound SMS form, with these fields changed."""
    form = json.loads((RECORDED / "twilio" / "inbound_sms.json").read_text())
    form.pop("_note")
    form.update(overrides)
    return form


def post_twilio(client, form: dict, path: str = "/sms/twilio", signature: str | None = None):
    """POST a Twilio webhook, signed as Twilio signs it unless a signature is given."""
    if signature is None:
        signature = RequestValidator(TOKEN).compute_signature(PUBLIC + path, form)
    return client.post(path, data=form, headers={"X-Twilio-Signature": signature})


def android_body(**payload: str) -> bytes:
    """The Android app's recorded sms:received event, with these payload fields changed."""
    event = json.loads((RECORDED / "android" / "sms_received.json").read_text())
    event["payload"].update(payload)
    return json.dumps(event, ensure_ascii=False).encode()


def post_android(client, body: bytes, timestamp: int | None = None, signature: str | None = None):
    """POST an Android webhook, signed as the app signs it unless a signature is given."""
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    headers = {
        "Content-Type": "application/json",
        "X-Timestamp": stamp,
        "X-Signature": sign(SECRET, body, stamp) if signature is None else signature,
    }
    return client.post("/sms/android", data=body, headers=headers)


def login(flask_app) -> dict[str, str]:
    """Headers of an operator signed in with the configured user and password."""
    settings = flask_app.extensions["hamdam"].settings
    token = f"{settings.operator_user}:{settings.operator_password}".encode()
    return {"Authorization": "Basic " + base64.b64encode(token).decode(), "Origin": ORIGIN}


def fail_both_alerts(app, twilio_fake, android_fake) -> list[str]:
    """A case whose two alerts failed every route and every retry: their two failed jobs.

    The duty officer's one outage notice failed too (a third failed job, of no case).
    """
    twilio_fake.fail_next(503, times=40)
    android_fake.fail_next(503, times=40)
    ask_for_help(app, consent="group")
    work(app)
    for _ in range(4):
        retry_due(app)
    store = app.extensions["hamdam"].store
    failed = [job for job in app.extensions["hamdam"].jobs.failed() if job_case(store, job)]
    assert len(failed) == 2
    assert len(app.extensions["hamdam"].jobs.failed()) == 3
    twilio_fake.failures.clear()
    android_fake.failures.clear()
    return failed


def taken(app, phone: str = SURVIVOR) -> str:
    """Her case in Vakhsh, alerted and taken by its first group leader (GROUP_1); its reference."""
    ref = ask_for_help(app, phone, district="Vakhsh")
    work(app)
    sms_from(app, GROUP_1, f"OK {ref}")
    work(app)
    return ref


def texts_to(fake, phone: str) -> list[str]:
    """The bodies a fake provider received for one phone, in order."""
    return [m.body for m in fake.sent if m.to == phone]


CONSOLE_PASSWORD = "a long enough password"  # noqa: S105 - a test value


def form_token(page: str) -> str:
    """The CSRF token of a console page's forms."""
    return re.search(r'name="csrf" value="([^"]+)"', page).group(1)


def add_operator(context, name: str, org: str, role: str = "coordinator") -> None:
    """An operator account, with the password CONSOLE_PASSWORD, in a built context's store."""
    operator = accounts.account(name, org, role, set(context.roster.directory.organisations))
    context.store.operators.add(operator, accounts.hash_password(CONSOLE_PASSWORD))


def console_session(base: str, name: str) -> requests.Session:
    """An HTTP session signed in on the console of a running gateway (see add_operator). Its
    cookies are Secure (the public URL is https); this loopback client sends them anyway, as
    a browser does to localhost."""
    http = requests.Session()
    page = http.get(f"{base}/console/login", timeout=10).text
    _loopback(http)
    form = {"csrf": form_token(page), "name": name, "password": CONSOLE_PASSWORD}
    answer = http.post(f"{base}/console/login", data=form, allow_redirects=False, timeout=10)
    assert answer.status_code == 302, answer.text
    _loopback(http)
    return http


def _loopback(http: requests.Session) -> None:
    for cookie in http.cookies:
        cookie.secure = False


def coordinator_client(app, name: str = "dilnoza", org: str = "nur"):
    """A test client signed in on the console as a new coordinator of `org`."""
    args = ["operators", "add", name, "--role", "coordinator", "--org", org, "--by", "tester"]
    result = app.test_cli_runner().invoke(args=args, input=CONSOLE_PASSWORD + "\n")
    assert result.exit_code == 0, result.output
    client = app.test_client()
    page = client.get("/console/login").get_data(as_text=True)
    form = {"csrf": form_token(page), "name": name, "password": CONSOLE_PASSWORD}
    assert client.post("/console/login", data=form).status_code == 302
    return client
