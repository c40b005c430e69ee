"""A frozen or stopped Redis: answers stay bounded, inbound SMS wait in the encrypted spool."""

from __future__ import annotations

import stat
import time

import pytest

from config.settings import Settings
from gateway.app import create_app
from gateway.store.keys import OPEN_CASES
from testing.app import SECRET, TOKEN, android_body, post_android, twilio_form
from testing.app import post_twilio as _post_twilio
from testing.env import make_env
from testing.leaks import assert_no_clear
from testing.processes import OwnRedis
from testing.ussd import Help, UssdPhone, flask_post

SURVIVOR = "+992900009001"
USSD_KEY = "test-ussd-key-0123456789"
ANSWER_LIMIT = 6.0  # seconds: unbounded calls took 10-15 s; the drill measures the figure


@pytest.fixture
def own_redis(tmp_path):
    server = OwnRedis(tmp_path / "redis")
    try:
        yield server
    finally:
        server.stop()  # always: a frozen server is thawed first, then stopped


@pytest.fixture
def app(own_redis, tmp_path):
    env = make_env(
        own_redis.url, tmp_path / "var", TWILIO_AUTH_TOKEN=TOKEN, ANDROID_WEBHOOK_SECRET=SECRET
    )
    return create_app(Settings.from_env(env))


def timed(call):
    started = time.monotonic()
    response = call()
    return response, time.monotonic() - started


def hop(client, session: str, text: str = ""):
    form = {"sessionId": session, "phoneNumber": SURVIVOR, "serviceCode": "*1#", "text": text}
    return client.post(f"/ussd/africastalking?key={USSD_KEY}", data=form)


def open_case_ids(app) -> list[str]:
    store = app.extensions["hamdam"].store
    return [i.decode() for i in store.redis.zrange(OPEN_CASES, 0, -1)]


def post_twilio(client, form):
    return _post_twilio(client, form)


# ---- a frozen Redis (SIGSTOP) --------------------------------------------------------------------
def test_frozen_redis_gets_a_neutral_end_and_a_503_within_bounds(app, own_redis):
    client = app.test_client()
    assert hop(client, "ATUid_warm").status_code == 200  # pooled connections exist, as in service
    own_redis.freeze()
    try:
        response, took = timed(lambda: hop(client, "ATUid_frozen", "4"))
        health, health_took = timed(lambda: client.get("/healthz"))
    finally:
        own_redis.thaw()
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and response.mimetype == "text/plain"
    assert body.startswith("END "), body
    assert took < ANSWER_LIMIT, f"USSD hop took {took:.1f} s with Redis frozen"
    assert health.status_code == 503
    assert health_took < ANSWER_LIMIT, f"/healthz took {health_took:.1f} s with Redis frozen"
    assert hop(client, "ATUid_after").get_data(as_text=True).startswith("CON ")  # recovered


# ---- inbound SMS while Redis is down -------------------------------------------------------------
def spool_of(app):
    return app.extensions["hamdam"].spool


def test_twilio_help_during_an_outage_is_spooled_encrypted_and_replayed_once(
    app, own_redis, caplog
):
    client = app.test_client()
    own_redis.stop()
    sids = [f"SM{n:032d}" for n in range(3)]
    for n, sid in enumerate(sids):
        form = twilio_form(MessageSid=sid, From=f"+99290000910{n}")
        response, took = timed(lambda form=form: post_twilio(client, form))
        assert response.status_code == 200, response.get_data(as_text=True)
        assert took < ANSWER_LIMIT
    spool = spool_of(app)
    assert spool.pending() == 3
    assert stat.S_IMODE(spool.path.stat().st_mode) == 0o600
    raw = spool.path.read_bytes()
    for n in range(3):
        assert_no_clear(raw, f"+99290000910{n}", ["Ёрдам", sids[n]])
    assert_no_clear(caplog.text, SURVIVOR, ["Ёрдам"])

    own_redis.start()
    spool.replay(app.extensions["hamdam"].spooled.replay, _retryable())
    assert len(open_case_ids(app)) == 3
    assert spool.pending() == 0
    for sid in sids:  # the provider (or an attacker) sends the same webhooks again
        post_twilio(client, twilio_form(MessageSid=sid))
    assert len(open_case_ids(app)) == 3


