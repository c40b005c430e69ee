"""Referral to another organisation, with her consent: refused without it; the receiving duty
officer's OK moves the case (the sender keeps a read-only stub), their NO or silence returns it;
both organisations see the hand-over with the names; the reports count referrals."""

from __future__ import annotations

import dataclasses
import time

import pytest
import redis

from gateway import cases, reports, templates
from gateway.cases import CaseError, CaseState, Referral
from gateway.store.keys import CASE
from testing.app import (
    GROUP_1,
    GROUP_2,
    SURVIVOR,
    ask_for_help,
    coordinator_client,
    form_token,
    sms_from,
    taken,
    texts_to,
    work,
)

pytestmark = pytest.mark.live

SUGHD_DUTY, MEHR_DUTY = "+992900002000", "+992900003000"


def refer(client, ref: str, agreed: bool = True, to: str = "sughd", reason: str = "shelter"):
    """A coordinator's referral on the case page; the response."""
    token = form_token(client.get(f"/console/cases/{ref}").get_data(as_text=True))
    form = {"csrf": token, "to": to, "reason": reason, **({"agreed": "yes"} if agreed else {})}
    return client.post(f"/console/cases/{ref}/refer", data=form)


def events_of(store, case_id: str) -> list[dict]:
    return [e for e in store.audit.trail() if e.get("case") == case_id]


def test_a_referral_with_her_consent_moves_the_case_and_the_sender_keeps_a_stub(app, twilio_fake):
    ref = taken(app)
    store = app.extensions["hamdam"].store
    nur = coordinator_client(app)
    assert 'name="agreed"' in nur.get(f"/console/cases/{ref}").get_data(as_text=True)
    answer = refer(nur, ref)
    assert answer.status_code == 302 and "said=referred" in answer.headers["Location"]
    work(app)
    alert = texts_to(twilio_fake, SUGHD_DUTY)
    assert len(alert) == 1 and f"#{ref}" in alert[0] and f"OK {ref}" in alert[0]
    assert SURVIVOR[-4:] not in alert[0]  # the minimum of a first alert: never her number
    sms_from(app, MEHR_DUTY, f"OK {ref}")  # a third organisation cannot take it
    sms_from(app, SUGHD_DUTY, f"OK {ref}")
    work(app)
    case = store.cases.by_ref(ref)
    assert (case.org, case.taken_by, case.referral) == ("sughd", "duty-sughd", Referral.ACCEPTED)
    assert any(SURVIVOR in t for t in texts_to(twilio_fake, SUGHD_DUTY))  # the details, now
    assert templates.render("taken", "tg", ref=ref) in texts_to(twilio_fake, GROUP_1)
    assert templates.render("unclear", "tg") in texts_to(twilio_fake, MEHR_DUTY)
    # The receiving organisation has the whole case; the sender a stub without her data.
    sughd = coordinator_client(app, name="farzona", org="sughd")
    full = sughd.get(f"/console/cases/{ref}").get_data(as_text=True)
    assert "referred by nur to sughd (shelter) by dilnoza" in full
    assert "taken by sughd: accepted by Sughd duty phone (duty)" in full
    stub = nur.get(f"/console/cases/{ref}")
    page = stub.get_data(as_text=True)
    assert stub.status_code == 200 and "which took it" in page and "accepted by Sughd" in page
    assert 'name="reason"' not in page and 'name="csrf"' not in page.split("<main")[-1]
    listed = nur.get("/console/").get_data(as_text=True)
    assert f">{ref}<" in listed and "referred out" in listed
    token = form_token(nur.get("/console/").get_data(as_text=True))
    reveal = nur.post(f"/console/cases/{ref}/reveal", data={"csrf": token, "reason": "a check"})
    assert reveal.status_code == 404  # her number is the new organisation's to show
    # The new holder gives aid and closes it; the stub shows the outcome.
    sms_from(app, SUGHD_DUTY, f"DONE {ref} SAFE")
    work(app)
    assert store.cases.by_ref(ref).state == CaseState.CLOSED
    page = nur.get(f"/console/cases/{ref}").get_data(as_text=True)
    assert "closed" in page and templates.aid_labels("en", ("shelter",)) in page
    events = {e["event"]: e for e in events_of(store, case.id)}
    assert events["referred"]["by"] == "dilnoza" and events["referred"]["org"] == "nur"
    assert events["referred"]["consent"] == "she agreed, confirmed by dilnoza"
    assert events["referral_accepted"]["responder"] == "duty-sughd"
    assert events["referral_accepted"]["sender"] == "nur"


