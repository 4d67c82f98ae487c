"""The console's pages (GET): each needs a session (403 without one) and escapes every
value it shows (the templates autoescape; secrets are masked and controls made
visible first, see :class:`.app.Web`)."""

from __future__ import annotations

from datetime import date
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route
from tradekernel.api import IntentState, NotFoundError, utcnow

from . import reads

DASHBOARD_CSP = (
    "sandbox allow-scripts; default-src 'none'; style-src 'unsafe-inline'; "
    "script-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'"
)
"""The report dashboard is the report plugin's self-contained page with its own inline
script: served sandboxed (an opaque origin: it cannot read the console or post to it)."""

STATES = tuple(s.value for s in IntentState)
ORDER_STATUSES = ("new", "accepted", "partially_filled", "filled", "cancelled", "rejected")


def _text(request: Request, key: str, limit: int = 64) -> str | None:
    value = request.query_params.get(key, "").strip()
    return value[:limit] or None


class BadQuery(ValueError):
    """A query value the page cannot use: answered with 400 and this message."""


FIRST_DAY, LAST_DAY = date(1970, 1, 1), date(9998, 12, 31)


def _limit(request: Request, default: int = 100) -> int:
    given = request.query_params.get("limit", "")
    if not given:
        return default
    if not (given.isascii() and given.isdigit() and len(given) <= 6):
        raise BadQuery(f"limit must be a whole number from 1 to {reads.MAX_ROWS}")
    return max(1, min(reads.MAX_ROWS, int(given)))


def _day(request: Request) -> date:
    given = request.query_params.get("date", "")
    if not given:
        return utcnow().date()
    try:
        day = date.fromisoformat(given) if given.isascii() and len(given) == 10 else None
    except ValueError:
        day = None
    if day is None or not FIRST_DAY <= day <= LAST_DAY:
        raise BadQuery(f"date must be a day as YYYY-MM-DD from {FIRST_DAY} to {LAST_DAY}")
    return day


def routes(web: Any) -> list[Route]:
    """The GET routes, bound to ``web`` (:class:`.app.Web`)."""

    def page(template: str, read: Any) -> Any:
        def endpoint(request: Request) -> Response:
            session = web.session(request)
            if session is None:
                return web.forbidden(request, "log in to see this page")
            try:
                context = read(request)
            except NotFoundError as exc:
                return web.render(
                    request, "message.html", 404, session, title="Not found", message=str(exc)
                )
            except BadQuery as exc:
                return web.render(
                    request, "message.html", 400, session, title="Bad request", message=str(exc)
                )
            done, session.flash = session.flash, None
            return web.render(request, template, 200, session, done=done, **context)

        return endpoint

    def home(request: Request) -> Response:
        target = "/pending" if web.session(request) else "/login"
        return RedirectResponse(target, status_code=303)

    def login_page(request: Request) -> Response:
        if web.session(request) is not None:
            return RedirectResponse("/pending", status_code=303)
        cookie, csrf = web.sessions.login_nonce()
        response = web.render(request, "login.html", login_csrf=csrf, token=web.token is not None)
        web.set_cookie(response, "tk_console_login", cookie, 3600)
        return response

    def dashboard(request: Request) -> Response:
        session = web.session(request)
        if session is None:
            return web.forbidden(request, "log in to see this page")
        try:
            day = _day(request)
        except BadQuery as exc:
            return web.render(
                request, "message.html", 400, session, title="Bad request", message=str(exc)
            )
        html = reads.report_html(web.console, day)
        if html is None:
            return web.forbidden(request, "tradekernel-report is not installed")
        return HTMLResponse(html, headers={"content-security-policy": DASHBOARD_CSP})

    console = web.console
    return [
        Route("/", home),
        Route("/login", login_page, methods=["GET"]),
        Route(
            "/pending",
            page("pending.html", lambda r: {"rows": reads.pending(console), "refresh": True}),
        ),
        Route(
            "/intents/{intent_id}",
            page(
                "intent.html",
                lambda r: {"row": reads.intent(console, r.path_params["intent_id"][:200])},
            ),
        ),
        Route(
            "/intents",
            page(
                "intents.html",
                lambda r: {
                    "rows": reads.intents(
                        console,
                        state=s if (s := _text(r, "state")) in STATES else None,
                        symbol=_text(r, "symbol"),
                        strategy=_text(r, "strategy"),
                        limit=_limit(r),
                    ),
                    "states": STATES,
                    "query": dict(r.query_params),
                },
            ),
        ),
        Route(
            "/orders",
            page(
                "orders.html",
                lambda r: {
                    "rows": reads.orders(
                        console,
                        status=s if (s := _text(r, "status")) in ORDER_STATUSES else None,
                        symbol=_text(r, "symbol"),
                        limit=_limit(r),
                    ),
                    "statuses": ORDER_STATUSES,
                    "query": dict(r.query_params),
                },
            ),
        ),
        Route("/positions", page("positions.html", lambda r: reads.positions(console))),
        Route("/control", page("control.html", lambda r: reads.control(console))),
        Route("/alerts", page("alerts.html", lambda r: reads.alerts(console))),
        Route(
            "/report",
            page(
                "report.html",
                lambda r: {"day": _day(r).isoformat(), **reads.report(console, _day(r))},
            ),
        ),
        Route("/report/dashboard", dashboard),
    ]
