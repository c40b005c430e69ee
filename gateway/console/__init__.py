"""The operator console at /console: each operator's own sign-in, their organisation's cases, a
case's whole story on one page, her number revealed only with a stated reason.

Sign-in keeps a server-side session in Redis (store.operators) named by a random cookie
(HttpOnly, SameSite=Strict, Secure behind https), forgotten after CONSOLE_IDLE seconds without
a request. Every form carries the session's CSRF token (the sign-in form a keyed hash of a
cookie of its own); a POST without it is refused. Another organisation's case is a 404.
"""

from __future__ import annotations

import hmac
import secrets
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

from gateway import auth, web
from gateway.cases import CALLS, CONSENTS, KINDS, LOCAL_UTC_OFFSET, CaseState
from gateway.console.words import LANGUAGES, pick, words
from gateway.usecases.casefile import Filters, NotFound, Refused

blueprint = Blueprint(
    "console",
    __name__,
    url_prefix="/console",
    template_folder="templates",
    static_folder="static",
)

COOKIE = "hamdam_console"
LOGIN_COOKIE = "hamdam_console_login"  # the sign-in form's own CSRF secret
LANG_COOKIE = "hamdam_console_lang"
CONSOLE_IDLE = 30 * 60  # seconds without a request before a sign-in is forgotten
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
    sid = request.cookies.get(COOKIE, "")
    found = context.store.operators.session(sid, CONSOLE_IDLE) if sid else None
    fallback = context.settings.first_admin
    operator = auth.account(context.store, found[0], fallback) if found else None
    if found is None or operator is None or operator.disabled:
        if request.method == "POST":
            return _page("refused.html", 403, message=g.words["forbidden_form"])
        return redirect(url_for("console.login", next=request.full_path))
    g.operator, g.csrf = operator, found[1]
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
    status, message = 200, ""
    if request.method == "POST":
        if not _same(request.form.get("csrf", ""), token):
            status, message = 403, g.words["forbidden_form"]
        else:
            name = request.form.get("name", "").strip()
            found, wait = auth.sign_in(
                context.store,
                name,
                request.form.get("password", ""),
                request.remote_addr or "",
                context.settings.first_admin,
                every=True,
            )
            if found is not None:
                return _signed_in_as(found.name)
            status = 429 if wait > 0 else 401
            message = (
                g.words["blocked"].format(seconds=max(1, round(wait)))
                if wait > 0
                else g.words["wrong"]
            )
    response = _page("login.html", status, csrf=token, message=message)
    if status == 429:
        response.headers["Retry-After"] = str(max(1, round(wait)))
    response.set_cookie(LOGIN_COOKIE, secret, **_cookie_flags(), max_age=3600)
    return response


def _signed_in_as(name: str) -> Response:
    context = web.context()
    sid, _ = context.store.operators.open_session(name, CONSOLE_IDLE)
    target = request.args.get("next", "")
    # Only a path of this console: never an address elsewhere.
    if not target.startswith("/console/") or target.startswith("//"):
        target = url_for("console.cases")
    response = redirect(target)
    response.set_cookie(COOKIE, sid, **_cookie_flags())
    response.delete_cookie(LOGIN_COOKIE, path=blueprint.url_prefix)
    return response


@blueprint.post("/logout")
def logout() -> Response:
    web.context().store.operators.close_session(request.cookies.get(COOKIE, ""))
    response = redirect(url_for("console.login"))
    response.delete_cookie(COOKIE, path=blueprint.url_prefix)
    return response


def _cookie_flags() -> dict:
    secure = web.context().settings.public_url.startswith("https://")
    return {"httponly": True, "samesite": "Strict", "secure": secure, "path": "/console"}


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
    )
    try:
        rows = casefile.cases(g.operator, filters)
        overdue = sum(1 for row in casefile.cases(g.operator) if row.overdue)
    except Refused:
        return _page("refused.html", 403, message=g.words["figures_only"])
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
    try:
        phone = web.context().casefile.reveal(g.operator, ref, request.form.get("reason", ""))
    except NotFound:
        return _page("refused.html", 404, message=g.words["not_found"])
    except Refused as refused:
        return _case_page(ref, status=400 if g.operator.may("reveal") else 403, error=str(refused))
    return _case_page(ref, phone=phone)


@blueprint.post("/cases/<ref>/replay/<message_id>")
def replay(ref: str, message_id: str) -> Response:
    """The safe replay of one failed message of this case."""
    try:
        outcome = web.context().casefile.replay(g.operator, ref, message_id)
    except Refused as refused:
        return _case_page(ref, status=403, error=str(refused))
    except NotFound:
        return _page("refused.html", 404, message=g.words["not_found"])
    return redirect(url_for("console.case", ref=ref, replayed=outcome))


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
        consents=CONSENTS,
        calls=CALLS,
        replayed=request.args.get("replayed", ""),
        **extra,
    )


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


def _same(given: str, expected: str) -> bool:
    return bool(given) and hmac.compare_digest(given.encode(), expected.encode())


def _one_of(value: str | None, allowed) -> str:
    return value if value in allowed else ""


def _number(value: str | None) -> float:
    try:
        return max(0.0, float(value or 0))
    except ValueError:
        return 0.0
