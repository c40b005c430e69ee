"""The simulator's endpoints over Flask's test client: they reach the real webhooks and checks."""

from __future__ import annotations

import base64
import time

import pytest
from rq import Queue, SimpleWorker
from rq.job import Job

from config.settings import ANY_ADDRESS, ConfigError, Settings
from gateway import groups, simulator
from gateway.app import create_app
from gateway.jobs import ALERTS_QUEUE
from testing.app import coordinator_client, form_token
from testing.env import make_env

SURVIVOR, OTHER = "+992900009711", "+992900009712"
GROUP_1, GROUP_2 = "+992900001001", "+992900001002"
# Tajik, help, legal advice, Vakhsh, her group only, call any time, and the given SMS answer.
TAJIK_HELP = ["1", "1", "2", "1", "1", "1"]


class Spy:
    """WSGI middleware recording (path, query) of every request and optionally rewriting it."""

    def __init__(self, app, rewrite=None):
        self.app, self.rewrite, self.seen = app, rewrite, []

    def __call__(self, environ, start_response):
        if self.rewrite is not None:
            self.rewrite(environ)
        self.seen.append((environ["PATH_INFO"], environ.get("QUERY_STRING", "")))
        return self.app(environ, start_response)


@pytest.fixture
def env(redis_url, redis_client, tmp_path, monkeypatch):
    from workers import jobs

    # Bound to loopback, as `make run` and testing/processes.py start the web process.
    values = make_env(redis_url, tmp_path / "var", SEND_RATE="100", SIMULATOR="1", HOST="127.0.0.1")
    for name, value in values.items():
        monkeypatch.setenv(name, value)  # the worker's jobs read the same environment
    jobs._built.cache_clear()
    yield values
    jobs._built.cache_clear()


def make_app(env: dict[str, str], **extra: str):
    app = create_app(Settings.from_env({**env, **extra}))
    simulator.register(app)
    return app


@pytest.fixture
def app(env):
    return make_app(env)


def work(app) -> None:
    """Send everything queued through the console route with a real RQ worker."""
    redis = app.extensions["hamdam"].store.redis
    SimpleWorker([Queue(ALERTS_QUEUE, connection=redis)], connection=redis).work(burst=True)


def dial(client, phone: str, keys: list[str], session: str = "sim-test") -> list[dict]:
    """Every simulator answer of one USSD session typing `keys` in turn."""
    answers, inputs = [], []
    for key in ["", *keys]:
        if key:
            inputs.append(key)
        response = client.post(
            "/simulator/ussd", json={"phone": phone, "session": session, "text": "*".join(inputs)}
        )
        assert response.status_code == 200, response.get_data(as_text=True)
        answers.append(response.get_json())
    return answers


def test_ussd_reaches_the_real_endpoint_and_opens_a_case(app):
    spy = app.wsgi_app = Spy(app.wsgi_app)
    answers = dial(app.test_client(), SURVIVOR, [*TAJIK_HELP, "1"])
    first, last = answers[0], answers[-1]
    assert first["kind"] == "CON" and "Тоҷикӣ" in first["screen"]
    assert first["encoding"] == "UCS-2" and first["budget"] == 80
    assert 0 < first["length"] <= 80 and first["body"] == "CON " + first["screen"]
    assert all(a["status"] == 200 and a["length"] <= a["budget"] for a in answers)
    assert last["kind"] == "END"
    ref = last["screen"].split()[-1]
    case = app.extensions["hamdam"].store.cases.by_ref(ref)
    assert case is not None and case.district == "vakhsh" and case.kind == "legal"
    key = app.extensions["hamdam"].settings.ussd_key
    inner = [query for path, query in spy.seen if path == "/ussd/africastalking"]
    assert len(inner) == len(answers) and all(query == f"key={key}" for query in inner)


def test_the_ussd_key_check_applies(app):
    def wrong_key(environ):
        if environ["PATH_INFO"] == "/ussd/africastalking":
            environ["QUERY_STRING"] = "key=not-the-ussd-key-at-all"

    app.wsgi_app = Spy(app.wsgi_app, wrong_key)
    answer = dial(app.test_client(), SURVIVOR, [])[0]
    assert answer["status"] == 403 and answer["kind"] == "END"
    assert answer["screen"] == "wrong or missing key"
    redis = app.extensions["hamdam"].store.redis
    assert not list(redis.scan_iter("hd:ussd:*"))  # nothing stored for a refused hop


