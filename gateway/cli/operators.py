"""`flask operators`: accounts (add, list, disable, reset, totp), the development password,
lock-outs."""

from __future__ import annotations

import getpass
import sys

import click
import pyotp
from flask.cli import AppGroup, with_appcontext

from gateway import accounts, auth, web

operators_group = AppGroup(
    "operators", help="Operator accounts and sign-ins: add, list, disable, reset, unlock."
)


@operators_group.command("password")
def operators_password() -> None:
    """Print the development operator password (generated and kept in VAR_DIR/secrets.json);
    one set in OPERATOR_PASSWORD is never printed."""
    settings = web.context().settings
    if "OPERATOR_PASSWORD" not in settings.generated:
        click.echo(
            "the operator password comes from OPERATOR_PASSWORD, not generated here: "
            "ask whoever set it",
            err=True,
        )
        raise SystemExit(1)
    click.echo(settings.operator_password)


@operators_group.command("unlock")
@click.option("--user", "name", help="The user name to unlock (default: OPERATOR_USER).")
@click.option("--source", "sources", multiple=True, help="A source address to unlock too.")
@click.option("--all", "everything", is_flag=True, help="Forget every failed login.")
@click.option("--by", default=lambda: getpass.getuser(), show_default="your login name")
@with_appcontext
def operators_unlock(name: str | None, sources: tuple[str, ...], everything: bool, by: str):
    """Lift the delay or lock that failed logins put on a user name (and source addresses)."""
    context = web.context()
    store = context.store
    if everything:
        removed = store.logins.unlock(None)
        store.audit.record("operator_login_unlocked", by=by, what="all")
        click.echo(f"forgot every failed operator login ({removed} records)")
        return
    name = name or context.settings.operator_user
    counted = [auth.subjects(store.vault, user=name)]
    counted += [auth.subjects(store.vault, source=source) for source in sources]
    removed = sum(store.logins.unlock(subject) for subject in counted)
    store.audit.record(
        "operator_login_unlocked", by=by, what=f"user {name}, {len(sources)} sources"
    )
    click.echo(f"unlocked user {name}" + (f" and {len(sources)} sources" if sources else ""))
    if not removed:
        click.echo("(nothing was locked)")


def _password(prompt: str) -> str:
    """A new password: read from stdin when it is not a terminal (one line), else prompted
    twice. Never an argument: a command line is seen by every user of the machine."""
    if not sys.stdin.isatty():
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt(prompt, hide_input=True, confirmation_prompt=True)
    try:
        accounts.check_new_password(password)
    except accounts.AccountError as error:
        raise click.ClickException(str(error)) from None
    return password


@operators_group.command("add")
@click.argument("name")
@click.option("--org", default="", help="The organisation's id in the directory (admins: none).")
@click.option(
    "--role", type=click.Choice(accounts.ROLES), required=True, help="What the operator may do."
)
@click.option("--by", default=lambda: getpass.getuser(), show_default="your login name")
@with_appcontext
def operators_add(name: str, org: str, role: str, by: str) -> None:
    """Add an operator account NAME; the password is read from stdin or prompted for.

    \b
    Roles:
      admin        every organisation, the dashboard (/rq), /metrics, the directory
      coordinator  one organisation: its cases, reveal with a reason, replay, reports
      viewer       one organisation: anonymous figures only
    """
    context = web.context()
    organisations = set(context.roster.directory.organisations)
    try:
        operator = accounts.account(name, org, role, organisations)
    except accounts.AccountError as error:
        raise click.ClickException(str(error)) from None
    if context.store.operators.get(name) is not None:
        raise click.ClickException(f"operator {name!r} exists: use `flask operators reset`")
    password = _password(f"password for {name}")
    if not context.store.operators.add(operator, accounts.hash_password(password)):
        raise click.ClickException(f"operator {name!r} exists: use `flask operators reset`")
    context.store.audit.record(
        "operator_added", operator=name, org=operator.org, role=operator.role, by=by
    )
    click.echo(f"added {name}: {operator.role} of {_org(operator.org)}")


@operators_group.command("list")
@with_appcontext
def operators_list() -> None:
    """Every operator account: name, organisation, role, and whether it is disabled."""
    context = web.context()
    store = context.store
    found = store.operators.all()
    user = context.settings.operator_user
    if not any(o.name == user for o in found):
        retired = "retired: an admin account exists" if store.operators.has_admin() else "active"
        click.echo(f"{user}\t{_org(accounts.EVERY_ORG)}\tadmin\tOPERATOR_USER, {retired}")
    for operator in found:
        state = "disabled" if operator.disabled else "active"
        if store.operators.totp(operator.name):
            state += ", second factor"
        click.echo(f"{operator.name}\t{_org(operator.org)}\t{operator.role}\t{state}")


@operators_group.command("disable")
@click.argument("name")
@click.option("--by", default=lambda: getpass.getuser(), show_default="your login name")
@with_appcontext
def operators_disable(name: str, by: str) -> None:
    """Refuse NAME's sign-ins from now on and end their console sessions."""
    context = web.context()
    if not context.store.operators.disable(name):
        raise click.ClickException(f"no operator {name!r} (see `flask operators list`)")
    context.store.audit.record("operator_disabled", operator=name, by=by)
    click.echo(f"disabled {name}")


@operators_group.command("reset")
@click.argument("name")
@click.option("--by", default=lambda: getpass.getuser(), show_default="your login name")
@with_appcontext
def operators_reset(name: str, by: str) -> None:
    """Give NAME a new password (read from stdin or prompted for); enables the account again,
    ends its console sessions and lifts its lock-out."""
    context = web.context()
    if context.store.operators.get(name) is None:
        raise click.ClickException(f"no operator {name!r} (see `flask operators list`)")
    password = _password(f"new password for {name}")
    context.store.operators.set_password(name, accounts.hash_password(password))
    context.store.logins.unlock(auth.subjects(context.store.vault, user=name))
    context.store.audit.record("operator_reset", operator=name, by=by)
    click.echo(f"reset the password of {name}")


@operators_group.command("totp")
@click.argument("name")
@click.option("--off", is_flag=True, help="Take the second factor away instead.")
@click.option("--by", default=lambda: getpass.getuser(), show_default="your login name")
@with_appcontext
def operators_totp(name: str, off: bool, by: str) -> None:
    """Give NAME a second factor (a new TOTP secret for an authenticator app; an old one stops
    working), or take it away with --off. Required for admins in production."""
    context = web.context()
    secret = None if off else pyotp.random_base32()
    if not context.store.operators.set_totp(name, secret):
        raise click.ClickException(f"no operator {name!r} (see `flask operators list`)")
    context.store.audit.record("operator_totp", operator=name, state="off" if off else "on", by=by)
    if secret is None:
        click.echo(f"{name} signs in with a password only")
        return
    uri = pyotp.TOTP(secret).provisioning_uri(name=name, issuer_name="Hamdam")
    click.echo(f"give {name} this secret for an authenticator app (shown once): {secret}")
    click.echo(f"or as a link (a QR code of it): {uri}")
    click.echo("they type its 6-digit code at /console/login from now on")


def _org(org: str) -> str:
    return "every organisation" if org == accounts.EVERY_ORG else org
