"""The operator console at /console: each operator's own sign-in, their organisation's cases, a
case's whole story on one page, her number revealed only with a stated reason.

Sign-in keeps a server-side session in Redis (store.operators) named by a random cookie
(HttpOnly, SameSite=Strict, Secure behind https), forgotten after auth.SESSION_IDLE seconds without
a request. Every form carries the session's CSRF token (the sign-in form a keyed hash of a
cookie of its own); a POST without it is refused. Another organisation's case is a 404.
"""

from __future__ import annotations

import calendar
import hmac
import io
import secrets
import time
from datetime import UTC, datetime

from flask import (
    Blueprint,
    Flask,
    Response,
    g,
    redirect,
    render_template,
    request,
    url_for,
)

from gateway import auth, directory, reports, templates, web
from gateway.accounts import EVERY_ORG
from gateway.cases import AID_KINDS, KINDS, LOCAL_UTC_OFFSET, REFERRAL_REASONS, CaseState
from gateway.console.words import LANGUAGES, pick, words
from gateway.usecases.casefile import Filters, Invalid, NotFound, Refused

blueprint = Blueprint(
    "console",
    __name__,
    url_prefix="/console",
    template_folder="templates",
    static_folder="static",
)

LOGIN_COOKIE = "hamdam_console_login"  # the sign-in form's own CSRF secret
LANG_COOKIE = "hamdam_console_lang"
OPEN_PAGES = {"console.login", "console.static"}


def register(app: Flask) -> None:
    app.register_blueprint(blueprint)


@blueprint.app_template_filter("when")
def _when(at: float) -> str:
    """A time as Tajikistan reads it (UTC+5), to the minute."""
    if not at:
        return "-"
    moment = datetime.fromtimestamp(at + LOCAL_UTC_OFFSET, tz=UTC)
    return moment.strftime("%Y-%m-%d %H:%M")


# ---- every request ---------------------------------------------------------------------------
@blueprint.before_request
def _signed_in() -> Response | None:
    g.lang = pick(request.args.get("lang") or request.cookies.get(LANG_COOKIE))
    g.words = words(g.lang)
    if request.endpoint in OPEN_PAGES:
        return None
    context = web.context()
    found = auth.from_session(context.store, context.settings.first_admin)
    if found is None:
        if request.method == "POST":
            return _page("refused.html", 403, message=g.words["forbidden_form"])
        return redirect(url_for("console.login", next=request.full_path))
    g.operator, g.csrf = found
    if request.method == "POST" and not _same(request.form.get("csrf", ""), g.csrf):
        return _page("refused.html", 403, message=g.words["forbidden_form"])
    return None


@blueprint.after_request
def _headers(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"  # her number, once shown, stays nowhere
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Content-Security-Policy"] = (
        "default-src 'self'; style-src 'self'; script-src 'none'; frame-ancestors 'none'; "
        "form-action 'self'"
    )
    if request.args.get("lang") in LANGUAGES:
        response.set_cookie(LANG_COOKIE, g.lang, max_age=365 * 86400, samesite="Strict")
    return response


# ---- signing in and out ----------------------------------------------------------------------
@blueprint.route("/login", methods=["GET", "POST"])
def login() -> Response:
    """The sign-in form; throttled and audited like every operator login."""
    context = web.context()
    secret = request.cookies.get(LOGIN_COOKIE) or secrets.token_urlsafe(24)
    token = context.store.vault.digest("console-login:" + secret)
    status, message, wait = 200, "", 0.0
    if request.method == "POST":
        if not _same(request.form.get("csrf", ""), token):
            status, message = 403, g.words["forbidden_form"]
        else:
            name = request.form.get("name", "").strip()
            attempt = auth.sign_in(
                context.store,
                name,
                request.form.get("password", ""),
                request.remote_addr or "",
                context.settings.first_admin,
                code=request.form.get("code", ""),
                production=context.settings.production,
                every=True,
            )
            wait = attempt.wait
            if attempt.operator is not None:
                return _signed_in_as(attempt.operator.name)
            status = 429 if wait > 0 else 401 if attempt.problem == "wrong" else 403
            message = (
                g.words["blocked"].format(seconds=max(1, round(wait)))
                if wait > 0
                else g.words["needs_second_factor"]
                if attempt.problem == "second factor needed"
                else g.words["wrong"]
            )
    response = _page("login.html", status, csrf=token, message=message)
    if status == 429:
        response.headers["Retry-After"] = str(max(1, round(wait)))
    response.set_cookie(LOGIN_COOKIE, secret, **_cookie_flags(), max_age=3600)
    return response