def test_sms_is_signed_like_the_phone_and_checked(app):
    client = app.test_client()
    ref = dial(client, SURVIVOR, [*TAJIK_HELP, "1"])[-1]["screen"].split()[-1]
    work(app)

    def forged(environ):
        if environ["PATH_INFO"] == "/sms/android":
            environ["HTTP_X_SIGNATURE"] = "0" * 64

    app.wsgi_app = spy = Spy(app.wsgi_app, forged)
    refused = client.post("/simulator/sms", json={"phone": GROUP_1, "text": f"OK {ref}"})
    assert refused.get_json() == {"status": 403, "detail": "X-Signature does not match the body"}
    spy.rewrite = None
    accepted = client.post("/simulator/sms", json={"phone": GROUP_1, "text": f"OK {ref}"})
    assert accepted.status_code == 200 and accepted.get_json() == {"status": 200}
    assert app.extensions["hamdam"].store.cases.by_ref(ref).state == "taken"
    assert [path for path, _ in spy.seen].count("/sms/android") == 2


def test_inboxes_group_the_console_outbox_by_phone(app):
    client = app.test_client()
    ref = dial(client, SURVIVOR, [*TAJIK_HELP, "2"])[-1]["screen"].split()[-1]
    dial(client, OTHER, [*TAJIK_HELP, "2"], session="sim-other")
    work(app)
    client.post("/simulator/sms", json={"phone": GROUP_1, "text": f"OK {ref}"})
    work(app)
    data = client.get("/simulator/inboxes", query_string={"phone": "900009711"}).get_json()
    inboxes = {r["phone"]: r for r in data["responders"]}
    reached = {phone for phone, r in inboxes.items() if r["messages"]}
    assert reached == {GROUP_1, GROUP_2}  # her consent: her group only
    order = [r["phone"] for r in data["responders"]]
    assert order[:2] == [GROUP_1, GROUP_2]  # phones with messages first, in tier order
    mine = [m for m in inboxes[GROUP_1]["messages"] if f"#{ref}" in m["body"]]
    assert [m["purpose"] for m in mine] == ["details", "alert"]  # newest first
    assert SURVIVOR in mine[0]["body"] and mine[1]["encoding"] == "UCS-2"
    other = [m for m in inboxes[GROUP_2]["messages"] if f"#{ref}" in m["body"]]
    assert [m["purpose"] for m in other] == ["taken", "alert"]
    assert inboxes[GROUP_1]["name"] == "Malika R." and inboxes[GROUP_1]["lang"] == "tg"
    assert data["phone"]["phone"] == SURVIVOR
    assert [m["purpose"] for m in data["phone"]["messages"]] == ["ack"]
    assert ref in data["phone"]["messages"][0]["body"]
    assert OTHER not in response_text(client.get("/simulator/inboxes"))
    assert client.get("/simulator/inboxes").get_json()["phone"] is None


def response_text(response) -> str:
    return response.get_data(as_text=True)


def test_page_and_assets(app):
    client = app.test_client()
    page = client.get("/simulator")
    html = response_text(page)
    assert page.status_code == 200 and page.mimetype == "text/html"
    assert '<meta charset="utf-8">' in html and '<html lang="en">' in html
    assert "default-src 'self'" in page.headers["Content-Security-Policy"]
    assert "http://" not in html and "https://" not in html  # nothing from elsewhere
    for asset in ("simulator.js", "simulator.css"):
        response = client.get(f"/simulator/static/{asset}")
        assert response.status_code == 200, asset
        response.close()


@pytest.mark.parametrize(
    ("path", "payload", "reason"),
    [
        ("/simulator/ussd", {"phone": "90000abcd", "session": "s1", "text": ""}, "letters"),
        ("/simulator/ussd", {"phone": "12345", "session": "s1", "text": ""}, "too short"),
        ("/simulator/ussd", {"phone": SURVIVOR, "session": "a b", "text": ""}, "session"),
        ("/simulator/ussd", {"phone": SURVIVOR, "session": "s1", "text": "1" * 200}, "text"),
        ("/simulator/sms", {"phone": None, "text": "ЁРДАМ"}, "phone"),
        ("/simulator/sms", {"phone": SURVIVOR, "text": "  "}, "text: empty"),
    ],
)
def test_bad_input_is_400_with_a_reason(app, path, payload, reason):
    response = app.test_client().post(path, json=payload)
    assert response.status_code == 400
    assert reason in response.get_json()["error"]


