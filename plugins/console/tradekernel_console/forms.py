"""The console's forms (POST). Every one needs a session and its CSRF token (403
otherwise); the login form has its own token. Decisions and switches go through
:class:`.service.Console`, that is the kernel's ``ApprovalService`` and ``Control``."""

from __future__ import annotations

import secrets
from typing import Any
from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route
from tradekernel.api import (
    NotFoundError,
    RefusedError,
    StaleVersion,
    TradekernelError,
    approver_name,
)

from .app import COOKIE, LOGIN_COOKIE, read_form
from .auth import check_login
from .service import ACTIONS, needs_confirmation

MAX_REASON = 2000
"""A reason longer than this is refused (it is journaled as given)."""


def _field(form: Any, key: str, limit: int) -> str | None:
    value = form.get(key, "")
    if not isinstance(value, str) or len(value) > limit:
        return None
    return value


def routes(web: Any) -> list[Route]:
    """The POST routes, bound to ``web`` (:class:`.app.Web`)."""
    console = web.console

    def message(request: Request, status: int, title: str, text: str, session: Any = None):
        return web.render(
            request, "message.html", status, session, title=title, message=web_text(text)
        )

    def web_text(text: str) -> str:
        return console.redact(text)

    async def login(request: Request) -> Response:
        form = await read_form(request, max_fields=10)
        if form is None:
            return message(request, 400, "Bad request", "the form could not be read")
        if not web.same_origin(request) or not web.sessions.login_token_ok(
            request.cookies.get(LOGIN_COOKIE), form.get("csrf")
        ):
            return web.forbidden(request, "the login form expired or came from another site")
        name = _field(form, "name", 64) or ""
        password = _field(form, "password", 1024) or ""
        client = request.client.host if request.client else "?"
        try:  # one name however it is spelled (fullwidth, case)
            who = approver_name(name)
        except RefusedError:
            who = " ".join(name.split()).casefold()
        wait = web.limiter.acquire(f"ip:{client}", f"user:{who}")
        if wait > 0:
            await run_in_threadpool(
                console.emit,
                "console",
                "login_failed",
                severity="warning",
                client=client,
                reason="rate_limited",
            )
            response = message(
                request, 429, "Too many attempts", f"too many failed logins; wait {wait:.0f}s"
            )
            response.headers["retry-after"] = str(int(wait) + 1)
            return response
        login = None
        try:
            login = await run_in_threadpool(check_login, web.users, web.token, name, password)
        finally:
            web.limiter.release(f"ip:{client}", f"user:{who}", failed=login is None)
        if login is None:
            await run_in_threadpool(
                console.emit,
                "console",
                "login_failed",
                severity="warning",
                client=client,
                reason="wrong_credentials",
            )
            return message(request, 403, "Login failed", "wrong name, password or token")
        await run_in_threadpool(
            console.emit,
            "console",
            "login",
            actor=login.actor,
            method=login.method,
            client=client,
        )
        _, cookie = web.sessions.create(login.actor, login.method)
        response = RedirectResponse("/pending", status_code=303)
        web.set_cookie(response, COOKIE, cookie, int(web.sessions.ttl))
        response.delete_cookie(LOGIN_COOKIE, path="/")
        return response

    async def logout(request: Request) -> Response:
        session, _form, problem = await web.post_form(request)
        if problem is not None:
            return web.forbidden(request, problem)
        web.sessions.end(session)
        client = request.client.host if request.client else "?"
        await run_in_threadpool(
            console.emit, "console", "logout", actor=session.user, client=client
        )
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(COOKIE, path="/")
        return response

    async def decide(request: Request) -> Response:
        session, form, problem = await web.post_form(request)
        if problem is not None:
            return web.forbidden(request, problem)
        verb = request.path_params["verb"]
        intent_id = request.path_params["intent_id"]
        version = _field(form, "version", 12)
        reason = _field(form, "reason", MAX_REASON)
        if (
            verb not in ("approve", "reject")
            or not (version and version.isascii() and version.isdigit())
            or reason is None
        ):
            return message(
                request,
                400,
                "Bad request",
                f"a decision needs the intent's version and a reason of at most {MAX_REASON} "
                "characters",
                session,
            )
        try:
            record = await run_in_threadpool(
                console.decide,
                verb,
                intent_id,
                session.user,
                reason,
                int(version),
                counts=session.method == "password",
            )
        except StaleVersion as exc:
            return message(
                request,
                409,
                "Changed since you loaded it",
                f"{exc}. Nothing was written: reload the intent to see who decided it.",
                session,
            )
        except NotFoundError as exc:
            return message(request, 404, "Not found", str(exc), session)
        except RefusedError as exc:
            return message(request, 409, "Refused", str(exc), session)
        if record.state.value == "pending_approval":  # one approval of several (a quorum)
            session.flash = f"approval by {session.user} recorded; more are required"
        else:
            session.flash = f"{record.state.value} by {session.user}"
        return RedirectResponse(f"/intents/{quote(intent_id, safe='')}", status_code=303)

    async def act(request: Request) -> Response:
        session, form, problem = await web.post_form(request)
        if problem is not None:
            return web.forbidden(request, problem)
        action = request.path_params["action"]
        value = _field(form, "value", 32) or ""
        reason = _field(form, "reason", MAX_REASON)
        if action not in ACTIONS or reason is None:
            problem = "unknown action, or a reason that is too long"
            return message(request, 400, "Bad request", problem, session)
        try:
            await run_in_threadpool(console.check_action, action, value)
        except (ValueError, TradekernelError) as exc:  # refused before any confirmation
            status = 409 if isinstance(exc, RefusedError) else 400
            return message(request, status, "Refused", str(exc), session)
        if needs_confirmation(action, value):
            wanted = f"{action}:{value}"
            given = _field(form, "confirmation", 64) or ""
            if session.confirmations.pop(given, None) != wanted:
                token = secrets.token_urlsafe(24)
                session.confirmations.clear()  # one confirmation pending at a time
                session.confirmations[token] = wanted
                return web.render(
                    request,
                    "confirm.html",
                    200,
                    session,
                    action=action,
                    value=value,
                    reason=reason,
                    confirmation=token,
                )
        try:
            done = await run_in_threadpool(console.act, action, value, session.user, reason)
        except (ValueError, TradekernelError) as exc:
            status = 409 if isinstance(exc, RefusedError) else 400
            return message(request, status, "Refused", str(exc), session)
        session.flash = f"{done} by {session.user}"
        return RedirectResponse("/control", status_code=303)

    async def acknowledge(request: Request) -> Response:
        session, _form, problem = await web.post_form(request)
        if problem is not None:
            return web.forbidden(request, problem)
        given = request.path_params["incident"]
        if not (given.isascii() and given.isdigit() and len(given) <= 9) or int(given) < 1:
            return message(request, 400, "Bad request", "an incident id is a number", session)
        try:
            done = await run_in_threadpool(console.acknowledge_incident, int(given), session.user)
        except NotFoundError as exc:
            return message(request, 404, "Not found", str(exc), session)
        except (ValueError, TradekernelError) as exc:
            status = 409 if isinstance(exc, RefusedError) else 400
            return message(request, status, "Refused", str(exc), session)
        session.flash = f"{done} by {session.user}"
        return RedirectResponse("/alerts", status_code=303)

    return [
        Route("/login", login, methods=["POST"]),
        Route("/logout", logout, methods=["POST"]),
        Route("/intents/{intent_id}/{verb}", decide, methods=["POST"]),
        Route("/control/{action}", act, methods=["POST"]),
        Route("/incidents/{incident}/ack", acknowledge, methods=["POST"]),
    ]
