"""SMS intake over HTTP, for both channels, with real signatures and a real Redis."""

from __future__ import annotations

import logging
import time

import pytest
from rq import Queue
from twilio.request_validator import RequestValidator

from config.settings import Settings
from gateway.app import create_app
from gateway.jobs import ALERTS_QUEUE
from gateway.store.keys import OPEN_CASES
from testing.app import (
    PUBLIC,
    SECRET,
    TOKEN,
    android_body,
    open_cases,
    post_android,
    post_twilio,
    twilio_form,
)
from testing.env import make_env
from testing.leaks import assert_no_clear, redis_dump, stored_keys

SURVIVOR = "+992900009001"
RESPONDER = "+992900001001"  # a tier-1 group leader in the example directory


@pytest.fixture
def app(redis_url, redis_client, tmp_path):
    env = make_env(redis_url, tmp_path, TWILIO_AUTH_TOKEN=TOKEN, ANDROID_WEBHOOK_SECRET=SECRET)
    return create_app(Settings.from_env(env))


def plan_jobs(redis_client) -> list[str]:
    return [
        j for j in Queue(ALERTS_QUEUE, connection=redis_client).job_ids if j.startswith("plan-")
    ]


def test_twilio_help_keyword_opens_one_urgent_case(app, redis_client, caplog):
    client = app.test_client()
    with caplog.at_level(logging.DEBUG):
        response = post_twilio(client, twilio_form())
    assert response.status_code == 200
    assert response.mimetype == "text/xml"
    assert response.get_data(as_text=True).endswith("<Response />")  # nothing sent to her
    [case] = open_cases(app)
    assert (case.kind, case.urgency, case.channel, case.lang) == ("callback", "urgent", "sms", "tg")
    assert case.district == "vakhsh"  # default of the organisation owning +992900000100
    assert plan_jobs(redis_client) == [f"plan-{case.id}"]
    assert app.extensions["hamdam"].store.cases.phone(case.id) == SURVIVOR
    assert_no_clear(redis_dump(redis_client), SURVIVOR, ["Ёрдам"])
    assert_no_clear(caplog.text, SURVIVOR, ["Ёрдам"])


def test_twilio_duplicate_message_sid_is_one_case(app, redis_client):
    client = app.test_client()
    for _ in range(3):
        assert post_twilio(client, twilio_form()).status_code == 200
    assert len(open_cases(app)) == 1
    assert len(plan_jobs(redis_client)) == 1


@pytest.mark.parametrize(
    "signature", ["", "bm90IGEgc2lnbmF0dXJl", "computed-for-another-body"], ids=str
)
def test_twilio_bad_signature_is_403_and_nothing_stored(app, redis_client, signature):
    if signature == "computed-for-another-body":
        signature = RequestValidator(TOKEN).compute_signature(
            PUBLIC + "/sms/twilio", twilio_form(Body="hello")
        )
    response = post_twilio(app.test_client(), twilio_form(), signature=signature)
    assert response.status_code == 403
    assert "PUBLIC_URL" in response.get_data(as_text=True)
    assert stored_keys(redis_client) == []


def test_twilio_signature_uses_public_url_and_raw_query(app):
    # Werkzeug would decode %7E and %2F; Twilio signed them as written.
    path = "/sms/twilio?tag=%7Evillage%2Fa"
    form = twilio_form(MessageSid="SM11111111111111111111111111111111")
    signature = RequestValidator(TOKEN).compute_signature(PUBLIC + path, form)
    response = app.test_client().post(
        path, data=form, headers={"X-Twilio-Signature": signature}, base_url="http://10.0.0.5"
    )
    assert response.status_code == 200
    assert len(open_cases(app)) == 1


def test_twilio_missing_fields_is_400(app):
    form = twilio_form()
    del form["MessageSid"]
    response = post_twilio(app.test_client(), form)
    assert response.status_code == 400
    assert "MessageSid missing" in response.get_data(as_text=True)


def test_android_help_opens_case_in_district_of_her_number(app, redis_client):
    client = app.test_client()
    response = post_android(client, android_body())
    assert response.status_code == 200, response.get_data(as_text=True)
    [case] = open_cases(app)
    assert case.district == "khujand"  # she wrote to the Sughd organisation's number
    assert post_android(client, android_body()).status_code == 200  # same messageId again
    assert len(open_cases(app)) == 1 and len(plan_jobs(redis_client)) == 1
    assert_no_clear(redis_dump(redis_client), "+992900009002", ["Ёрдам"])


@pytest.mark.parametrize(
    ("timestamp", "signature", "status"),
    [
        (None, "00" * 32, 403),
        (int(time.time()) - 3600, None, 401),
        (int(time.time()) + 3600, None, 401),
        (None, "", 401),
    ],
    ids=["bad-signature", "stale", "future", "unsigned"],
)
def test_android_rejects_unsigned_or_stale(app, redis_client, timestamp, signature, status):
    response = post_android(app.test_client(), android_body(), timestamp, signature)
    assert response.status_code == status
    assert stored_keys(redis_client) == []