def test_bad_phone_in_inboxes_and_non_json_are_400(app):
    client = app.test_client()
    response = client.get("/simulator/inboxes", query_string={"phone": "+99290000"})
    assert response.status_code == 400 and "too short" in response.get_json()["error"]
    form = client.post("/simulator/sms", data={"phone": SURVIVOR, "text": "hi"})
    assert form.status_code == 400 and "JSON" in form.get_json()["error"]


def test_absent_when_the_simulator_is_off(env):
    app = make_app(env, SIMULATOR="0")
    client = app.test_client()
    assert client.get("/simulator").status_code == 404
    assert client.post("/simulator/ussd", json={}).status_code == 404
    assert client.get("/simulator/inboxes").status_code == 404


def test_production_needs_the_operator_login(env):
    app = make_app(env, HAMDAM_ENV="production")
    client = app.test_client()
    for response in (
        client.get("/simulator"),
        client.get("/simulator/static/simulator.js"),
        client.get("/simulator/inboxes"),
        client.post("/simulator/ussd", json={"phone": SURVIVOR, "session": "s", "text": ""}),
    ):
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"].startswith("Basic")
    wrong = base64.b64encode(b"operator:guess-guess-guess").decode()
    assert client.get("/simulator", headers={"Authorization": f"Basic {wrong}"}).status_code == 401
    good = base64.b64encode(f"operator:{env['OPERATOR_PASSWORD']}".encode()).decode()
    assert client.get("/simulator", headers={"Authorization": f"Basic {good}"}).status_code == 200


def test_production_default_is_off(env):
    app = make_app({k: v for k, v in env.items() if k != "SIMULATOR"}, HAMDAM_ENV="production")
    assert app.test_client().get("/simulator").status_code == 404


ANDROID = dict(
    SMS_ROUTES="android,console",
    ANDROID_GATEWAY_URL="http://127.0.0.1:9",
    ANDROID_GATEWAY_USER="gateway",
    ANDROID_GATEWAY_PASSWORD="gateway-password",
)


def test_refused_with_a_reason_when_a_route_reaches_real_phones(env):
    # As reproduced: HAMDAM_ENV unset, real routes, no login, a responder's OK and her STOP.
    default = {k: v for k, v in env.items() if k not in ("HAMDAM_ENV", "SIMULATOR")}
    app = make_app(default, **ANDROID)
    assert not app.extensions["hamdam"].settings.simulator
    spy = app.wsgi_app = Spy(app.wsgi_app)
    client = app.test_client()
    for response in (
        client.post("/simulator/sms", json={"phone": GROUP_1, "text": "OK 1234"}),
        client.post("/simulator/sms", json={"phone": SURVIVOR, "text": "STOP"}),
        client.post("/simulator/ussd", json={"phone": SURVIVOR, "session": "s", "text": ""}),
        client.get("/simulator"),
        client.get("/simulator/inboxes"),
    ):
        assert response.status_code == 403
        assert "only when every SMS route is console" in response.get_json()["error"]
        assert "android" in response.get_json()["error"]
    assert [path for path, _ in spy.seen if not path.startswith("/simulator")] == []


def test_switching_it_on_with_real_routes_is_a_configuration_error(env):
    with pytest.raises(ConfigError, match="SIMULATOR: the simulator runs only when every SMS"):
        Settings.from_env({**env, **ANDROID, "SIMULATOR": "1"})


@pytest.mark.parametrize("phone", ["+992935551234", "+992900019711", "+79123456789", "935551234"])
def test_only_synthetic_numbers_are_played(app, phone):
    spy = app.wsgi_app = Spy(app.wsgi_app)
    client = app.test_client()
    for response in (
        client.post("/simulator/ussd", json={"phone": phone, "session": "s", "text": ""}),
        client.post("/simulator/sms", json={"phone": phone, "text": "OK 1234"}),
        client.get("/simulator/inboxes", query_string={"phone": phone}),
    ):
        assert response.status_code == 403
        assert response.get_json()["error"] == (
            "phone: the simulator plays only synthetic numbers (+99290000xxxx)"
        )
    assert [path for path, _ in spy.seen if not path.startswith("/simulator")] == []