def _signed_in_as(name: str) -> Response:
    context = web.context()
    sid, _ = context.store.operators.open_session(name, auth.SESSION_IDLE)
    target = request.args.get("next", "")
    # Only a path of this console: never an address elsewhere.
    if not target.startswith("/console/") or target.startswith("//"):
        target = url_for("console.cases")
    response = redirect(target)
    response.set_cookie(auth.SESSION_COOKIE, sid, **_cookie_flags("/"))
    response.delete_cookie(LOGIN_COOKIE, path=blueprint.url_prefix)
    return response


@blueprint.post("/logout")
def logout() -> Response:
    web.context().store.operators.close_session(request.cookies.get(auth.SESSION_COOKIE, ""))
    response = redirect(url_for("console.login"))
    response.delete_cookie(auth.SESSION_COOKIE, path="/")
    return response


def _cookie_flags(path: str = "/console") -> dict:
    """The sign-in's cookie is sent to the dashboard (/rq) and /metrics too: path /."""
    secure = web.context().settings.public_url.startswith("https://")
    return {"httponly": True, "samesite": "Strict", "secure": secure, "path": path}


# ---- cases -----------------------------------------------------------------------------------
@blueprint.get("/")
def cases() -> Response:
    """Open, taken and closed cases of the operator's organisation, with filters."""
    casefile = web.context().casefile
    args = request.args
    filters = Filters(
        state=_one_of(args.get("state"), [s.value for s in CaseState]),
        district=args.get("district", "").strip(),
        kind=_one_of(args.get("kind"), KINDS),
        urgency=_one_of(args.get("urgency"), ("urgent", "normal")),
        overdue=args.get("overdue") == "1",
        older_than_hours=_number(args.get("older")),
        ref=args.get("ref", "").strip(),
        quiet=args.get("quiet") == "1",
    )
    if not g.operator.may("cases"):
        return redirect(url_for("console.figures"))  # a viewer: anonymous figures only
    every = casefile.cases(g.operator)  # one read of the cases for the list and its counts
    rows = [row for row in every if filters.passes(row)]
    overdue, quiet = sum(r.overdue for r in every), sum(r.quiet for r in every)
    if filters.ref and len(rows) == 1:
        return redirect(url_for("console.case", ref=filters.ref))
    districts = sorted(
        d.id
        for d in web.context().roster.directory.districts.values()
        if g.operator.sees(d.organisation)
    )
    return _page(
        "cases.html",
        rows=rows,
        overdue=overdue,
        quiet=quiet,
        quiet_days=web.context().settings.quiet_days,
        filters=filters,
        states=[s.value for s in CaseState],
        kinds=KINDS,
        districts=districts,
    )


@blueprint.get("/cases/<ref>")
def case(ref: str) -> Response:
    """One case: her choices and its timeline; her number only on request."""
    return _case_page(ref)


@blueprint.post("/cases/<ref>/reveal")
def reveal(ref: str) -> Response:
    """Her number, for a stated reason, audited with the operator's name."""
    return _act(
        lambda casefile: _case_page(ref, phone=casefile.reveal(g.operator, ref, _reason())), ref
    )


@blueprint.post("/cases/<ref>/close")
def close(ref: str) -> Response:
    """Close an open or taken case with a reason (its holder is told)."""

    def closing(casefile) -> Response:
        done = casefile.close(g.operator, ref, _reason())
        return redirect(url_for("console.case", ref=ref, said="closed" if done else "unchanged"))

    return _act(closing, ref)


