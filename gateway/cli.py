"""Operator commands, run as `flask --app gateway.app COMMAND`."""

from __future__ import annotations

import getpass
from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import AppGroup, with_appcontext

from gateway import directory
from menus import engine


def register(app: Flask) -> None:
    """Attach the command groups to the app's `flask` CLI."""
    app.cli.add_command(directory_group)
    app.cli.add_command(keys_group)
    app.cli.add_command(menus_group)
    app.cli.add_command(audit_group)
    app.cli.add_command(replay)


directory_group = AppGroup("directory", help="Check the directory of districts and responders.")


@directory_group.command("check")
@click.argument("file", required=False, type=click.Path(path_type=Path))
def directory_check(file: Path | None) -> None:
    """Validate FILE (default DIRECTORY_FILE); print a summary or every problem with its line."""
    path = file or current_app.extensions["hamdam"].settings.directory_file
    try:
        found = directory.load(path)
    except directory.DirectoryError as error:
        click.echo(str(error), err=True)
        raise SystemExit(1) from None
    click.echo(
        f"{path}: ok: {len(found.organisations)} organisations, {len(found.districts)} "
        f"districts, {len(found.responders)} responders (version {found.version})"
    )


keys_group = AppGroup("keys", help="Manage the encryption keys of survivors' data (DATA_KEY).")


@keys_group.command("rotate")
def keys_rotate() -> None:
    """Re-encrypt every stored record under the first key of DATA_KEY and re-key lookups."""
    store = current_app.extensions["hamdam"].store
    report = store.rotate_keys()
    click.echo(
        f"rotated {report.fields} fields in {report.records} records; "
        f"re-keyed {report.rekeyed} phone profiles. Older keys can now be removed from DATA_KEY."
    )


menus_group = AppGroup("menus", help="Check the USSD menus and their translations.")


@menus_group.command("check")
def menus_check() -> None:
    """Render every screen in every language, every page and hint, and check its byte budget."""
    service = current_app.extensions["hamdam"].service
    try:
        menus = engine.load()
    except engine.MenuError as error:
        click.echo(str(error), err=True)
        raise SystemExit(1) from None
    problems = engine.check(menus, service.sources)
    for problem in problems:
        click.echo(problem, err=True)
    if problems:
        raise SystemExit(1)
    click.echo(
        f"menus ok: {len(menus.screens)} screens in {len(engine.LANGS)} languages fit their "
        f"USSD budget (182 GSM-7 / 80 UCS-2 characters), with {len(service.sources['districts'])}"
        " districts from the directory"
    )


audit_group = AppGroup("audit", help="The hash-chained audit trail.")


@audit_group.command("verify")
def audit_verify() -> None:
    """Check every entry of the audit trail against the chain; exit 1 naming the first break."""
    verdict = current_app.extensions["hamdam"].store.verify_audit()
    if not verdict.ok:
        click.echo(f"audit trail BROKEN after {verdict.entries} good entries: {verdict.problem}")
        raise SystemExit(1)
    click.echo(f"audit trail intact: {verdict.entries} entries, chain verified")


@click.command("replay")
@click.option("--case", "ref", help="Only the failed messages of the case with this reference.")
@click.option("--reason", required=True, help="Why you replay (kept in the audit trail).")
@click.option("--by", default=lambda: getpass.getuser(), show_default="your login name")
@with_appcontext
def replay(ref: str | None, reason: str, by: str) -> None:
    """Send failed messages again, once each; already-sent, stale or STOPped ones are dropped."""
    context = current_app.extensions["hamdam"]
    store, dispatcher = context.store, context.service.dispatcher
    case_id = ""
    if ref:
        case = store.case_by_ref(ref)
        if case is None:
            click.echo(f"no case with reference {ref}", err=True)
            raise SystemExit(1)
        case_id = case.id
    jobs = store.failed_jobs()
    if case_id:
        jobs = [j for j in jobs if store.job_case(j) == case_id]
    if not jobs:
        click.echo("nothing to replay: no failed jobs" + (f" for case {ref}" if ref else ""))
        return
    for n, job_id in enumerate(jobs, 1):
        click.echo(f"[{n}/{len(jobs)}] {job_id}: {dispatcher.replay(job_id, who=by, why=reason)}")