@pytest.mark.parametrize(
    ("host", "environ", "headers"),
    [
        (None, {}, {}),  # HOST unset: the Procfile binds every interface
        (ANY_ADDRESS, {}, {}),
        ("127.0.0.1", {"REMOTE_ADDR": "203.0.113.7"}, {}),
        ("127.0.0.1", {}, {"X-Forwarded-For": "203.0.113.7"}),
        ("127.0.0.1", {}, {"Forwarded": "for=203.0.113.7"}),
    ],
)
def test_operator_login_unless_bound_to_loopback_and_asked_from_here(env, host, environ, headers):
    values = {k: v for k, v in env.items() if k != "HOST"}
    app = make_app(values, **({"HOST": host} if host else {}))
    client = app.test_client()
    asked = client.get("/simulator", environ_base=environ, headers=headers)
    assert asked.status_code == 401 and asked.headers["WWW-Authenticate"].startswith("Basic")
    sms = client.post(
        "/simulator/sms",
        json={"phone": GROUP_1, "text": "OK 1234"},
        environ_base=environ,
        headers=headers,
    )
    assert sms.status_code == 401
    good = base64.b64encode(f"operator:{env['OPERATOR_PASSWORD']}".encode()).decode()
    login = {**headers, "Authorization": f"Basic {good}"}
    assert client.get("/simulator", environ_base=environ, headers=login).status_code == 200


def test_loopback_needs_no_login(env):
    for host in ("127.0.0.1", "localhost", "::1"):
        app = make_app(env, HOST=host)
        assert app.test_client().get("/simulator").status_code == 200, host


def directory_phones(app) -> list[str]:
    responders = app.extensions["hamdam"].roster.directory.responders.values()
    return sorted(r.phone for r in responders)


def test_every_responder_is_listed_before_any_alert(app):
    data = app.test_client().get("/simulator/inboxes").get_json()
    listed = sorted(r["phone"] for r in data["responders"])
    assert listed == directory_phones(app) and len(listed) > 10  # every one is synthetic here
    assert all(r["messages"] == [] and r["transcript"] == [] for r in data["responders"])


def test_transcript_keeps_what_each_phone_typed_and_sent(app):
    client = app.test_client()
    answers = dial(client, SURVIVOR, [*TAJIK_HELP, "2"])
    ref = answers[-1]["screen"].split()[-1]
    client.post("/simulator/sms", json={"phone": SURVIVOR, "text": "Салом"})
    work(app)
    client.post("/simulator/sms", json={"phone": GROUP_1, "text": f"OK {ref}"})
    data = client.get("/simulator/inboxes", query_string={"phone": SURVIVOR}).get_json()
    hers = data["phone"]["transcript"]  # newest first
    assert [e["kind"] for e in hers] == ["sms"] + ["ussd"] * len(answers)
    assert hers[0]["typed"] == "Салом" and hers[0]["status"] == 200
    ussd = list(reversed(hers[1:]))
    assert [e["typed"] for e in ussd] == ["*384#", *TAJIK_HELP, "2"]
    assert [e["screen"] for e in ussd] == [a["screen"] for a in answers]
    assert ussd[-1]["end"] == "END" and ref in ussd[-1]["screen"]
    malika = next(r for r in data["responders"] if r["phone"] == GROUP_1)
    assert [e["typed"] for e in malika["transcript"]] == [f"OK {ref}"]
    # In Redis: one short-lived list per phone, named by its keyed hash, entries encrypted.
    redis = app.extensions["hamdam"].store.redis
    keys = sorted(k.decode() for k in redis.scan_iter("hd:sim:transcript:*"))
    assert len(keys) == 2 and all(0 < redis.ttl(k) <= 3600 for k in keys)
    raw = b"".join(b"".join(redis.lrange(k, 0, -1)) + k.encode() for k in keys)
    for secret in ("Салом".encode(), SURVIVOR.encode(), SURVIVOR[1:].encode(), ref.encode()):
        assert secret not in raw


