"""The approval console (``tradekernel console``): server-rendered pages to review and
decide pending intents, operate the kill switch and the other controls, and see
positions, alerts and the daily report, in a browser. See docs/console.md.

Registering the plugin imports none of Starlette, Jinja2 or uvicorn: they are imported
when ``tradekernel console`` starts a server (or a test builds the app).

    from tradekernel_console import build_app
    app = build_app(settings, token="...")
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tradekernel import hookimpl

if TYPE_CHECKING:
    from .app import build_app

TRADEKERNEL_API = ">=1.0,<2"
"""The range of :data:`tradekernel.api.API_VERSION` this plugin was built for."""


@hookimpl
def register_commands(cli):
    """Add ``tradekernel console`` (imported only when the CLI asks for plugin commands)."""
    from .commands import console

    cli.add_command(console)


def __getattr__(name: str) -> Any:
    if name == "build_app":
        from .app import build_app

        return build_app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["build_app"]
