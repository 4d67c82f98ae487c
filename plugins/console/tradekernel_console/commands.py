"""``tradekernel console``: serve the approval console; ``console hash-password``.

Nothing here imports Starlette, Jinja2 or uvicorn until a server starts."""

from __future__ import annotations

import ipaddress
import secrets
import socket
import sys
from typing import Any

import click
from tradekernel.api import AppContext, ConfigError

LOOPBACK = ("127.0.0.1", "::1", "localhost")
DEFAULT_PORT = 8765


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback addresses (127.0.0.0/8, ::1)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_bind(host: str, certfile: str | None, keyfile: str | None, insecure: bool) -> None:
    """Refuse (exit 2) a remote bind without TLS or the explicit acknowledgement, and
    half a TLS configuration."""
    if bool(certfile) != bool(keyfile):
        raise click.UsageError("TLS needs both --certfile and --keyfile")
    if not is_loopback(host) and not certfile and not insecure:
        raise click.UsageError(
            f"--host {host} is reachable from other machines: give TLS settings "
            "(--certfile and --keyfile) or acknowledge plain HTTP with --insecure-remote"
        )


def check_tls(certfile: str | None, keyfile: str | None) -> None:
    """Refuse (exit 2, one line) a certificate and key that do not load together: checked
    before anything is bound or printed. A key with a passphrase is refused, not
    prompted for."""
    if not certfile or not keyfile:
        return
    import ssl

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.load_cert_chain(certfile, keyfile, password=lambda: b"")
    except (ssl.SSLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", None) or getattr(exc, "strerror", None) or str(exc)
        raise click.UsageError(
            f"--certfile {certfile} / --keyfile {keyfile}: not a usable certificate and "
            f"unencrypted private key that belong together ({reason})"
        ) from None


def check_users(settings: Any) -> None:
    """Every ``[console] users`` entry must be a valid approver name (distinct once
    normalised) with a usable password hash (exit 2 naming it)."""
    from tradekernel.api import inert

    from .auth import hash_problem, user_table

    where = settings.where("console", "users")
    for name, encoded in settings.console.users.items():
        problem = hash_problem(encoded)
        if problem is not None:
            raise ConfigError(f"{where}: [console] users: user {inert(name)!r}: {problem}")
    try:
        user_table(settings.console.users)
    except ValueError as exc:
        raise ConfigError(f"{where}: [console] users: {exc}") from None


def allowed_hosts(host: str, extra: tuple[str, ...]) -> frozenset[str]:
    """The ``Host`` names the server answers: the bound address, the loopback names
    when it is loopback, and every ``--allow-host``."""
    from .app import host_name

    bound = f"[{host.strip('[]')}]" if ":" in host else host
    names = {host_name(bound), *(host_name(h) for h in extra)}
    if is_loopback(host):
        names |= {"localhost", "127.0.0.1", "[::1]"}
    return frozenset(names)


@click.group(invoke_without_command=True)
@click.option(
    "--host", default=None, help="Address to bind (default 127.0.0.1: this machine only)."
)
@click.option("--port", type=click.IntRange(0, 65535), default=DEFAULT_PORT, show_default=True)
@click.option("--certfile", type=click.Path(exists=True, dir_okay=False), help="TLS certificate.")
@click.option("--keyfile", type=click.Path(exists=True, dir_okay=False), help="TLS private key.")
@click.option(
    "--insecure-remote",
    is_flag=True,
    help="Serve plain HTTP on a non-loopback --host (passwords and sessions in clear text).",
)
@click.option("--no-token", is_flag=True, help="No start token: only [console] users log in.")
@click.option(
    "--allow-host",
    multiple=True,
    help="Another Host name to answer (a DNS name, a reverse proxy's); repeatable.",
)
@click.pass_context
def console(
    ctx: click.Context,
    host: str | None,
    port: int,
    certfile: str | None,
    keyfile: str | None,
    insecure_remote: bool,
    no_token: bool,
    allow_host: tuple[str, ...],
) -> None:
    """The approval console in a browser: pending intents, approve/reject, control,
    positions, alerts and the daily report (docs/console.md)."""
    if ctx.invoked_subcommand is not None:
        return
    host = host or "127.0.0.1"
    check_bind(host, certfile, keyfile, insecure_remote)
    check_tls(certfile, keyfile)
    app = ctx.ensure_object(AppContext)
    settings = app.settings()
    check_users(settings)
    if no_token and not settings.console.users:
        raise click.UsageError("--no-token needs [console] users, or nobody could log in")
    serve(
        app,
        host,
        port,
        certfile=certfile,
        keyfile=keyfile,
        token=not no_token,
        hosts=allowed_hosts(host, allow_host),
    )


def serve(
    app: AppContext,
    host: str,
    port: int,
    *,
    certfile: str | None,
    keyfile: str | None,
    token: bool,
    hosts: frozenset[str] | None = None,
) -> None:
    """Bind, print the address (and the start token), and serve until interrupted."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host.strip("[]"), port))
    except OSError as exc:
        sock.close()
        raise click.UsageError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    sock.listen(128)
    import uvicorn

    from .app import build_app

    login_token = secrets.token_urlsafe(24) if token else None
    web_app = build_app(
        app.settings(),
        token=login_token,
        kernel=app.kernel(),
        secure=bool(certfile),
        allowed_hosts=hosts,
    )
    bound = sock.getsockname()[1]
    scheme = "https" if certfile else "http"
    shown = f"[{host}]" if ":" in host else host
    address = f"{scheme}://{shown}:{bound}/"
    web_app.state.web.console.emit("console", "started", address=address, tls=bool(certfile))
    click.echo(f"tradekernel console on {address} (Ctrl-C stops it)")
    if login_token:
        click.echo(f"login token (any name): {login_token}")
    sys.stdout.flush()
    config = uvicorn.Config(
        web_app,
        log_level="warning",
        server_header=False,
        ssl_certfile=certfile,
        ssl_keyfile=keyfile,
        lifespan="on",
        proxy_headers=False,  # X-Forwarded-For would let a client pick its login-limit key
    )
    uvicorn.Server(config).run(sockets=[sock])


@console.command("hash-password")
@click.option("--name", default=None, help="Print a ready [console] users line for NAME.")
def hash_password_cmd(name: str | None) -> None:
    """Read a password (prompted twice, not echoed) and print its hash for
    [console] users in plugins.toml."""
    from .auth import MAX_PASSWORD, hash_password

    password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    if len(password) < 8 or len(password) > MAX_PASSWORD:
        raise click.UsageError(f"a password must be 8 to {MAX_PASSWORD} characters")
    encoded = hash_password(password)
    if name:
        if not name.isprintable() or not name.strip() or '"' in name or len(name) > 64:
            raise click.UsageError("--name must be 1 to 64 printable characters without quotes")
        click.echo(f'[console.users]\n"{name}" = "{encoded}"')
    else:
        click.echo(encoded)