def test_transcripts_only_for_synthetic_numbers(app):
    store = app.extensions["hamdam"].store
    assert not store.simulator.record("+992935551234", kind="sms", typed="HELP")
    assert store.simulator.record(SURVIVOR, kind="sms", typed="HELP")
    assert store.simulator.transcript("+992935551234") == []
    assert [e["typed"] for e in store.simulator.transcript(SURVIVOR)] == ["HELP"]


def test_filter_by_case_reference(app):
    client = app.test_client()
    first = dial(client, SURVIVOR, [*TAJIK_HELP, "1"])[-1]["screen"].split()[-1]
    second = dial(client, OTHER, [*TAJIK_HELP, "1"], session="sim-other")[-1]["screen"].split()[-1]
    work(app)
    client.post("/simulator/sms", json={"phone": GROUP_1, "text": f"OK {second}"})
    work(app)
    data = client.get("/simulator/inboxes", query_string={"ref": f"#{first}"}).get_json()
    assert data["ref"] == first
    bodies = [m["body"] for r in data["responders"] for m in r["messages"]]
    assert bodies and all(first in b and second not in b for b in bodies)
    malika = next(r for r in data["responders"] if r["phone"] == GROUP_1)
    assert malika["transcript"] == []  # her OK was for the other case
    mine = client.get("/simulator/inboxes", query_string={"ref": first, "phone": SURVIVOR})
    typed = [e["typed"] for e in mine.get_json()["phone"]["transcript"]]
    assert typed == ["1"]  # only the hop whose screen names the reference
    unfiltered = client.get("/simulator/inboxes").get_json()
    assert any(second in m["body"] for r in unfiltered["responders"] for m in r["messages"])
    bad = client.get("/simulator/inboxes", query_string={"ref": "12ab"})
    assert bad.status_code == 400 and "ref" in bad.get_json()["error"]


def test_reset_clears_the_outbox_sessions_and_transcripts_and_is_audited(app):
    client = app.test_client()
    dial(client, SURVIVOR, ["1", "1"])  # left open on the menu
    ref = dial(client, OTHER, [*TAJIK_HELP, "1"], session="sim-other")[-1]["screen"].split()[-1]
    work(app)
    store, redis = app.extensions["hamdam"].store, app.extensions["hamdam"].store.redis
    assert store.messages.outbox() and list(redis.scan_iter("hd:ussd:sim-*"))
    assert list(redis.scan_iter("hd:resume:*"))
    answer = client.post("/simulator/reset", json={})
    assert answer.status_code == 200
    counts = answer.get_json()
    assert counts["outbox"] >= 2 and counts["sessions"] == 2 and counts["phones"] == 2
    assert store.messages.outbox() == [] and not list(redis.scan_iter("hd:ussd:sim-*"))
    assert not list(redis.scan_iter("hd:sim:*")) and not list(redis.scan_iter("hd:resume:*"))
    assert store.cases.by_ref(ref) is not None  # cases are not the simulator's to delete
    data = client.get("/simulator/inboxes", query_string={"phone": SURVIVOR}).get_json()
    assert all(r["messages"] == [] for r in data["responders"])
    assert data["phone"]["transcript"] == []
    entry = store.audit.trail()[-1]
    assert entry["event"] == "simulator_reset" and entry["outbox"] == str(counts["outbox"])
    assert store.audit.verify().ok
    assert client.post("/simulator/reset", data="x").status_code == 400  # JSON only (CSRF)


def test_fast_forward_runs_the_next_escalation_now(app):
    client = app.test_client()
    ref = dial(client, SURVIVOR, [*TAJIK_HELP, "1"])[-1]["screen"].split()[-1]
    work(app)
    store = app.extensions["hamdam"].store
    case = store.cases.by_ref(ref)
    queue = Queue(ALERTS_QUEUE, connection=store.redis)
    scheduled = queue.scheduled_job_registry
    assert f"esc-{case.id}-1" in scheduled.get_job_ids()
    assert store.cases.tier(case.id) == 0
    answer = client.post("/simulator/fast-forward", json={"ref": ref})
    assert answer.status_code == 200, answer.get_data(as_text=True)
    assert answer.get_json()["job"] == f"esc-{case.id}-1"
    assert answer.get_json()["due"] > case.created
    assert f"esc-{case.id}-1" not in scheduled.get_job_ids()
    assert f"esc-{case.id}-1" in queue.get_job_ids()
    work(app)
    assert store.cases.tier(case.id) == 1  # the next tier is alerted
    assert f"esc-{case.id}-2" in scheduled.get_job_ids()  # and its own timer set
    events = [(e["event"], e.get("case")) for e in store.audit.trail()]
    assert ("simulator_fast_forward", case.id) in events and ("escalated", case.id) in events
    assert ref not in str(app.extensions["hamdam"].store.audit.trail()[-3:])  # ids, no refs


