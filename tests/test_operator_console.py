"""The operator console: accounts by command, sign-in with CSRF and lock-out, a case list and
case page limited to the operator's organisation, her number revealed only with a reason and
audited with the operator's name, the safe replay from the case page."""

from __future__ import annotations

import base64
import re
from urllib.parse import unquote_plus

import pyotp
import pytest
from werkzeug.security import check_password_hash

from gateway import accounts
from gateway.console.words import LANGUAGES, WORDS
from gateway.store.keys import OPERATOR
from testing.app import (
    GROUP_1,
    MAHALLA,
    SURVIVOR,
    app_with,
    ask_for_help,
    fail_both_alerts,
    form_token,
    work,
)
from testing.leaks import assert_no_clear

pytestmark = pytest.mark.live

PASSWORD = "a long enough password"  # noqa: S105 - a test value
SOURCE = {"REMOTE_ADDR": "198.51.100.20"}


def add(app, name: str, role: str, org: str = "", password: str = PASSWORD):
    args = ["operators", "add", name, "--role", role, "--by", "tester"]
    return app.test_cli_runner().invoke(args=[*args, "--org", org], input=password + "\n")


def sign_in(client, name: str, password: str = PASSWORD):
    page = client.get("/console/login").get_data(as_text=True)
    form = {"csrf": form_token(page), "name": name, "password": password}
    return client.post("/console/login", data=form, environ_base=SOURCE)


def audited(app, event: str) -> list[dict[str, str]]:
    return [e for e in app.extensions["hamdam"].store.audit.trail() if e["event"] == event]


@pytest.fixture
def coordinator(app):
    """A coordinator of `nur` (Vakhsh, Jami ...) signed in on a fresh client."""
    assert add(app, "dilnoza", "coordinator", "nur").exit_code == 0
    client = app.test_client()
    assert sign_in(client, "dilnoza").status_code == 302
    return client


def test_accounts_are_added_listed_disabled_and_reset_by_command(app, redis_client):
    result = add(app, "dilnoza", "coordinator", "nur")
    assert result.exit_code == 0 and "coordinator of nur" in result.output
    stored = redis_client.hget(OPERATOR.format(name="dilnoza"), "password").decode()
    assert PASSWORD not in stored and check_password_hash(stored, PASSWORD)  # werkzeug's format
    assert "exists" in add(app, "dilnoza", "viewer", "nur").output
    unknown = add(app, "farrukh", "coordinator", "nowhere")
    assert unknown.exit_code != 0 and "nowhere" in unknown.output and "nur" in unknown.output
    short = add(app, "farrukh", "viewer", "nur", password="short")
    assert short.exit_code != 0 and "12 characters" in short.output
    assert add(app, "admin.one", "admin").exit_code == 0
    runner = app.test_cli_runner()
    listed = runner.invoke(args=["operators", "list"]).output
    assert "dilnoza\tnur\tcoordinator\tactive" in listed
    assert "admin.one\tevery organisation\tadmin" in listed
    client = app.test_client()
    assert sign_in(client, "dilnoza").status_code == 302
    assert runner.invoke(args=["operators", "disable", "dilnoza"]).exit_code == 0
    assert client.get("/console/").status_code == 302  # its session ended with it
    assert sign_in(app.test_client(), "dilnoza").status_code == 401
    reset = runner.invoke(args=["operators", "reset", "dilnoza"], input="another long password\n")
    assert reset.exit_code == 0
    assert sign_in(app.test_client(), "dilnoza", "another long password").status_code == 302
    events = [e["event"] for e in app.extensions["hamdam"].store.audit.trail()]
    assert {"operator_added", "operator_disabled", "operator_reset"} <= set(events)


def test_a_coordinator_sees_her_organisations_cases_and_another_is_not_found(app, coordinator):
    mine = ask_for_help(app, district="Vakhsh")
    theirs = ask_for_help(app, "+992900009302", district="Khujand")
    listed = coordinator.get("/console/").get_data(as_text=True)
    assert f">{mine}<" in listed and f">{theirs}<" not in listed
    page = coordinator.get(f"/console/cases/{mine}")
    assert page.status_code == 200 and "vakhsh" in page.get_data(as_text=True)
    assert f"<title>Case {mine}: Hamdam cases</title>" in page.get_data(as_text=True)
    assert page.headers["Cache-Control"] == "no-store"
    assert coordinator.get(f"/console/cases/{theirs}").status_code == 404
    assert coordinator.get("/console/cases/0000").status_code == 404  # the same answer
    found = coordinator.get(f"/console/?ref={mine}")
    assert found.status_code == 302 and found.headers["Location"].endswith(f"/cases/{mine}")
    reveal = coordinator.post(
        f"/console/cases/{theirs}/reveal",
        data={"csrf": form_token(page.get_data(as_text=True)), "reason": "to call her back"},
    )
    assert reveal.status_code == 404 and not audited(app, "number_revealed")


