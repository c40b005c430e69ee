"""STOP purges every case of hers, across key rotations and while a case is being opened; key
rotation keeps her STOP, rate limits, inbound dedupe and resume points. Real Redis, real RQ
worker, signed Twilio webhooks."""

from __future__ import annotations

import time
import uuid

import pytest
from redis.client import Pipeline
from rq import Queue, SimpleWorker
from twilio.request_validator import RequestValidator

from config.settings import Settings
from gateway.app import create_app
from gateway.channels.base import Inbound
from gateway.jobs import ALERTS_QUEUE
from gateway.privacy import Vault, new_key
from gateway.store import Store
from gateway.store.keys import OPEN_CASES
from testing.app import ask_for_help
from testing.env import make_env
from testing.leaks import assert_no_clear, redis_dump

TOKEN = "twilio-test-auth-token"
PUBLIC = "https://gateway.example.org"
SURVIVOR = "+992900009501"
NOTE = "Ман дар хонаи модарам"


@pytest.fixture
def gateway(redis_url, redis_client, tmp_path, monkeypatch):
    """gateway(*data_keys): an app configured with these keys, newest first."""
    from workers import jobs

    def build(*data_keys: str):
        env = make_env(
            redis_url,
            tmp_path,
            DATA_KEY=",".join(data_keys),
            TWILIO_AUTH_TOKEN=TOKEN,
            SEND_RATE="1000",  # the worker also sends the alerts: not what is measured here
        )
        for name, value in env.items():
            monkeypatch.setenv(name, value)  # the worker's jobs read the same environment
        jobs._built.cache_clear()
        return create_app(Settings.from_env(env))

    yield build
    jobs._built.cache_clear()


def sms(app, body: str, sid: str = "", phone: str = SURVIVOR) -> None:
    form = {"MessageSid": sid or "SM" + uuid.uuid4().hex, "From": phone, "To": "", "Body": body}
    sig = RequestValidator(TOKEN).compute_signature(PUBLIC + "/sms/twilio", form)
    response = app.test_client().post("/sms/twilio", data=form, headers={"X-Twilio-Signature": sig})
    assert response.status_code == 200


def ussd_help(app) -> str:
    return ask_for_help(app, SURVIVOR)


def run_worker(app) -> None:
    """Every queued job, with a real RQ worker configured by this app's environment."""
    from workers import jobs

    jobs._built.cache_clear()
    redis = app.extensions["hamdam"].store.redis
    SimpleWorker([Queue(ALERTS_QUEUE, connection=redis)], connection=redis).work(burst=True)


def rotate(app) -> str:
    result = app.test_cli_runner().invoke(args=["keys", "rotate"])
    assert result.exit_code == 0, result.output
    return result.output


def case_hashes(redis_client) -> dict[str, dict[bytes, bytes]]:
    return {k.decode(): redis_client.hgetall(k) for k in redis_client.scan_iter(match="hd:case:*")}


def assert_all_purged(redis_client, expected: int) -> None:
    cases = case_hashes(redis_client)
    assert len(cases) == expected
    for key, fields in cases.items():
        assert not [f for f in fields if f.startswith(b"enc:")], f"{key} keeps her data"
        assert fields[b"purged"] == b"1"
    dump = redis_dump(redis_client)
    assert_no_clear(dump, SURVIVOR, [NOTE])


@pytest.mark.parametrize(
    "order", ["rotate, then STOP", "STOP, then rotate", "new key first, STOP, then rotate"]
)
def test_stop_purges_her_cases_across_a_key_rotation(gateway, redis_client, order):
    old, new = new_key(), new_key()
    before = gateway(old)
    ussd_help(before)
    sms(before, "HELP")
    sms(before, NOTE)  # a note on her last case
    if order == "rotate, then STOP":
        rotate(gateway(new, old))
        sms(gateway(new), "STOP")  # the old key already dropped
    elif order == "STOP, then rotate":
        sms(before, "STOP")  # the purge job waits in the queue meanwhile
        rotate(gateway(new, old))
    else:
        both = gateway(new, old)  # restarted with the new key first, not rotated yet
        sms(both, "STOP")
        run_worker(both)  # an idle worker purges at once, before anyone rotates
        rotate(both)
    after = gateway(new)
    run_worker(after)
    assert_all_purged(redis_client, expected=2)
    assert after.extensions["hamdam"].store.consent.suppressed(SURVIVOR)  # the STOP outlives it all