def test_android_garbage_body_is_400(app):
    response = post_android(app.test_client(), b"\xff\xfenot json")
    assert response.status_code == 400
    assert "not JSON" in response.get_data(as_text=True)


def test_code_word_opens_a_case(app):
    body = android_body(message="Чой дам кардам", messageId="cw-1", phoneNumber="900009005")
    assert post_android(app.test_client(), body).status_code == 200
    [case] = open_cases(app)
    assert case.lang == "tg" and case.kind == "callback"


@pytest.mark.parametrize(
    ("word", "district"),
    [("Себҳо пухтанд", "dushanbe"), ("Чой дам кардам", "khujand"), ("Тесто готово", "vakhsh")],
)
def test_code_word_goes_to_the_organisation_that_owns_it(app, word, district):
    # Written to Nur's number (+992900000100): a Mehr or Sughd word still goes to its owner.
    client = app.test_client()
    post_twilio(client, twilio_form(Body=word))
    [case] = open_cases(app)
    assert (case.kind, case.district) == ("callback", district)


def test_code_word_keeps_her_district_only_within_its_owner(app):
    client = app.test_client()
    post_twilio(client, twilio_form(Body="Ёрдам"))  # Nur's number: Vakhsh, now her district
    store = app.extensions["hamdam"].store
    for case in open_cases(app):
        store.redis.zrem(OPEN_CASES, case.id)
    post_twilio(client, twilio_form(MessageSid="SM4" + "0" * 31, Body="Яблоки созрели"))
    [case] = open_cases(app)
    assert case.district == "dushanbe"  # Mehr's word: not her earlier Nur district


def test_folded_keyword_forms(app):
    client = app.test_client()
    for n, word in enumerate(["ЁРДАМ", "ердам", "Помощь!", "yordam", "HELP"]):
        body = android_body(message=word, messageId=f"kw-{n}", phoneNumber=f"90000930{n}")
        assert post_android(client, body).status_code == 200
    assert len(open_cases(app)) == 5


def test_further_sms_becomes_an_encrypted_note(app, redis_client):
    client = app.test_client()
    post_twilio(client, twilio_form())
    detail = "Ман дар хонаи хоҳарам ҳастам"
    post_twilio(client, twilio_form(MessageSid="SM22222222222222222222222222222222", Body=detail))
    [case] = open_cases(app)
    assert app.extensions["hamdam"].store.cases.notes(case.id) == [detail]
    assert_no_clear(redis_dump(redis_client), SURVIVOR, [detail])


def test_unknown_text_gets_no_reply_and_no_case(app, redis_client):
    response = post_twilio(app.test_client(), twilio_form(Body="Салом, чӣ хел?"))
    assert response.get_data(as_text=True).endswith("<Response />")
    assert open_cases(app) == []


@pytest.mark.parametrize("word", ["STOP", "Стоп", "БАС", "DELETE", "ҳазф", "o'chir"])
def test_stop_suppresses_and_purges_her_data(app, redis_client, word, monkeypatch, tmp_path):
    client = app.test_client()
    post_twilio(client, twilio_form())
    [case] = open_cases(app)
    post_twilio(client, twilio_form(MessageSid="SM33333333333333333333333333333333", Body=word))
    store = app.extensions["hamdam"].store
    assert store.consent.suppressed(SURVIVOR)
    job_ids = Queue(ALERTS_QUEUE, connection=redis_client).job_ids
    purge = [j for j in job_ids if j.startswith("purge-")]
    assert len(purge) == 1 and "900009001" not in purge[0]
    run_jobs(monkeypatch, app)
    assert store.cases.phone(case.id) is None
    assert store.consent.suppressed(SURVIVOR)  # the STOP itself outlives the purge


def test_responder_command_from_unregistered_number_is_audited_only(app, redis_client):
    response = post_twilio(app.test_client(), twilio_form(Body="OK 4821"))
    assert response.get_data(as_text=True).endswith("<Response />")
    trail = app.extensions["hamdam"].store.audit.trail()
    assert trail[-1]["event"] == "command_ignored"
    assert open_cases(app) == []


def test_sms_rate_limit_per_phone(app):
    client = app.test_client()
    for n in range(8):
        post_twilio(client, twilio_form(MessageSid=f"SM{n:032d}", Body="ёрдам"))
    assert len(open_cases(app)) == 5


def run_jobs(monkeypatch, app) -> None:
    """Run queued jobs with a real RQ worker in this process, configured by the environment."""
    from rq import SimpleWorker

    from workers import jobs

    settings = app.extensions["hamdam"].settings
    env = {
        "REDIS_URL": settings.redis_url,
        "DATA_KEY": ",".join(settings.data_keys),
        "USSD_KEY": settings.ussd_key,
        "OPERATOR_PASSWORD": settings.operator_password,
        "VAR_DIR": str(settings.var_dir),
        "DIRECTORY_FILE": str(settings.directory_file),
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    jobs._built.cache_clear()
    store = app.extensions["hamdam"].store
    worker = SimpleWorker([Queue(ALERTS_QUEUE, connection=store.redis)], connection=store.redis)
    worker.work(burst=True)
    jobs._built.cache_clear()
