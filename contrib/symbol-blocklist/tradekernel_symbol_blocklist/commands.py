"""``tradekernel blocklist``: show the configured blocklist (imported only when run)."""

from __future__ import annotations

import click
from tradekernel.api import AppContext, echo_json, json_option, pass_app


@click.command("blocklist")
@json_option
@pass_app
def blocklist(app: AppContext, as_json: bool) -> None:
    """Show the symbols the symbol_blocklist guard denies."""
    from . import GUARD_NAME, SymbolBlocklistConfig

    settings = app.settings()
    config = settings.component_config("guard", GUARD_NAME, SymbolBlocklistConfig)
    active = GUARD_NAME in settings.components.guards
    if as_json:
        echo_json({"active": active, "symbols": config.symbols, "reason": config.reason})
        return
    state = "active" if active else "not selected in [components] guards"
    click.echo(f"symbol_blocklist ({state}): {', '.join(config.symbols) or '(empty)'}")