def test_the_purge_job_carries_case_ids_only(gateway, redis_client):
    app = gateway(new_key())
    sms(app, "HELP")
    sms(app, "STOP")
    queue = Queue(ALERTS_QUEUE, connection=redis_client)
    [purge] = [queue.fetch_job(j) for j in queue.job_ids if j.startswith("purge-")]
    assert purge.func_name == "workers.jobs.purge_cases"
    [case_key] = case_hashes(redis_client)
    assert purge.args == ([case_key.split(":")[-1]],)
    assert_no_clear(redis_dump(redis_client), SURVIVOR)


def test_a_duplicate_webhook_after_rotation_is_still_one_case(gateway, redis_client):
    old, new = new_key(), new_key()
    sms(gateway(old), "HELP", sid="SM" + "7" * 32)
    rotate(gateway(new, old))
    sms(gateway(new), "HELP", sid="SM" + "7" * 32)  # Twilio's retry, after the old key is gone
    assert len(case_hashes(redis_client)) == 1


def test_rotation_keeps_her_stop_rate_limits_dedupe_and_resume_point(redis_client):
    old, new = new_key(), new_key()
    before = Store(redis_client, Vault([old]))
    for _ in range(30):
        assert before.rates.within("sms", SURVIVOR, 30)
    assert before.deliveries.first("twilio", "SM" + "8" * 32)
    state = {"menu": {"screen": "kind"}, "text": "4*1", "known": "en"}
    record = (state, before.vault.digest("ATUid_1\0" + "4*1"), {"text": "CON x", "end": False})
    before.sessions.close("ATUid_1", SURVIVOR, record, 180, resume={"screen": "kind"}, lang="en")
    before.consent.suppress(SURVIVOR)

    report = Store(redis_client, Vault([new, old])).phones.rotate_keys()
    assert report.rekeyed == 1 and report.lookups == 4  # rate, dedupe, resume, session hop

    after = Store(redis_client, Vault([new]))
    assert after.consent.suppressed(SURVIVOR)
    assert not after.rates.within("sms", SURVIVOR, 30)  # the 31st of the hour
    assert not after.deliveries.first("twilio", "SM" + "8" * 32)
    assert after.sessions.first(SURVIVOR) == ("en", {"screen": "kind"})
    last = redis_client.hget("hd:ussd:ATUid_1", "last").decode()
    assert last == after.vault.digest("ATUid_1\0" + "4*1")  # a duplicate hop is still seen
    old_digests = {Vault([old]).digest(v) for v in (SURVIVOR, "SM" + "8" * 32)}
    assert not [k for k in redis_client.scan_iter() if any(d in k.decode() for d in old_digests)]
    assert_no_clear(redis_dump(redis_client), SURVIVOR)


@pytest.fixture
def stop_during(monkeypatch):
    """stop_during(app, method): send her STOP (and run the worker) once, from inside the next
    call of redis-py's Pipeline.`method` that belongs to the case being opened."""

    def arm(app, method: str):
        context = app.extensions["hamdam"]
        original = getattr(Pipeline, method)
        fired = []

        def stop() -> None:
            fired.append(True)
            context.sms.handle(Inbound("twilio", SURVIVOR, "STOP", "SM" + uuid.uuid4().hex))
            run_worker(app)

        def after_execute(self, *args, **kwargs):
            opening = any(OPEN_CASES in a for a, _ in self.command_stack)  # lists the case
            result = original(self, *args, **kwargs)
            if opening and not fired:
                stop()  # the case's transaction has just committed
            return result

        def before_multi(self, *args, **kwargs):
            if not fired:
                stop()  # the case is being opened: its transaction has not started yet
            return original(self, *args, **kwargs)

        monkeypatch.setattr(
            Pipeline, method, after_execute if method == "execute" else before_multi
        )
        return fired

    return arm


