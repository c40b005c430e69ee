"""Operator commands about cases: replaying failed messages, purging old cases, reports."""

from __future__ import annotations

import calendar
import getpass
import time
from datetime import datetime
from pathlib import Path

import click
from flask.cli import with_appcontext

from gateway import reports, retention, web
from gateway.jobs import job_case


@click.command("replay")
@click.option("--case", "ref", help="Only the failed messages of the case with this reference.")
@click.option("--reason", required=True, help="Why you replay (kept in the audit trail).")
@click.option("--by", default=lambda: getpass.getuser(), show_default="your login name")
@with_appcontext
def replay(ref: str | None, reason: str, by: str) -> None:
    """Send failed messages again, once each; already-sent, stale or STOPped ones are dropped."""
    context = web.context()
    store, replay = context.store, context.replay
    case_id = ""
    if ref:
        case = store.cases.by_ref(ref)
        if case is None:
            click.echo(f"no case with reference {ref}", err=True)
            raise SystemExit(1)
        case_id = case.id
    jobs = context.jobs.failed()
    if case_id:
        jobs = [j for j in jobs if job_case(store, j) == case_id]
    if not jobs:
        click.echo("nothing to replay: no failed jobs" + (f" for case {ref}" if ref else ""))
        return
    for n, job_id in enumerate(jobs, 1):
        click.echo(f"[{n}/{len(jobs)}] {job_id}: {replay.replay(job_id, who=by, why=reason)}")


@click.command("purge")
@click.option(
    "--dry-run", is_flag=True, help="Only list what would be removed (references, never numbers)."
)
@with_appcontext
def purge(dry_run: bool) -> None:
    """Remove closed cases' personal data after RETENTION_DAYS and old message bodies."""
    context = web.context()
    settings = context.settings
    result = retention.sweep(
        context.store,
        time.time(),
        settings.retention_days,
        settings.sms_validity + settings.receipt_timeout,
        dry_run=dry_run,
    )
    for case in result.cases:
        when = time.strftime("%Y-%m-%d", time.gmtime(case.closed_at))
        click.echo(f"case {case.ref} ({case.kind}), closed {when}: her number and notes")
    for message in result.messages:
        of_case = f", case {message.case_ref}" if message.case_ref else ""
        click.echo(f"message {message.id} ({message.purpose}{of_case}): recipient and body")
    click.echo(result.summary())


DAY = click.DateTime(formats=["%Y-%m-%d"])


def _timestamp(day: datetime | None) -> float | None:
    return None if day is None else float(calendar.timegm(day.timetuple()))


@click.command("report")
@click.option(
    "--from", "start", type=DAY, metavar="YYYY-MM-DD", help="First day (default: 30 days ago)."
)
@click.option(
    "--to", "end", type=DAY, metavar="YYYY-MM-DD", help="Day after the last (default: tomorrow)."
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "csv", "png", "donor"]),
    default="table",
    show_default=True,
    help="donor: a CSV of the donor's sentence and women aided per district and kind of aid.",
)
@click.option(
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    metavar="FILE",
    help="File to write (default: the terminal; for png, VAR_DIR/reports/report-FROM-TO.png).",
)
@click.option("--org", default="", help="Only one organisation's cases (its id in the directory).")
@with_appcontext
def report(
    start: datetime | None, end: datetime | None, fmt: str, output: Path | None, org: str
) -> None:
    """Anonymous figures: cases by district, kind and month, acceptance times, escalations,
    cases taken but never closed, aid given, referrals between organisations, delivery and SMS
    segments per route. Counts under 5 are shown as <5."""
    context = web.context()
    directory = context.roster.directory
    since, until = reports.span(time.time(), _timestamp(start), _timestamp(end))
    if since >= until:
        raise click.BadParameter("must be a day before --to", param_hint="'--from'")
    if org and org not in directory.organisations:
        known = ", ".join(sorted(directory.organisations))
        raise click.BadParameter(f"{org!r} is not in the directory ({known})", param_hint="'--org'")
    figures = reports.of_directory(context.store, since, until, directory, org)
    if fmt == "png":
        if output is None:
            folder = context.settings.var_dir / "reports"
            folder.mkdir(parents=True, exist_ok=True)
            days = [time.strftime("%Y-%m-%d", time.gmtime(t)) for t in (since, until)]
            output = folder / f"report-{days[0]}-{days[1]}.png"
        reports.as_png(figures, output)
        click.echo(f"wrote {output.resolve()} ({reports.cell(figures.total)} cases)")
        return
    if fmt == "table":
        text = reports.as_table(figures)
    else:
        text = reports.as_csv(figures, donor=fmt == "donor")
    if output:
        output.write_text(text)
        click.echo(f"wrote {output.resolve()} ({reports.cell(figures.total)} cases)")
    else:
        click.echo(text, nl=False)