def test_her_number_shows_only_with_a_reason_and_the_operator_is_audited(app, coordinator):
    ref = ask_for_help(app, district="Vakhsh")
    page = coordinator.get(f"/console/cases/{ref}").get_data(as_text=True)
    assert_no_clear(page, SURVIVOR)
    token = form_token(page)
    vague = coordinator.post(f"/console/cases/{ref}/reveal", data={"csrf": token, "reason": "x"})
    assert vague.status_code == 400 and not audited(app, "number_revealed")
    numbered = coordinator.post(
        f"/console/cases/{ref}/reveal", data={"csrf": token, "reason": "call 90 000 91 01 back"}
    )
    assert numbered.status_code == 400 and "without a phone number" in numbered.get_data(
        as_text=True
    )
    assert not audited(app, "number_revealed")
    assert_no_clear(vague.get_data(as_text=True), SURVIVOR)
    shown = coordinator.post(
        f"/console/cases/{ref}/reveal", data={"csrf": token, "reason": "she asked for a call"}
    )
    assert shown.status_code == 200 and SURVIVOR in shown.get_data(as_text=True)
    [entry] = audited(app, "number_revealed")
    assert entry["by"] == "dilnoza" and entry["reason"] == "she asked for a call"
    assert SURVIVOR not in str(entry)


def test_a_post_without_the_form_token_is_refused(app, coordinator):
    ref = ask_for_help(app, district="Vakhsh")
    for data in ({"reason": "she asked for a call"}, {"csrf": "forged", "reason": "a reason"}):
        refused = coordinator.post(f"/console/cases/{ref}/reveal", data=data)
        assert refused.status_code == 403
    assert not audited(app, "number_revealed")
    login = app.test_client().post(
        "/console/login", data={"name": "dilnoza", "password": PASSWORD}, environ_base=SOURCE
    )
    assert login.status_code == 403 and "hamdam_console=" not in str(login.headers)


def test_sign_in_is_throttled_locked_and_audited_by_name(app):
    assert add(app, "dilnoza", "coordinator", "nur").exit_code == 0
    client = app.test_client()
    answers = [sign_in(client, "dilnoza", f"wrong password {n}").status_code for n in range(5)]
    assert answers[:3] == [401, 401, 401] and answers[4] == 429
    blocked = sign_in(client, "dilnoza")  # the right password waits too
    assert blocked.status_code == 429 and int(blocked.headers["Retry-After"]) >= 1
    failures = audited(app, "operator_login_failed")
    assert failures and all(f["user"] == "dilnoza" for f in failures)
    unlock = ["operators", "unlock", "--user", "dilnoza", "--source", SOURCE["REMOTE_ADDR"]]
    assert app.test_cli_runner().invoke(args=unlock).exit_code == 0
    assert sign_in(client, "dilnoza").status_code == 302
    assert audited(app, "operator_login")[-1]["user"] == "dilnoza"


def test_a_viewer_sees_no_cases_and_only_admins_open_the_dashboard(app, coordinator):
    assert add(app, "viewer.one", "viewer", "nur").exit_code == 0
    viewer = app.test_client()
    sign_in(viewer, "viewer.one")
    assert viewer.get("/console/").headers["Location"].endswith("/console/reports")
    ref = ask_for_help(app, district="Vakhsh")
    assert viewer.get(f"/console/cases/{ref}").status_code == 403
    basic = {"Authorization": "Basic " + _b64(f"dilnoza:{PASSWORD}")}
    assert app.test_client().get("/metrics", headers=basic).status_code == 403
    assert add(app, "admin.one", "admin").exit_code == 0
    admin = {"Authorization": "Basic " + _b64(f"admin.one:{PASSWORD}")}
    assert app.test_client().get("/metrics", headers=admin).status_code == 200


def test_the_first_admin_from_the_settings_still_signs_in(app):
    settings = app.extensions["hamdam"].settings
    client = app.test_client()
    assert sign_in(client, settings.operator_user, settings.operator_password).status_code == 302
    assert client.get("/console/").status_code == 200