@pytest.mark.parametrize("method", ["execute", "multi"])
def test_a_stop_racing_a_case_being_opened_purges_it(gateway, redis_client, stop_during, method):
    app = gateway(new_key())
    context = app.extensions["hamdam"]
    answers = {"kind": "callback", "district": "vakhsh", "consent": "group", "call": "any"}
    fired = stop_during(app, method)
    ref = context.opening.open(SURVIVOR, answers, "sms", "tg")
    assert fired == [True]
    run_worker(app)
    assert_all_purged(redis_client, expected=1)
    case = context.store.cases.by_ref(ref)
    assert case.state == "open" and context.store.cases.alerted(
        case.id
    )  # still alerted, her number not


def test_help_after_stop_is_a_new_request_with_her_number(gateway, redis_client):
    app = gateway(new_key())
    sms(app, "HELP")
    sms(app, "STOP")
    run_worker(app)
    time.sleep(0.01)
    sms(app, "HELP")  # she asks again, later: her new case can reach her
    store = app.extensions["hamdam"].store
    numbers = sorted(store.cases.phone(k.split(":")[-1]) or "" for k in case_hashes(redis_client))
    assert numbers == ["", SURVIVOR]
    assert store.consent.suppressed(SURVIVOR)  # still: nothing is sent to her


def test_rotation_during_traffic_keeps_every_case_of_hers_listed(gateway, redis_client):
    old, new = new_key(), new_key()
    sms(gateway(old), "HELP")
    both = gateway(new, old)
    sms(both, "HELP")  # lands on the old profile while it exists
    rotate(both)
    sms(gateway(new), "HELP")
    sms(gateway(new), "STOP")
    run_worker(gateway(new))
    assert_all_purged(redis_client, expected=3)


def test_keys_rotate_reports_lookups(gateway, redis_client):
    old, new = new_key(), new_key()
    first = gateway(old)
    sms(first, "HELP")  # the process also records the directory it runs (responders' hashes)
    responders = len(first.extensions["hamdam"].roster.directory.responders)
    output = rotate(gateway(new, old))
    # case limit, dedupe (the provider id's mark and its spool replay's, set with the case),
    # and each responder's phone in the recorded directory
    assert f"re-keyed 1 phone profiles and {3 + responders} other lookups" in output
    again = Store(redis_client, Vault([new])).phones.rotate_keys()
    assert (again.fields, again.rekeyed, again.lookups) == (0, 0, 0)  # nothing left to do


def test_cases_opened_at_once_are_all_listed_and_all_purged(gateway, redis_client):
    from concurrent.futures import ThreadPoolExecutor

    from gateway.usecases.opening import Reserved

    app = gateway(new_key())
    context = app.extensions["hamdam"]
    store = context.store
    answers = {"kind": "callback", "district": "vakhsh", "consent": "group", "call": "any"}

    def open_one(n: int) -> None:  # as CaseOpening.open, without her hourly limit
        case_id = uuid.uuid4().hex
        reserved = Reserved(case_id, store.cases.reserve_ref(case_id), time.time())
        with store.transaction() as pipe:
            context.opening.write(reserved, SURVIVOR, answers, "sms", "tg", pipe)
            pipe.execute()

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(open_one, range(24)))
    assert len(store.phones.profile(SURVIVOR)["cases"].split(",")) == 24  # none overwritten
    sms(app, "STOP")
    run_worker(app)
    assert_all_purged(redis_client, expected=24)


def test_rotation_does_not_make_every_responder_phone_look_changed(gateway, redis_client):
    old, new = new_key(), new_key()
    before = gateway(old)
    assert before.test_cli_runner().invoke(args=["directory", "reload"]).exit_code == 0
    output = rotate(gateway(new, old))
    after = gateway(new)
    result = after.test_cli_runner().invoke(args=["directory", "reload"])
    assert result.exit_code == 0, result.output
    assert "0 changes recorded" in result.output
    found = after.extensions["hamdam"].roster.directory
    assert f"and {len(found.responders)} other lookups" in output