def test_fast_forward_needs_a_case_with_a_timer(app):
    client = app.test_client()
    unknown = client.post("/simulator/fast-forward", json={"ref": "999999"})
    assert unknown.status_code == 404 and "no case 999999" in unknown.get_json()["error"]
    ref = dial(client, SURVIVOR, [*TAJIK_HELP, "1"])[-1]["screen"].split()[-1]
    work(app)
    client.post("/simulator/sms", json={"phone": GROUP_1, "text": f"OK {ref}"})
    case = app.extensions["hamdam"].store.cases.by_ref(ref)
    registry = Queue(ALERTS_QUEUE, connection=app.extensions["hamdam"].store.redis)
    registry.scheduled_job_registry.remove(f"esc-{case.id}-1")
    none = client.post("/simulator/fast-forward", json={"ref": ref})
    assert none.status_code == 404 and "no scheduled timer" in none.get_json()["error"]
    bad = client.post("/simulator/fast-forward", json={"ref": "OK 12"})
    assert bad.status_code == 400


def test_fast_forward_and_reset_are_refused_with_real_routes(env):
    default = {k: v for k, v in env.items() if k not in ("HAMDAM_ENV", "SIMULATOR")}
    client = make_app(default, **ANDROID).test_client()
    for path, body in (("/simulator/fast-forward", {"ref": "1234"}), ("/simulator/reset", {})):
        response = client.post(path, json=body)
        assert response.status_code == 403, path
        assert "only when every SMS route is console" in response.get_json()["error"]


def test_her_sms_goes_to_the_number_she_chose(app):
    client = app.test_client()
    page = response_text(client.get("/simulator"))
    assert 'value="+992900000200"' in page and "Sughd women&#39;s circle" in page
    sent = client.post(
        "/simulator/sms", json={"phone": SURVIVOR, "text": "HELP", "to": "+992900000200"}
    )
    assert sent.get_json() == {"status": 200}
    store = app.extensions["hamdam"].store
    case = store.cases.get(store.phones.profile(SURVIVOR)["last_case"])
    assert case.district == "khujand"  # Sughd's default district, not Nur's
    wrong = client.post(
        "/simulator/sms", json={"phone": OTHER, "text": "HELP", "to": "+992935551234"}
    )
    assert wrong.status_code == 400 and "inbound numbers" in wrong.get_json()["error"]
    assert store.simulator.transcript(SURVIVOR)[0]["to"] == "+992900000200"