def test_replay_from_the_case_page_sends_once(app, coordinator, twilio_fake, android_fake):
    failed = fail_both_alerts(app, twilio_fake, android_fake)
    store = app.extensions["hamdam"].store
    [case_id] = {store.messages.case_of(j.split("-", 1)[1]) for j in failed}
    ref = store.cases.get(case_id).ref
    page = coordinator.get(f"/console/cases/{ref}").get_data(as_text=True)
    buttons = re.findall(rf'action="(/console/cases/{ref}/replay/[^"]+)"', page)
    assert len(buttons) == 2
    done = coordinator.post(buttons[0], data={"csrf": form_token(page)})
    assert done.status_code == 302 and "replayed=requeued" in done.headers["Location"]
    again = coordinator.post(buttons[0], data={"csrf": form_token(page)})
    assert "nothing" in unquote_plus(again.headers["Location"])
    work(app)
    assert len(twilio_fake.sent) == 1
    [entry] = [e for e in audited(app, "replayed") if e.get("case") == case_id]
    assert entry["by"] == "dilnoza"
    story = coordinator.get(f"/console/cases/{ref}").get_data(as_text=True)
    assert "replayed by dilnoza" in story
    assert GROUP_1 not in story  # responders by name, never by number


def test_password_hashes_are_slow_salted_and_checked(app):
    first, second = accounts.hash_password(PASSWORD), accounts.hash_password(PASSWORD)
    assert first != second and first.startswith("scrypt:32768:8:1$")
    assert accounts.check_password(first, PASSWORD) and not accounts.check_password(first, "no")
    assert not accounts.check_password("garbage", PASSWORD)


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def test_figures_of_her_organisation_only_with_small_cells_suppressed(app, coordinator):
    for n in range(6):
        ask_for_help(app, f"+99290000940{n}", district="Vakhsh")
    ask_for_help(app, "+992900009410", district="Khujand")
    page = coordinator.get("/console/reports")
    text = page.get_data(as_text=True)
    assert page.status_code == 200 and "Vakhsh / legal" in text and "Khujand" not in text
    total = re.search(r"<td>total</td><td class=\"n\">(\S+)</td>", text).group(1)
    assert total == "6"
    csv = coordinator.get("/console/reports.csv?org=sughd")  # not hers: ignored
    assert csv.status_code == 200 and csv.mimetype == "text/csv"
    assert "cases,total,6" in csv.get_data(as_text=True)
    png = coordinator.get("/console/reports.png")
    assert png.status_code == 200 and png.data.startswith(b"\x89PNG")
    bad = coordinator.get("/console/reports?from=yesterday")
    assert bad.status_code == 400 and "YYYY-MM-DD" in bad.get_data(as_text=True)
    assert add(app, "viewer.one", "viewer", "sughd").exit_code == 0
    viewer = app.test_client()
    sign_in(viewer, "viewer.one")
    assert viewer.get("/console/").headers["Location"].endswith("/console/reports")
    seen = viewer.get("/console/reports").get_data(as_text=True)
    assert "Khujand / legal" in seen and "&lt;5" in seen and "Vakhsh" not in seen
    assert viewer.get("/console/directory").status_code == 403


def test_the_directory_page_lists_her_organisation_and_the_files_check(app, coordinator):
    page = coordinator.get("/console/directory").get_data(as_text=True)
    assert "Nur women" in page and "Malika R." in page and "passes the check" in page
    assert "Sughd" not in page and "+99290000" not in page  # responders by name, not number


def test_flask_report_for_one_organisation(app):
    ask_for_help(app, district="Vakhsh")
    runner = app.test_cli_runner()
    out = runner.invoke(args=["report", "--org", "sughd", "--format", "csv"]).output
    assert "cases,total,0" in out
    wrong = runner.invoke(args=["report", "--org", "nowhere"])
    assert wrong.exit_code == 2 and "nur" in wrong.output


def test_a_coordinator_hands_a_case_over_and_closes_it_with_a_reason(
    app, coordinator, twilio_fake, android_fake
):
    ref = ask_for_help(app, district="Vakhsh")
    work(app)
    page = coordinator.get(f"/console/cases/{ref}").get_data(as_text=True)
    token = form_token(page)
    assert 'value="vakhsh-mahalla"' in page and 'value="khujand-group-1"' not in page
    foreign = coordinator.post(
        f"/console/cases/{ref}/hand", data={"csrf": token, "responder": "duty-sughd"}
    )
    assert foreign.status_code == 404
    handed = coordinator.post(
        f"/console/cases/{ref}/hand", data={"csrf": token, "responder": "vakhsh-mahalla"}
    )
    assert handed.status_code == 302 and "said=handed" in handed.headers["Location"]
    work(app)
    store = app.extensions["hamdam"].store
    case = store.cases.by_ref(ref)
    assert (case.state, case.taken_by) == ("taken", "vakhsh-mahalla")
    details = [m for m in [*twilio_fake.sent, *android_fake.sent] if m.to == MAHALLA]
    assert len(details) == 1 and ref in details[0].body  # as if they had answered OK
    vague = coordinator.post(f"/console/cases/{ref}/close", data={"csrf": token, "reason": "ok"})
    assert vague.status_code == 400 and store.cases.by_ref(ref).state == "taken"
    closed = coordinator.post(
        f"/console/cases/{ref}/close", data={"csrf": token, "reason": "she is safe with family"}
    )
    assert closed.status_code == 302 and store.cases.by_ref(ref).state == "closed"
    story = coordinator.get(f"/console/cases/{ref}").get_data(as_text=True)
    assert "handed to" in story and "closed by dilnoza: she is safe with family" in story
    [entry] = audited(app, "handed_over")
    assert (entry["by"], entry["responder"]) == ("dilnoza", "vakhsh-mahalla")
    verify = app.test_cli_runner().invoke(args=["audit", "verify"])
    assert verify.exit_code == 0 and "intact" in verify.output


