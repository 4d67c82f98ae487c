"""The console's Starlette application: security headers, login, sessions and CSRF
around the pages (:mod:`.pages`) and the forms (:mod:`.forms`)."""

from __future__ import annotations

import contextlib
import secrets
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles
from tradekernel.api import inert

from .auth import LoginLimiter, Session, Sessions, same_token
from .service import Console

HERE = Path(__file__).resolve().parent
COOKIE = "tk_console"
LOGIN_COOKIE = "tk_console_login"
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
NAV = (
    ("/pending", "Pending"),
    ("/intents", "Intents"),
    ("/orders", "Orders"),
    ("/positions", "Positions"),
    ("/control", "Control"),
    ("/alerts", "Alerts"),
    ("/report", "Report"),
)
HEADERS = {
    "content-security-policy": CSP,
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "cross-origin-opener-policy": "same-origin",
    "cross-origin-resource-policy": "same-origin",
    "cache-control": "no-store",
}


MAX_BODY = 65_536
"""The largest form body read (every console form is a few fields of text)."""


async def read_form(request: Request, max_fields: int = 20) -> Any:
    """The request's form, or ``None`` when it is larger than :data:`MAX_BODY`, has no
    declared length, or cannot be parsed."""
    try:
        length = int(request.headers.get("content-length", ""))
    except ValueError:
        return None
    if not 0 <= length <= MAX_BODY:
        return None
    try:
        return await request.form(max_files=0, max_fields=max_fields, max_part_size=MAX_BODY)
    except Exception:  # malformed encodings, too many fields: the client's problem
        return None