def test_after_ok_the_whole_story_plays_in_the_simulator(app):
    """Five cases opened and taken; aid given; one followed up after its (fast-forwarded)
    delay; all referred to Sughd with consent and accepted there; the period's report shows
    it, and the timelines of both organisations tell the hand-over."""
    client = app.test_client()
    store = app.extensions["hamdam"].store

    def sms(phone: str, text: str) -> None:
        answer = client.post("/simulator/sms", json={"phone": phone, "text": text})
        assert answer.status_code == 200, answer.get_data(as_text=True)
        work(app)

    refs = []
    for n in range(5):
        answers = dial(client, f"+99290000972{n}", [*TAJIK_HELP, "1"], session=f"sim-story-{n}")
        refs.append(answers[-1]["screen"].split()[-1])
    work(app)
    for ref in refs:
        sms(GROUP_1, f"OK {ref}")
        sms(GROUP_1, f"AID {ref} LEGAL ECON")
    first = store.cases.by_ref(refs[0])
    sms(GROUP_1, f"LATER {refs[0]} 3")
    ran = []
    while not ran or not ran[-1].startswith("follow-"):  # the escalation timer, void, first
        answer = client.post("/simulator/fast-forward", json={"ref": refs[0]})
        assert answer.status_code == 200, answer.get_data(as_text=True)
        ran.append(answer.get_json()["job"])
        work(app)
    inboxes = client.get(f"/simulator{simulator.POLL}").get_json()["responders"]
    [group_1] = [r for r in inboxes if r["phone"] == GROUP_1]
    reminders = [m["body"] for m in group_1["messages"] if "Вақти санҷиши" in m["body"]]
    assert len(reminders) == 1 and f"#{refs[0]}" in reminders[0]
    nur = coordinator_client(app)
    for ref in refs:
        token = form_token(nur.get(f"/console/cases/{ref}").get_data(as_text=True))
        form = {"csrf": token, "to": "sughd", "reason": "shelter", "agreed": "yes"}
        assert nur.post(f"/console/cases/{ref}/refer", data=form).status_code == 302
        work(app)
        sms("+992900002000", f"OK {ref}")  # Sughd's duty officer
    assert store.cases.by_ref(refs[0]).org == "sughd"
    sughd = coordinator_client(app, name="farzona", org="sughd")
    figures = sughd.get("/console/reports").get_data(as_text=True)  # the cases are theirs now
    assert "5 women received legal and economic aid in Vakhsh" in figures
    assert 'nur to sughd: accepted</td><td class="n">5<' in figures
    ours = nur.get("/console/reports").get_data(as_text=True)
    assert 'nur to sughd: referred</td><td class="n">5<' in ours
    theirs = sughd.get(f"/console/cases/{refs[0]}").get_data(as_text=True)
    ours = nur.get(f"/console/cases/{refs[0]}").get_data(as_text=True)
    for timeline in (theirs, ours):
        assert "referred by nur to sughd (shelter) by dilnoza" in timeline
        assert "taken by sughd: accepted by Sughd duty phone (duty)" in timeline
    assert "follow-up reminder to" in theirs and first.id not in ours


def test_a_group_plays_in_the_simulator_from_join_to_the_morning(app):
    """A member joins by SMS; another joins and sends STOP; a coordinator previews and sends a
    meeting at night; it waits for the group's hours and arrives in the morning, once, and
    not to the one who sent STOP."""
    from workers import jobs

    client = app.test_client()
    member, stopped = "+992900009741", "+992900009742"

    def clock_at(when: float) -> None:
        for context in (app.extensions["hamdam"], jobs._context()):
            context.groups.clock = lambda: when

    def inbox(phone: str) -> list[str]:
        found = client.get(f"/simulator{simulator.POLL}?phone={phone}").get_json()["phone"]
        return [m["body"] for m in found["messages"]]

    for phone in (member, stopped):
        client.post("/simulator/sms", json={"phone": phone, "text": "ДОХИЛ 4107"})
    client.post("/simulator/sms", json={"phone": stopped, "text": "STOP"})
    work(app)
    assert inbox(member) == [groups.confirmation("tg")]
    midnight = time.time() - (time.time() + 5 * 3600) % 86400  # today, 00:00 in UTC+5
    clock_at(midnight + 22 * 3600)  # 22:00
    nur = coordinator_client(app)
    token = form_token(nur.get("/console/groups/levakand-women").get_data(as_text=True))
    form = {"csrf": token, "template": "meeting", "day": "tue", "time": "15:00"}
    preview = nur.post("/console/groups/levakand-women/preview", data=form).get_data(as_text=True)
    assert 'class="recipients">1<' in preview and "09:00" in preview  # it goes in the morning
    assert nur.post("/console/groups/levakand-women/send", data=form).status_code == 302
    queue = Queue(ALERTS_QUEUE, connection=app.extensions["hamdam"].store.redis)
    [pump] = [j for j in queue.scheduled_job_registry.get_job_ids() if j.startswith("bcast-")]
    assert inbox(member) == [groups.confirmation("tg")]  # nothing at night
    clock_at(midnight + 33 * 3600 + 60)  # 09:01 the next morning
    queue.scheduled_job_registry.remove(pump)
    queue.enqueue_job(Job.fetch(pump, connection=queue.connection))
    work(app)
    work(app)
    meeting = groups.render(groups.draft("meeting", "tue", "15:00"), "tg")
    assert inbox(member) == [meeting, groups.confirmation("tg")]  # newest first
    assert meeting not in inbox(stopped)