def test_a_referral_without_her_consent_is_refused(app, twilio_fake):
    ref = taken(app)
    store = app.extensions["hamdam"].store
    nur = coordinator_client(app)
    answer = refer(nur, ref, agreed=False)
    assert answer.status_code == 400
    assert "she must agree to be referred" in answer.get_data(as_text=True)
    assert refer(nur, ref, to="nur").status_code == 400  # its own organisation
    assert refer(nur, ref, to="nowhere").status_code == 400
    assert refer(nur, ref, reason="referral").status_code == 400
    work(app)
    assert texts_to(twilio_fake, SUGHD_DUTY) == []
    case = store.cases.by_ref(ref)
    assert case.referral == "" and case.org == ""
    assert not [e for e in events_of(store, case.id) if e["event"] == "referred"]


def test_a_declined_or_unanswered_referral_returns_to_the_sender(app, twilio_fake):
    ref = taken(app)
    store = app.extensions["hamdam"].store
    nur = coordinator_client(app)
    assert refer(nur, ref).status_code == 302
    assert refer(nur, ref, to="mehr").status_code == 400  # one referral waits at a time
    sms_from(app, SUGHD_DUTY, f"NO {ref}")
    work(app)
    case = store.cases.by_ref(ref)
    assert (case.referral, case.taken_by, case.org) == (Referral.RETURNED, "vakhsh-group-1", "")
    back = templates.render("referral_back", "tg", ref=ref)
    assert texts_to(twilio_fake, GROUP_1).count(back) == 1
    assert refer(nur, ref, to="mehr", reason="legal").status_code == 302
    case = store.cases.by_ref(ref)
    work(app, scheduled=f"referchk-{case.id}-1")  # the first one's deadline: answered already
    assert store.cases.by_ref(ref).referral == Referral.ASKED
    work(app, scheduled=f"referchk-{case.id}-2")  # nobody at Mehr answered in time
    assert store.cases.by_ref(ref).referral == Referral.RETURNED
    sms_from(app, MEHR_DUTY, f"OK {ref}")  # too late: nothing moves
    work(app)
    case = store.cases.by_ref(ref)
    assert (case.taken_by, case.org) == ("vakhsh-group-1", "")
    whys = [e["why"] for e in events_of(store, case.id) if e["event"] == "referral_returned"]
    assert whys == ["declined", "no answer in time"]
    assert texts_to(twilio_fake, GROUP_1).count(back) == 2


def test_the_store_refers_as_the_domain_says(app):
    ref = taken(app)
    store = app.extensions["hamdam"].store
    case = store.cases.by_ref(ref)
    referred = cases.refer(case, "sughd", "nur", "legal", True, 1.0)
    assert store.cases.refer(referred, case) == 1
    with pytest.raises(CaseError):
        cases.refer(store.cases.by_ref(ref), "mehr", "nur", "legal", True, 2.0)
    assert store.cases.refer(dataclasses.replace(referred, referral_to="mehr"), case) is None
    assert store.cases.accept_referral(case.id, "duty-mehr", "mehr") is None
    with pytest.raises(CaseError):
        cases.accept_referral(store.cases.by_ref(ref), "duty-mehr", "mehr")
    expected = cases.accept_referral(store.cases.by_ref(ref), "duty-sughd", "sughd")
    assert store.cases.accept_referral(case.id, "duty-sughd", "sughd") == "vakhsh-group-1"
    stored = store.cases.by_ref(ref)
    assert (stored.taken_by, stored.org, stored.referral) == (
        expected.taken_by,
        expected.org,
        expected.referral,
    )
    assert store.cases.return_referral(case.id, 1) is False  # accepted: it stays
    open_case = dataclasses.replace(case, state=CaseState.OPEN)
    with pytest.raises(CaseError, match="only a taken case"):
        cases.refer(open_case, "sughd", "nur", "legal", True, 1.0)


def test_reports_count_referrals_between_organisations(app):
    store = app.extensions["hamdam"].store
    nur = coordinator_client(app)
    refs = [taken(app, phone=f"+99290000940{i}") for i in range(6)]
    for ref in refs:
        assert refer(nur, ref).status_code == 302
    for ref in refs[:5]:
        sms_from(app, SUGHD_DUTY, f"OK {ref}")
    work(app)
    directory = app.extensions["hamdam"].roster.directory
    span = reports.span(time.time())
    rows = reports.rows(reports.of_directory(store, *span, directory))
    assert ("referrals", "nur to sughd: referred", "6") in rows
    assert ("referrals", "nur to sughd: accepted", "5") in rows
    of_sughd = reports.rows(reports.of_directory(store, *span, directory, "sughd"))
    assert ("referrals", "nur to sughd: accepted", "5") in of_sughd


