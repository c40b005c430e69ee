"""Operator commands, run as `flask --app gateway.app COMMAND`."""

from __future__ import annotations

from pathlib import Path

import click
from flask import Flask
from flask.cli import AppGroup

from gateway import directory, groups, web
from gateway.cli.cases import purge, replay, report
from gateway.cli.operators import operators_group
from gateway.store import audit
from menus import engine


def register(app: Flask) -> None:
    """Attach the command groups to the app's `flask` CLI."""
    app.cli.add_command(directory_group)
    app.cli.add_command(keys_group)
    app.cli.add_command(menus_group)
    app.cli.add_command(audit_group)
    app.cli.add_command(operators_group)
    app.cli.add_command(replay)
    app.cli.add_command(purge)
    app.cli.add_command(report)


directory_group = AppGroup("directory", help="Check the directory of districts and responders.")


@directory_group.command("check")
@click.argument("file", required=False, type=click.Path(path_type=Path))
def directory_check(file: Path | None) -> None:
    """Validate FILE (default DIRECTORY_FILE); print a summary or every problem with its line."""
    path = file or web.context().settings.directory_file
    try:
        found = directory.load(path)
    except directory.DirectoryError as error:
        click.echo(str(error), err=True)
        raise SystemExit(1) from None
    click.echo(
        f"{path}: ok: {len(found.organisations)} organisations, {len(found.districts)} "
        f"districts, {len(found.responders)} responders (version {found.version})"
    )


@directory_group.command("reload")
def directory_reload() -> None:
    """Validate DIRECTORY_FILE, record what changed in the audit trail, and have every running
    process switch to it within seconds (no restart)."""
    context = web.context()
    path = context.settings.directory_file
    try:
        found = directory.load(path)
    except directory.DirectoryError as error:
        click.echo(str(error), err=True)
        click.echo("not reloaded: the running processes keep the previous directory", err=True)
        raise SystemExit(1) from None
    store = context.store
    after = directory.snapshot(found, store.vault.digest)
    before, generation = store.directory.swap(after)
    # No process has recorded the directory it runs yet: compare with the one this command
    # loaded at its start, rather than report every responder as added.
    before = before or directory.snapshot(context.roster.directory, store.vault.digest)
    changed = directory.changes(before, after)
    for event, item, fields in changed:
        store.audit.record(event, id=item, fields=fields)
    store.audit.record("directory_reloaded", version=found.version, generation=str(generation))
    click.echo(
        f"{path}: version {found.version} is live (generation {generation}); "
        f"{len(changed)} changes recorded in the audit trail"
    )
    for event, item, fields in changed:
        click.echo(f"  {event} {item}" + (f" ({fields})" if fields else ""))


keys_group = AppGroup("keys", help="Manage the encryption keys of survivors' data (DATA_KEY).")


@keys_group.command("rotate")
def keys_rotate() -> None:
    """Re-encrypt every stored record under the first key of DATA_KEY and re-key lookups:
    phone profiles (her STOP), rate limits, resume points, inbound dedupe and the responders'
    phones in the directory's change history."""
    context = web.context()
    phones = {r.id: r.phone for r in context.roster.directory.responders.values()}
    report = context.store.phones.rotate_keys(phones)
    click.echo(
        f"rotated {report.fields} fields in {report.records} records; "
        f"re-keyed {report.rekeyed} phone profiles and {report.lookups} other lookups. "
        "Older keys can now be removed from DATA_KEY."
    )


menus_group = AppGroup("menus", help="Check the USSD menus and their translations.")


@menus_group.command("check")
def menus_check() -> None:
    """Render every screen in every language, every page and hint, and check its byte budget."""
    roster = web.context().roster
    try:
        menus = engine.load()
    except engine.MenuError as error:
        click.echo(str(error), err=True)
        raise SystemExit(1) from None
    problems = engine.check(menus, roster.sources) + groups.problems()
    for problem in problems:
        click.echo(problem, err=True)
    if problems:
        raise SystemExit(1)
    click.echo(
        f"menus ok: {len(menus.screens)} screens in {len(engine.LANGS)} languages fit their "
        f"USSD budget (182 GSM-7 / 80 UCS-2 characters), with {len(roster.sources['districts'])}"
        " districts from the directory; the group messages are one neutral segment each"
    )


audit_group = AppGroup("audit", help="The hash-chained audit trail: verify it, export it.")


@audit_group.command("verify")
@click.option(
    "--file",
    "exported",
    metavar="FILE",
    type=click.File("r", encoding="utf-8"),
    help="Check a file written by `audit export` instead of the live trail (no Redis needed).",
)
def audit_verify(exported) -> None:
    """Check every entry of the audit trail (or of an exported FILE) against the hash chain;
    exit 1 naming the first break."""
    if exported is not None:
        verdict = audit.check_chain(audit.read_export(exported))
        where = f"exported file {exported.name}"
    else:
        verdict = web.context().store.audit.verify()
        where = "audit trail"
    if not verdict.ok:
        click.echo(f"{where} BROKEN after {verdict.entries} good entries: {verdict.problem}")
        raise SystemExit(1)
    click.echo(f"{where} intact: {verdict.entries} entries, chain verified")
    if exported is not None:
        click.echo(
            f"last hash {verdict.last_hash}: compare it with the one `audit export` printed "
            "to be sure no newest lines were cut off"
        )


@audit_group.command("export")
@click.option(
    "--output",
    metavar="FILE",
    type=click.File("w", encoding="utf-8", atomic=True),
    default="-",
    help="File to write (default: standard output).",
)
def audit_export(output) -> None:
    """Write the whole audit trail as JSON lines, oldest first: each line holds the entry's
    stream id, its fields (ids and kinds, never numbers or texts) and its chain fields `prev`
    and `hash`, so `flask audit verify --file FILE` can check the copy anywhere, without Redis.
    Keep the last hash it prints apart from the file: it shows whether newest lines went."""
    store = web.context().store
    count, last = 0, audit.GENESIS
    for sid, entry in store.audit.entries():
        output.write(audit.export_line(sid, entry) + "\n")
        count, last = count + 1, entry.get("hash", "")
    click.echo(f"exported {count} audit entries; last hash {last}", err=True)
