"""Retention purge, anonymous reports and directory reloads, against a real Redis."""

from __future__ import annotations

import calendar
import dataclasses
import shutil
import time

import pytest

from config.settings import ROOT
from gateway import cases, reports
from gateway.app import create_app
from gateway.store.keys import CASE, MESSAGE
from testing.leaks import redis_dump

DAY = 86400
OCT = calendar.timegm((2026, 10, 1, 0, 0, 0))


def seed_case(store, n: int, *, kind="legal", district="vakhsh", created=OCT, phone=None, **extra):
    """A case stored as intake stores it, then moved on in time as the test needs."""
    case = cases.new_case(
        id=f"case{n:04d}",
        ref=f"{1000 + n}",
        answers={"kind": kind, "district": district, "consent": "group", "call": "any"},
        channel="ussd",
        lang="tg",
        now=created,
    )
    store.redis.hset(CASE.format(id=case.id), mapping=case.to_fields())
    store.redis.hset(
        CASE.format(id=case.id),
        mapping={"enc:phone": store.vault.encrypt(phone or f"+9929000096{n:02d}"), **extra},
    )
    return case


def seed_message(store, n: int, *, route, state, created, segments=1):
    mid = f"m{n:04d}"
    store.messages.create(mid, "+992900001001", f"alert number {n}", purpose="alert")
    store.messages.set(mid, route=route, state=state, created=created, segments=segments)
    return mid