def test_a_referral_cut_short_is_undone_and_a_stale_one_can_be_made_again(app, monkeypatch):
    ref = taken(app)
    context = app.extensions["hamdam"]
    store = context.store
    case = store.cases.by_ref(ref)

    def blip(*args, **kwargs):
        raise redis.ConnectionError("Redis went away mid-request")

    with monkeypatch.context() as patch:
        patch.setattr(context.jobs, "referral_check", blip)
        with pytest.raises(redis.ConnectionError):
            context.referrals.refer(case, "sughd", "legal", True, "dilnoza")
    assert store.cases.by_ref(ref).referral == Referral.RETURNED  # undone: it can be made again
    assert context.referrals.refer(store.cases.by_ref(ref), "sughd", "legal", True, "dilnoza") == 2
    # A process that died between the two steps leaves one waiting with no deadline job: past
    # its deadline, it no longer blocks a new referral.
    with pytest.raises(CaseError, match="waits for an answer"):
        context.referrals.refer(store.cases.by_ref(ref), "mehr", "legal", True, "dilnoza")
    store.redis.hset(CASE.format(id=case.id), "referred_at", time.time() - 3 * 86400)
    nur = coordinator_client(app)
    assert 'name="agreed"' in nur.get(f"/console/cases/{ref}").get_data(as_text=True)
    assert refer(nur, ref, to="mehr").status_code == 302
    assert store.cases.by_ref(ref).referral_to == "mehr"


def test_a_referral_of_a_case_closed_meanwhile_returns_without_a_word(app, twilio_fake):
    ref = taken(app)
    store = app.extensions["hamdam"].store
    assert refer(coordinator_client(app), ref).status_code == 302
    sms_from(app, GROUP_1, f"DONE {ref}")  # its holder closed it before Sughd answered
    sms_from(app, SUGHD_DUTY, f"OK {ref}")
    work(app)
    case = store.cases.by_ref(ref)
    assert (case.state, case.taken_by, case.org) == (CaseState.CLOSED, "vakhsh-group-1", "")
    work(app, scheduled=f"referchk-{case.id}-1")
    assert store.cases.by_ref(ref).referral == Referral.RETURNED
    back = templates.render("referral_back", "tg", ref=ref)
    assert back not in texts_to(twilio_fake, GROUP_1)


def test_the_holder_refers_by_sms_only_saying_she_agreed(app, twilio_fake):
    ref = taken(app)
    store = app.extensions["hamdam"].store
    sms_from(app, GROUP_1, f"REFER {ref} sughd SAFE")  # no YES: she did not agree
    sms_from(app, GROUP_1, f"REFER {ref} sughd")  # cannot be read
    sms_from(app, GROUP_2, f"REFER {ref} sughd SAFE YES")  # not the holder
    work(app)
    how = templates.render("refer_how", "tg", ref=ref)
    assert texts_to(twilio_fake, GROUP_1).count(how) == 2
    assert texts_to(twilio_fake, GROUP_2)[-1] == templates.render("unclear", "tg")
    assert texts_to(twilio_fake, SUGHD_DUTY) == []
    sms_from(app, GROUP_1, f"СУПОРИШ {ref} sughd ҷой ҳа")
    work(app)
    assert templates.render("referred", "tg", ref=ref) in texts_to(twilio_fake, GROUP_1)
    assert len(texts_to(twilio_fake, SUGHD_DUTY)) == 1
    case = store.cases.by_ref(ref)
    assert (case.referral, case.referral_to, case.referral_reason) == ("asked", "sughd", "shelter")
    events = [e for e in events_of(store, case.id) if e["event"].startswith("referr")]
    assert [e["event"] for e in events] == ["referral_refused", "referred"]
    assert events[1]["consent"] == "she agreed, confirmed by vakhsh-group-1"


def test_only_the_alerted_duty_officer_answers_a_referral_and_no_number_reaches_the_audit(
    app, twilio_fake
):
    ref = taken(app)
    store = app.extensions["hamdam"].store
    for guess in ("+992900002001", "+992900002005"):  # Sughd group leader, police: not alerted
        assert refer(coordinator_client(app, name=f"c{guess[-4:]}"), ref).status_code == 302
        sms_from(app, guess, f"OK {ref}")
        work(app)
        case = store.cases.by_ref(ref)
        assert case.taken_by == "vakhsh-group-1" and case.referral == Referral.ASKED
        assert all(SURVIVOR not in t for t in texts_to(twilio_fake, guess))
        sms_from(app, SUGHD_DUTY, f"NO {ref}")  # back, for the next guess
        work(app)
    sms_from(app, GROUP_1, f"REFER {ref} 992900009876 SAFE YES")  # a number for the partner
    work(app)
    audit = str(store.audit.trail())
    assert "9876" not in audit and "referral_refused" in audit


def test_her_words_that_look_like_a_command_stay_her_note(app):
    ref = ask_for_help(app, SURVIVOR)
    store = app.extensions["hamdam"].store
    for words in ("Передать 5000 сомони", "Выйти 102", "Встреча 4107 пятница 14:00"):
        sms_from(app, SURVIVOR, words)
    notes = store.cases.notes(store.cases.by_ref(ref).id)
    assert notes == ["Передать 5000 сомони", "Выйти 102", "Встреча 4107 пятница 14:00"]