def test_an_sms_spooled_while_redis_was_frozen_is_opened_once_it_thaws(app, own_redis):
    # The dedupe SET reaches the frozen server, times out here, and runs once Redis thaws.
    client = app.test_client()
    assert client.get("/healthz").get_json()["redis"]["reachable"]  # pooled connections exist
    own_redis.freeze()
    try:
        response, took = timed(lambda: post_twilio(client, twilio_form()))
    finally:
        own_redis.thaw()
    assert response.status_code == 200 and took < ANSWER_LIMIT
    context = app.extensions["hamdam"]
    time.sleep(0.5)  # let the thawed server run what it had received
    context.spool.replay(context.spooled.replay, _retryable())
    assert len(open_case_ids(app)) == 1
    assert post_twilio(client, twilio_form()).status_code == 200  # a repeat, nothing more
    assert len(open_case_ids(app)) == 1


def test_the_web_replays_the_spool_by_itself_when_redis_returns(app, own_redis):
    client = app.test_client()
    own_redis.stop()
    assert post_android(client, android_body(messageId="spooled-1")).status_code == 200
    own_redis.start()
    deadline = time.monotonic() + 15
    while not open_case_ids(app) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert len(open_case_ids(app)) == 1
    assert spool_of(app).pending() == 0


def test_an_sms_neither_handled_nor_spooled_is_a_503_not_a_silent_200(app, own_redis):
    spool = spool_of(app)
    spool.directory.parent.mkdir(parents=True, exist_ok=True)
    spool.directory.write_text("")  # a file where the spool's directory should be
    own_redis.stop()
    response = post_twilio(app.test_client(), twilio_form())
    assert response.status_code == 503  # Twilio's fallback URL, if set, gets its chance


def test_a_corrupt_line_is_kept_aside_and_does_not_block_the_others(app, own_redis):
    client = app.test_client()
    own_redis.stop()
    post_twilio(client, twilio_form(MessageSid="SM" + "1" * 32, From="+992900009101"))
    spool = spool_of(app)
    with spool.path.open("ab") as out:
        out.write(b"gAAAAAnot-a-token\n")
    post_twilio(client, twilio_form(MessageSid="SM" + "2" * 32, From="+992900009102"))
    own_redis.start()
    done = spool.replay(app.extensions["hamdam"].spooled.replay, _retryable())
    assert (done.handled, done.corrupt, done.left) == (2, 1, 0)
    assert len(open_case_ids(app)) == 2
    assert spool.corrupt.read_bytes() == b"gAAAAAnot-a-token\n"
    assert stat.S_IMODE(spool.corrupt.stat().st_mode) == 0o600


def test_a_replay_while_redis_is_still_down_keeps_every_record(app, own_redis):
    client = app.test_client()
    own_redis.stop()
    for n in range(2):
        post_twilio(client, twilio_form(MessageSid=f"SM{n:032d}", From=f"+99290000911{n}"))
    spool = spool_of(app)
    done = spool.replay(app.extensions["hamdam"].spooled.replay, _retryable())
    assert (done.handled, done.left) == (0, 2)
    assert spool.pending() == 2
    own_redis.start()
    spool.replay(app.extensions["hamdam"].spooled.replay, _retryable())
    assert len(open_case_ids(app)) == 2


def test_a_record_whose_provider_mark_was_left_behind_is_still_handled_once(app, own_redis):
    # The failed attempt left the MessageSid's mark behind (a forget that failed, or a SET a
    # frozen Redis ran after its caller had given up): the replay must not take it for handled.
    context = app.extensions["hamdam"]
    sid = "SM" + "7" * 32
    assert context.store.deliveries.first("twilio", sid)  # the mark left behind
    record = {
        "kind": "sms",
        "channel": "twilio",
        "sender": SURVIVOR,
        "text": "Ёрдам",
        "id": sid,
        "to": "+992900000100",
        "at": time.time(),
    }
    context.spool.keep(record)
    context.spool.keep(record)  # kept twice (the provider sent it again during the outage)
    context.spool.replay(context.spooled.replay, _retryable())
    assert len(open_case_ids(app)) == 1