def test_a_second_factor_signs_in_once_per_code_and_opens_the_dashboard(app, redis_client):
    assert add(app, "admin.one", "admin").exit_code == 0
    enrolled = app.test_cli_runner().invoke(args=["operators", "totp", "admin.one"])
    secret = re.search(r"app \(shown once\): (\w+)", enrolled.output).group(1)
    assert "otpauth://totp/Hamdam:admin.one" in enrolled.output
    assert secret.encode() not in b"".join(redis_client.hvals(OPERATOR.format(name="admin.one")))
    client = app.test_client()
    assert sign_in(client, "admin.one").status_code == 401  # no code
    code = pyotp.TOTP(secret).now()
    page = client.get("/console/login").get_data(as_text=True)
    form = {"csrf": form_token(page), "name": "admin.one", "password": PASSWORD, "code": code}
    assert client.post("/console/login", data=form, environ_base=SOURCE).status_code == 302
    assert client.get("/rq/").status_code == 200  # the console's sign-in opens the dashboard
    assert client.get("/metrics").status_code == 200
    again = app.test_client()
    page = again.get("/console/login").get_data(as_text=True)
    form["csrf"] = form_token(page)
    assert again.post("/console/login", data=form, environ_base=SOURCE).status_code == 401
    basic = {"Authorization": "Basic " + _b64(f"admin.one:{PASSWORD}")}
    refused = app.test_client().get("/metrics", headers=basic)
    assert refused.status_code == 403 and "/console/login" in refused.get_data(as_text=True)


def test_the_first_admin_retires_once_an_admin_account_exists(app):
    settings = app.extensions["hamdam"].settings
    first = {"Authorization": "Basic " + _b64(f"operator:{settings.operator_password}")}
    assert app.test_client().get("/metrics", headers=first).status_code == 200
    assert add(app, "admin.one", "admin").exit_code == 0
    assert app.test_client().get("/metrics", headers=first).status_code == 401
    listed = app.test_cli_runner().invoke(args=["operators", "list"]).output
    assert "OPERATOR_USER, retired" in listed


def test_in_production_an_admin_needs_a_second_factor(live_env, monkeypatch):
    app = next(app_with(live_env, monkeypatch, HAMDAM_ENV="production"))
    assert add(app, "admin.one", "admin").exit_code == 0
    assert add(app, "dilnoza", "coordinator", "nur").exit_code == 0
    refused = sign_in(app.test_client(), "admin.one")
    assert refused.status_code == 403 and "flask operators totp" in refused.get_data(as_text=True)
    assert sign_in(app.test_client(), "dilnoza").status_code == 302  # only admins need one


def test_prometheus_scrapes_metrics_with_a_bearer_token(live_env, monkeypatch):
    app = next(app_with(live_env, monkeypatch, METRICS_TOKEN="t" * 32))
    client = app.test_client()
    assert (
        client.get("/metrics", headers={"Authorization": "Bearer " + "t" * 32}).status_code == 200
    )
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert client.get("/rq/", headers={"Authorization": "Bearer " + "t" * 32}).status_code == 401


def test_every_console_word_is_in_every_language_with_the_same_placeholders(app):
    for key, texts in WORDS.items():
        assert set(texts) == set(LANGUAGES), key
        fields = {lang: set(re.findall(r"{(\w+)}", text)) for lang, text in texts.items()}
        assert len({frozenset(f) for f in fields.values()}) == 1, (key, fields)
    client = app.test_client()
    page = client.get("/console/login?lang=tg").get_data(as_text=True)
    assert 'lang="tg"' in page and "Ворид шудан" in page
    assert "Войти" in client.get("/console/login?lang=ru").get_data(as_text=True)
    assert 'lang="ru"' in client.get("/console/login").get_data(as_text=True)  # remembered