def test_purge_dry_run_then_real(app, redis_client):
    store = app.extensions["hamdam"].store
    now = time.time()
    old = seed_case(store, 1, state="closed", closed_at=now - 100 * DAY, created=now - 120 * DAY)
    recent = seed_case(store, 2, state="closed", closed_at=now - 10 * DAY, created=now - 20 * DAY)
    waiting = seed_case(store, 3, created=now - 200 * DAY)
    store.cases.add_note(old.id, "Ман дар хонаи хоҳарам")
    gone = seed_message(store, 1, route="twilio", state="delivered", created=now - 2 * DAY)
    fresh = seed_message(store, 2, route="twilio", state="delivered", created=now - 60)
    pending = seed_message(store, 3, route="twilio", state="queued", created=now - 2 * DAY)
    store.messages.create("ack1", "+992900009601", "Received", purpose="ack", case=old.id)
    store.messages.set("ack1", route="twilio", state="delivered", created=now - 2 * DAY)

    runner = app.test_cli_runner()
    dry = runner.invoke(args=["purge", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert f"case {old.ref} (legal), closed " in dry.output and "would remove" in dry.output
    assert f"message {gone} (alert): recipient and body" in dry.output
    assert f"message ack1 (ack, case {old.ref}): recipient and body" in dry.output
    assert fresh not in dry.output and pending not in dry.output
    assert f"case {recent.ref}" not in dry.output and "+992" not in dry.output
    assert "of 1 closed cases" in dry.output and "body of 2 messages" in dry.output
    assert store.cases.phone(old.id) == "+992900009601"  # nothing removed yet

    done = runner.invoke(args=["purge"])
    assert "removed the personal data of 1 closed cases" in done.output
    assert store.cases.phone(old.id) is None and store.cases.notes(old.id) == []
    assert store.cases.phone(recent.id) and store.cases.phone(waiting.id)
    assert b"enc:body" not in redis_client.hkeys(MESSAGE.format(id=gone))
    assert b"enc:body" in redis_client.hkeys(MESSAGE.format(id=fresh))
    assert b"enc:body" in redis_client.hkeys(MESSAGE.format(id=pending))
    assert "хоҳарам".encode() not in redis_dump(redis_client)
    assert store.cases.get(old.id).kind == "legal"  # anonymous fields stay for reports
    assert store.audit.trail()[-1]["event"] == "purged"
    assert "of 0 closed cases" in runner.invoke(args=["purge"]).output


def seed_month(store):
    """October 2026: 16 cases and 14 messages; two November cases outside the period."""
    minutes = [1, 2, 3, 4, 5, 6, 7, 8, 9, 30]  # to acceptance, for ten of the cases
    plan = [("vakhsh", "legal")] * 6 + [("jami", "shelter")] * 3 + [("khujand", "danger")] * 7
    for n, (district, kind) in enumerate(plan):
        created = OCT + n * DAY
        extra = {"tier": "1" if n in (0, 7, 9) else "0"}
        if n < len(minutes):
            extra.update(state="taken", taken_at=str(created + minutes[n] * 60))
        if n < 4:
            extra.update(state="closed", closed_at=str(created + DAY))
        seed_case(store, n, kind=kind, district=district, created=created, **extra)
    seed_case(store, 90, created=OCT + 31 * DAY)
    seed_case(store, 91, created=OCT + 40 * DAY)
    for n in range(10):
        state = "delivered" if n < 8 else "undelivered"
        seed_message(store, n, route="twilio", state=state, created=OCT + DAY, segments=2)
    for n in range(10, 14):
        seed_message(store, n, route="android", state="delivered", created=OCT + DAY)


def test_report_matches_hand_computed_figures(app, redis_client):
    seed_month(app.extensions["hamdam"].store)
    result = app.test_cli_runner().invoke(
        args=["report", "--from", "2026-10-01", "--to", "2026-11-01", "--format", "csv"]
    )
    assert result.exit_code == 0, result.output
    rows = {tuple(line.split(",")[:2]): line.split(",")[2] for line in result.output.splitlines()}
    assert rows[("cases", "total")] == "16"
    assert rows[("cases by month", "2026-10")] == "16"
    assert rows[("cases by district and kind", "Vakhsh / legal")] == "6"
    assert rows[("cases by district and kind", "Jami / shelter")] == "<5"
    assert rows[("cases by district and kind", "Khujand / danger")] == "7"
    assert rows[("time to acceptance", "median minutes")] == "5"
    assert rows[("time to acceptance", "90th percentile minutes")] == "9"
    assert rows[("escalations", "cases that reached a second tier")] == "<5"
    assert rows[("not closed", "cases taken but never closed")] == "6"
    assert rows[("delivery", "twilio: messages handed over")] == "10"
    assert rows[("delivery", "twilio: delivered")] == "80%"
    assert rows[("SMS segments", "twilio")] == "20"
    assert rows[("delivery", "android: messages handed over")] == "<5"
    assert rows[("delivery", "android: delivered")] == "-"


def test_report_table_and_png(app, tmp_path):
    seed_month(app.extensions["hamdam"].store)
    runner = app.test_cli_runner()
    table = runner.invoke(args=["report", "--from", "2026-10-01", "--to", "2026-11-01"])
    assert "Khujand / danger" in table.output and "<5" in table.output
    target = tmp_path / "report.png"
    png = runner.invoke(
        args=[
            "report",
            "--from",
            "2026-10-01",
            "--to",
            "2026-11-01",
            "--format",
            "png",
            "--output",
            str(target),
        ]
    )
    assert png.exit_code == 0, png.output
    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and target.stat().st_size > 10_000
    artifacts = ROOT / "tests" / "artifacts"
    artifacts.mkdir(exist_ok=True)
    shutil.copy(target, artifacts / "report.png")  # for a person to look at


def test_report_rejects_bad_dates_naming_the_option(app):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["report", "--from", "October"])
    assert result.exit_code == 2 and "'--from'" in result.output and "%Y-%m-%d" in result.output
    result = runner.invoke(args=["report", "--from", "2026-10-01", "--to", "2026-13-01"])
    assert result.exit_code == 2 and "'--to'" in result.output
    result = runner.invoke(args=["report", "--from", "2026-11-01", "--to", "2026-10-01"])
    assert result.exit_code == 2 and "'--from'" in result.output and "before --to" in result.output


def test_report_small_total_is_suppressed_in_the_wrote_line(app, tmp_path):
    store = app.extensions["hamdam"].store
    for n in range(3):
        seed_case(store, n)
    target = tmp_path / "r.csv"
    args = ["report", "--from", "2026-10-01", "--to", "2026-11-01", "--format", "csv"]
    result = app.test_cli_runner().invoke(args=[*args, "--output", str(target)])
    assert result.exit_code == 0, result.output
    assert "(<5 cases)" in result.output and "cases,total,<5" in target.read_text()


def test_png_without_output_goes_to_var_dir_and_says_where(app, settings):
    seed_month(app.extensions["hamdam"].store)
    before = set(ROOT.iterdir())
    args = ["report", "--from", "2026-10-01", "--to", "2026-11-01", "--format", "png"]
    result = app.test_cli_runner().invoke(args=args)
    assert result.exit_code == 0, result.output
    target = settings.var_dir / "reports" / "report-2026-10-01-2026-11-01.png"
    assert f"wrote {target.resolve()} (16 cases)" in result.output
    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert set(ROOT.iterdir()) == before  # nothing written into the repository


def test_chart_legend_only_kinds_with_bars_title_end_excluded_no_small_bins(app):
    store = app.extensions["hamdam"].store
    seed_month(store)
    figures = reports.build(store, OCT, OCT + 31 * DAY, {})
    fig = reports.chart(figures)
    left = fig.axes[0]
    assert [t.get_text() for t in left.get_legend().get_texts()] == ["danger", "legal"]
    assert "2026-10-01 to 2026-11-01 (end excluded)" in fig.get_suptitle()
    # acceptance: the median and 90th percentile only, no histogram bin of one or two cases
    assert [bar.get_height() for bar in fig.axes[1].patches] == [5, 9]


def test_small_counts_are_suppressed():
    assert [reports.cell(n) for n in (0, 1, 4, 5, 12)] == ["0", "<5", "<5", "5", "12"]


@pytest.fixture
def own_directory(settings, tmp_path):
    path = tmp_path / "directory.yaml"
    shutil.copy(ROOT / "config" / "directory.example.yaml", path)
    return path, create_app(dataclasses.replace(settings, directory_file=path))


def test_directory_reload_without_restart(own_directory):
    path, app = own_directory
    roster = app.extensions["hamdam"].roster
    runner = app.test_cli_runner()
    roster._next_check = 0
    roster.refresh()  # the process records the directory it runs, and its generation
    text = path.read_text()
    coordinator = "    tier: 2\n    languages: [tg, ru, uz]\n"
    text = text.replace(coordinator, coordinator.replace("tg, ru", "ru, tg"), 1)
    text += (
        '\n  - id: vakhsh-group-3\n    name: "Nilufar T."\n    phone: "+992900001005"\n'
        "    role: group\n    tier: 1\n    languages: [tg]\n    districts: [vakhsh]\n"
    )
    path.write_text(text)
    first = runner.invoke(args=["directory", "reload"])  # the first reload since the start
    assert first.exit_code == 0, first.output
    assert "2 changes recorded" in first.output, first.output
    assert "responder_added vakhsh-group-3" in first.output
    assert "responder_changed nur-coordinator (languages)" in first.output
    assert "vakhsh-group-3" not in roster.directory.responders
    roster._next_check = 0
    roster.refresh()
    assert "vakhsh-group-3" in roster.directory.responders
    events = [e["event"] for e in app.extensions["hamdam"].store.audit.trail()]
    assert events.count("responder_added") == 1 and events[-1] == "directory_reloaded"
    assert "900001005" not in str(app.extensions["hamdam"].store.audit.trail())
    again = runner.invoke(args=["directory", "reload"])
    assert "0 changes recorded" in again.output and "added" not in again.output


def test_first_reload_with_nothing_recorded_reports_no_change(own_directory):
    _, app = own_directory  # no process has run anything yet
    result = app.test_cli_runner().invoke(args=["directory", "reload"])
    assert result.exit_code == 0, result.output
    assert "0 changes recorded" in result.output and "added" not in result.output


def test_broken_directory_is_not_reloaded(own_directory):
    path, app = own_directory
    text = path.read_text().replace("\n    districts: [vakhsh]", "\n    districts: [nowhere]", 1)
    path.write_text(text)
    result = app.test_cli_runner().invoke(args=["directory", "reload"])
    assert result.exit_code == 1
    assert "nowhere" in result.output and "not reloaded" in result.output
    assert app.extensions["hamdam"].store.directory.generation() == 0