@blueprint.post("/cases/<ref>/hand")
def hand(ref: str) -> Response:
    """Hand the case to a responder of its organisation (they get its details by SMS)."""

    def handing(casefile) -> Response:
        done = casefile.hand_over(g.operator, ref, request.form.get("responder", ""))
        return redirect(url_for("console.case", ref=ref, said="handed" if done else "unchanged"))

    return _act(handing, ref)


@blueprint.post("/cases/<ref>/aid")
def aid(ref: str) -> Response:
    """Record aid she received (the kinds only: nothing identifying)."""

    def recording(casefile) -> Response:
        done = casefile.record_aid(g.operator, ref, request.form.getlist("aid"))
        return redirect(url_for("console.case", ref=ref, said="aid" if done else "unchanged"))

    return _act(recording, ref)


@blueprint.post("/cases/<ref>/follow-up")
def follow_up(ref: str) -> Response:
    """Set the case's follow-up date (its holder is reminded then)."""

    def setting(casefile) -> Response:
        days = int(_number(request.form.get("days")))
        done = casefile.follow_up(g.operator, ref, days)
        return redirect(url_for("console.case", ref=ref, said="follow_up" if done else "unchanged"))

    return _act(setting, ref)


@blueprint.post("/cases/<ref>/refer")
def refer(ref: str) -> Response:
    """Refer the case to another organisation, confirming that she agreed."""

    def referring(casefile) -> Response:
        form = request.form
        agreed = form.get("agreed") == "yes"
        casefile.refer(g.operator, ref, form.get("to", ""), form.get("reason", ""), agreed)
        return redirect(url_for("console.case", ref=ref, said="referred"))

    return _act(referring, ref)


def _reason() -> str:
    return request.form.get("reason", "")


def _act(action, ref: str) -> Response:
    """Run a form's action: 404 for a case (or responder) this operator cannot see, 403 for
    a role without the right, 400 with the reason for input that cannot be used."""
    try:
        return action(web.context().casefile)
    except NotFound:
        return _page("refused.html", 404, message=g.words["not_found"])
    except Refused as refused:
        return _case_page(ref, status=403, error=str(refused))
    except Invalid as invalid:
        return _case_page(ref, status=400, error=str(invalid))


@blueprint.post("/cases/<ref>/replay/<message_id>")
def replay(ref: str, message_id: str) -> Response:
    """The safe replay of one failed message of this case."""

    def replaying(casefile) -> Response:
        outcome = casefile.replay(g.operator, ref, message_id)
        return redirect(url_for("console.case", ref=ref, replayed=outcome))

    return _act(replaying, ref)


def _case_page(ref: str, status: int = 200, **extra) -> Response:
    try:
        story = web.context().casefile.story(g.operator, ref)
    except NotFound:
        return _page("refused.html", 404, message=g.words["not_found"])
    except Refused:
        return _page("refused.html", 403, message=g.words["figures_only"])
    return _page(
        "case.html",
        status,
        story=story,
        replayed=request.args.get("replayed", ""),
        said=_one_of(
            request.args.get("said"),
            ("closed", "handed", "aid", "follow_up", "referred", "unchanged"),
        ),
        aid_kinds=_labelled(AID_KINDS),
        aid_given=templates.aid_labels(g.lang, story.case.aid),
        responders=web.context().casefile.responders(story.case),
        partners=web.context().casefile.partners(story.case),
        reasons=_labelled(REFERRAL_REASONS),
        **extra,
    )


def _labelled(kinds: tuple[str, ...]) -> list[tuple[str, str]]:
    """Kinds of aid with their labels in the console's language, for a form."""
    return [(kind, templates.aid_labels(g.lang, (kind,))) for kind in kinds]