def test_an_sms_whose_case_was_written_just_before_redis_went_is_not_opened_twice(
    own_redis, tmp_path, monkeypatch
):
    """Redis goes right after the transaction that wrote her case (a master dying before a
    replica confirmed it): the SMS is spooled, and its replay finds it handled."""
    env = make_env(
        own_redis.url, tmp_path / "var", TWILIO_AUTH_TOKEN=TOKEN, REDIS_WAIT_REPLICAS="1"
    )
    app = create_app(Settings.from_env(env))
    store = app.extensions["hamdam"].store
    confirm = store.replicated

    def redis_goes(what, *args, **kwargs):
        if what == "case":
            own_redis.freeze()  # the next command (asking for the replicas) times out
        return confirm(what, *args, **kwargs)

    monkeypatch.setattr(store, "replicated", redis_goes)
    response = post_twilio(app.test_client(), twilio_form(MessageSid="SM" + "8" * 32))
    assert response.status_code == 200
    spool = spool_of(app)
    assert spool.pending() == 1
    own_redis.thaw()
    monkeypatch.setattr(store, "replicated", confirm)
    deadline = time.monotonic() + 10  # the web's own replayer may be at it already
    while spool.pending() and time.monotonic() < deadline:
        spool.replay(app.extensions["hamdam"].spooled.replay, _retryable())
        time.sleep(0.05)
    assert spool.pending() == 0
    assert len(open_case_ids(app)) == 1


def _retryable():
    from gateway.store import REDIS_DOWN

    return REDIS_DOWN


# ---- a USSD help request while Redis is down -----------------------------------------------------
def test_a_ussd_request_made_while_redis_is_down_is_kept_and_opened_once(app, own_redis, caplog):
    client = app.test_client()
    own_redis.stop()
    phone = UssdPhone(flask_post(client, USSD_KEY), SURVIVOR)
    phone.ask(Help(lang="en", kind="legal", consent="group"))
    bodies = phone.screens
    assert bodies[0].startswith("CON ") and "English" in bodies[0]  # the language list
    assert all(b.startswith("CON ") for b in bodies[:-1]), bodies
    assert bodies[-1] == "END Thank you. Received."  # no reference promised
    assert phone.post("*".join(phone.inputs)) == bodies[-1]  # the last hop delivered again
    spool = spool_of(app)
    assert_no_clear(spool.path.read_bytes(), SURVIVOR)
    assert_no_clear(caplog.text, SURVIVOR)
    own_redis.start()
    spool.replay(app.extensions["hamdam"].spooled.replay, _retryable())
    [case_id] = open_case_ids(app)
    case = app.extensions["hamdam"].store.cases.get(case_id)
    assert (case.kind, case.channel, case.lang, case.consent) == ("legal", "ussd", "en", "group")
    assert app.extensions["hamdam"].store.cases.phone(case_id) == SURVIVOR


def test_a_session_begun_with_redis_gets_the_neutral_end_when_it_goes(app, own_redis):
    client = app.test_client()
    assert hop(client, "ATUid_online").get_data(as_text=True).startswith("CON ")
    own_redis.stop()
    body = hop(client, "ATUid_online", "4").get_data(as_text=True)
    assert body.startswith("END ") and "Received" not in body


def test_a_session_begun_without_redis_goes_on_from_the_language_list_when_it_returns(
    app, own_redis
):
    store = app.extensions["hamdam"].store
    store.phones.update_profile(SURVIVOR, lang="ru")  # her remembered language
    client = app.test_client()
    own_redis.stop()
    first = hop(client, "ATUid_back").get_data(as_text=True)
    assert "English" in first
    own_redis.start()
    body = hop(client, "ATUid_back", "4").get_data(as_text=True)
    assert body.startswith("CON Menu") and "Ask for advice" in body, body  # English main menu