class SecurityHeaders:
    """Adds :data:`HEADERS` to every response (a response that sets its own
    Content-Security-Policy, the sandboxed report dashboard, keeps it)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: dict) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                have = {k.decode("latin-1").lower() for k, _ in headers}
                for name, value in HEADERS.items():
                    if name not in have:
                        headers.append((name.encode("latin-1"), value.encode("latin-1")))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


class Shown(str):
    """Text already made inert (the report plugin's lines): the pages mask secrets in it
    and escape it for HTML, but do not make its escapes visible a second time."""


def host_name(header: str) -> str:
    """The host of a ``Host`` header, lowercased, without its port."""
    host = header.strip().lower()
    if host.startswith("["):
        return host[: host.find("]") + 1] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


class HostCheck:
    """Refuses (400) a request whose ``Host`` is not one of ``allowed`` (the bound
    address, the loopback names, and any ``--allow-host``): a page on another domain
    that rebinds its name to this address cannot reach the console."""

    def __init__(self, app: Any, allowed: frozenset[str]) -> None:
        self.app = app
        self.allowed = allowed

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            headers = dict(scope.get("headers") or [])
            host = host_name(headers.get(b"host", b"").decode("latin-1"))
            if host not in self.allowed:
                response = HTMLResponse(
                    "<!doctype html><title>Bad request</title><p>unknown Host header: this "
                    "console answers only to its own address (see --allow-host)</p>",
                    status_code=400,
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


class Web:
    """Everything a request handler needs: the console, templates, sessions, limits."""

    def __init__(
        self,
        console: Console,
        *,
        token: str | None,
        secure: bool,
        clock: Any = time.time,
        secret: bytes | None = None,
    ) -> None:
        from jinja2 import Environment, FileSystemLoader, select_autoescape
        from markupsafe import Markup

        from .auth import user_table

        self.console = console
        self.token = token
        console.token = token
        self.users = user_table(console.settings.console.users)
        self.secure = secure
        self.clock = clock
        settings = console.settings
        ttl = float(settings.console.session_ttl)
        self.sessions = Sessions(secret or secrets.token_bytes(32), ttl, clock=clock)
        self.limiter = LoginLimiter(clock=clock)
        redact = console.redact

        def shown(value: Any) -> Any:
            # every value a template prints: secrets masked, controls made visible; then
            # Jinja escapes it for HTML (autoescape)
            if value is None or isinstance(value, Markup | bool | int | float):
                return "" if value is None else value
            if isinstance(value, Shown):
                return redact(str(value))
            return inert(redact(str(value)))

        self.templates = Environment(
            loader=FileSystemLoader(str(HERE / "templates")),
            autoescape=select_autoescape(default=True, default_for_string=True),
            finalize=shown,
        )

    def render(
        self,
        request: Request,
        template: str,
        http_status: int = 200,
        session: Session | None = None,
        **context: Any,
    ) -> HTMLResponse:
        body = self.templates.get_template(template).render(
            session=session,
            csrf=session.csrf if session else "",
            user=session.user if session else None,
            path=request.url.path,
            nav=NAV,
            **context,
        )
        return HTMLResponse(body, status_code=http_status)

    def set_cookie(self, response: Response, name: str, value: str, max_age: int) -> None:
        response.set_cookie(
            name,
            value,
            max_age=max_age,
            path="/",
            httponly=True,
            samesite="strict",
            secure=self.secure,
        )

    def session(self, request: Request) -> Session | None:
        return self.sessions.get(request.cookies.get(COOKIE))

    def forbidden(self, request: Request, why: str) -> HTMLResponse:
        return self.render(request, "message.html", 403, title="Forbidden", message=why, login=True)

    def same_origin(self, request: Request) -> bool:
        """A POST must come from this server's own pages: the browser's ``Sec-Fetch-Site``
        (when sent) says same-origin, and its ``Origin`` (when sent) is this server."""
        site = request.headers.get("sec-fetch-site")
        if site is not None and site not in ("same-origin", "none"):
            return False
        origin = request.headers.get("origin")
        if origin is None:
            return True
        if origin == "null":  # a privacy-stripped origin: only the fetch metadata can vouch
            return site == "same-origin"
        host = request.headers.get("host", "")
        return origin in (f"http://{host}", f"https://{host}")

    async def post_form(self, request: Request) -> tuple[Session | None, Any, str | None]:
        """The session and form of a POST, or why it is refused (no session, no or wrong
        CSRF token, another origin)."""
        session = self.session(request)
        if session is None:
            return None, None, "log in first"
        if not self.same_origin(request):
            return session, None, "the request came from another site"
        form = await read_form(request)
        if form is None:
            return session, None, "the form could not be read (too large or malformed)"
        if not same_token(session.csrf, form.get("csrf")):
            return session, None, "the form's CSRF token is missing or wrong; reload the page"
        return session, form, None


def build_app(
    settings: Any,
    *,
    token: str | None = None,
    kernel: Any = None,
    secure: bool = False,
    clock: Any = time.time,
    secret: bytes | None = None,
    allowed_hosts: frozenset[str] | None = None,
) -> Starlette:
    """The console application for ``settings``. ``token`` is the one-time login token
    (``None``: only ``[console] users`` log in); ``secure`` marks cookies Secure (TLS);
    ``clock`` (seconds) drives session expiry and the login limit; ``allowed_hosts``: the
    ``Host`` names answered (``None``: any, for tests that use their own names)."""
    from . import forms, pages

    console = Console(settings, kernel=kernel)
    web = Web(console, token=token, secure=secure, clock=clock, secret=secret)
    routes = [
        *pages.routes(web),
        *forms.routes(web),
        Mount("/static", StaticFiles(directory=str(HERE / "static")), name="static"),
    ]

    async def not_found(request: Request, exc: Exception) -> Response:
        return web.render(request, "message.html", 404, title="Not found", message="no such page")

    async def server_error(request: Request, exc: Exception) -> Response:
        # runs outside the middleware stack (Starlette's ServerErrorMiddleware): the
        # security headers are set here; the traceback goes to the server's log only
        response = web.render(
            request,
            "message.html",
            500,
            title="Server error",
            message="the console failed to answer this request; see the server's log",
        )
        response.headers.update(HEADERS)
        return response

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            console.close()

    app = Starlette(
        routes=routes,
        exception_handlers={404: not_found, Exception: server_error},
        lifespan=lifespan,
    )
    app.router.redirect_slashes = False  # its redirect would echo the Host header
    app.state.web = web
    if allowed_hosts is not None:
        app.add_middleware(HostCheck, allowed=allowed_hosts)
    app.add_middleware(SecurityHeaders)
    return app