# ---- figures and the directory ---------------------------------------------------------------
@blueprint.get("/reports")
def figures() -> Response:
    """The anonymous figures of `flask report` for the operator's organisation."""
    report, org, (status, why) = _report()
    if report is None:
        return _page("refused.html", status, message=why)
    query = {k: v for k, v in request.args.items() if k in ("from", "to", "org")}
    orgs = sorted(web.context().roster.directory.organisations)
    return _page(
        "reports.html",
        rows=reports.rows(report),
        period=reports.period(report),
        headline=reports.headline(report),
        total=reports.cell(report.total),
        min_cell=reports.MIN_CELL,
        org=org,
        orgs=orgs if g.operator.org == EVERY_ORG else [],
        query=query,
        start=_day(report.start),
        end=_day(report.end),
    )


@blueprint.get("/reports.csv", defaults={"donor": False})
@blueprint.get("/reports/donor.csv", defaults={"donor": True})
def figures_csv(donor: bool) -> Response:
    """The figures as CSV; the donor's sentence and women aided per district at /donor.csv."""
    report, org, (status, why) = _report()
    if report is None:
        return Response(why + "\n", status, mimetype="text/plain")
    kind = "donor-" if donor else ""
    name = f"hamdam-{kind}{org or 'all'}-{_day(report.start)}-{_day(report.end)}.csv"
    return Response(
        reports.as_csv(report, donor=donor),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@blueprint.get("/reports.png")
def figures_png() -> Response:
    report, _, (status, why) = _report()
    if report is None:
        return Response(why + "\n", status, mimetype="text/plain")
    buffer = io.BytesIO()
    reports.as_png(report, buffer)
    return Response(buffer.getvalue(), mimetype="image/png")


def _report() -> tuple[reports.Report | None, str, tuple[int, str]]:
    """The report the query asks for: (report, organisation, _) or (None, '', (status, why))."""
    try:
        start, end = (_parse_day(request.args.get(k)) for k in ("from", "to"))
    except ValueError:
        return None, "", (400, "dates are YYYY-MM-DD")
    since, until = reports.span(time.time(), start, end)
    if since >= until:
        return None, "", (400, "'from' must be a day before 'to'")
    org = g.operator.org if g.operator.org != EVERY_ORG else request.args.get("org", "")
    try:
        return web.context().casefile.figures(g.operator, since, until, org), org, (200, "")
    except Refused:
        return None, "", (403, g.words["role_refused"])
    except NotFound:
        return None, "", (400, f"no organisation {org!r} in the directory")


@blueprint.get("/directory")
def directory_page() -> Response:
    """The directory in use (read-only), and what `flask directory check` says of its file."""
    context = web.context()
    try:
        found, orgs = context.casefile.directory(g.operator)
    except Refused:
        return _page("refused.html", 403, message=g.words["role_refused"])
    try:
        directory.load(context.settings.directory_file)
        check = []
    except directory.DirectoryError as error:
        check = [str(p) for p in error.problems]
    return _page("directory.html", directory=found, orgs=orgs, check=check)


# ---- helpers ---------------------------------------------------------------------------------
def _page(template: str, status: int = 200, **values) -> Response:
    operator = getattr(g, "operator", None)
    body = render_template(
        f"console/{template}",
        w=g.words,
        lang=g.lang,
        languages=LANGUAGES,
        operator=operator,
        csrf=values.pop("csrf", getattr(g, "csrf", "")),
        **values,
    )
    return Response(body, status, mimetype="text/html")


def _day(at: float) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(at))


def _parse_day(text: str | None) -> float | None:
    if not text:
        return None
    return float(calendar.timegm(time.strptime(text, "%Y-%m-%d")))


def _same(given: str, expected: str) -> bool:
    return bool(given) and hmac.compare_digest(given.encode(), expected.encode())


def _one_of(value: str | None, allowed) -> str:
    return value if value in allowed else ""


def _number(value: str | None) -> float:
    try:
        return max(0.0, float(value or 0))
    except ValueError:
        return 0.0


# The groups' pages use the blueprint and helpers above.
from gateway.console import groups as _groups  # noqa: E402, F401
