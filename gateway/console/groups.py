"""The console's pages for mutual aid groups: an organisation's groups, adding a member who
agreed in person, and a broadcast from an approved template: previewed (recipients, segments,
cost per route, when it goes), then sent; with each broadcast's delivery figures."""

from __future__ import annotations

from flask import Response, g, redirect, request, url_for

from gateway import groups, web
from gateway.console import _page, blueprint
from gateway.directory import Group
from gateway.groups import GroupError
from menus import languages


def _group(group_id: str) -> Group | Response:
    """The group if this operator may write to it, else the page that says why not."""
    if not g.operator.may("groups"):
        return _page("refused.html", 403, message=g.words["role_refused"])
    group = web.context().roster.directory.groups.get(group_id)
    if group is None or not g.operator.sees(group.organisation):
        return _page("refused.html", 404, message=g.words["not_found"])
    return group


@blueprint.get("/groups")
def groups_page() -> Response:
    """The groups of the operator's organisation, with their members and last broadcasts."""
    if not g.operator.may("groups"):
        return _page("refused.html", 403, message=g.words["role_refused"])
    context = web.context()
    mine = [
        grp for grp in context.roster.directory.groups.values() if g.operator.sees(grp.organisation)
    ]
    counts = {grp.id: context.store.members.count(grp.id) for grp in mine}
    return _page("groups.html", groups=mine, counts=counts)


@blueprint.get("/groups/<group_id>")
def group_page(group_id: str) -> Response:
    group = _group(group_id)
    return group if isinstance(group, Response) else _group_page(group)


@blueprint.post("/groups/<group_id>/members")
def add_member(group_id: str) -> Response:
    """Add a member who agreed in person (the box is required; audited with the name)."""
    group = _group(group_id)
    if isinstance(group, Response):
        return group
    form = request.form
    try:
        web.context().groups.add(
            group.id,
            form.get("phone", ""),
            form.get("lang", ""),
            form.get("agreed") == "yes",
            by=g.operator.name,
        )
    except GroupError as error:
        return _group_page(group, 400, error=str(error))
    return redirect(url_for("console.group_page", group_id=group_id, said="member"))


@blueprint.post("/groups/<group_id>/preview")
def preview_broadcast(group_id: str) -> Response:
    """What a broadcast would be, with the form that sends it."""
    return _with_draft(
        group_id,
        lambda group, draft: _group_page(
            group, preview=web.context().groups.preview(group.id, draft)
        ),
    )


@blueprint.post("/groups/<group_id>/send")
def send_broadcast(group_id: str) -> Response:
    """Send a previewed broadcast (in the group's hours)."""

    def send(group: Group, draft: groups.Draft) -> Response:
        broadcast = request.form.get("broadcast", "")
        web.context().groups.send(group.id, draft, by=g.operator.name, broadcast_id=broadcast)
        return redirect(url_for("console.group_page", group_id=group_id, said="sent"))

    return _with_draft(group_id, send)


def _with_draft(group_id: str, then) -> Response:
    """`then(group, draft)` with the form's draft, or the page that says what is wrong."""
    group = _group(group_id)
    if isinstance(group, Response):
        return group
    try:
        draft = _draft(group)
    except GroupError as error:
        return _group_page(group, 400, error=str(error))
    return then(group, draft)


def _draft(group: Group) -> groups.Draft:
    form = request.form
    template = form.get("template", "")
    if template == groups.FREE and not g.operator.may("free_text"):
        raise GroupError("only an admin may write a group message in their own words")
    organisations = web.context().roster.directory.organisations.values()
    never = [o.name for o in organisations] + [o.id for o in organisations] + [group.name]
    return groups.draft(
        template, form.get("day", ""), form.get("time", ""), form.get("text", ""), extra=never
    )


def _group_page(group: Group, status: int = 200, **extra) -> Response:
    """A group's page (`group` found by _group, so already the operator's)."""
    context = web.context()
    sent = [b for b in context.store.members.broadcasts() if b.get("group") == group.id]
    return _page(
        "group.html",
        status,
        group=group,
        members=context.store.members.count(group.id),
        broadcasts=[(b, context.groups.figures(b["id"])) for b in sent],
        templates=groups.TEMPLATES + ((groups.FREE,) if g.operator.may("free_text") else ()),
        days=[(day, groups.DAY_NAMES["en"][day]) for day in groups.DAYS],
        member_languages=languages.CODES,
        said=request.args.get("said", "") if request.args.get("said") in ("member", "sent") else "",
        **extra,
    )
