"""``tradekernel plugins new``: write a new plugin distribution to start from."""

from __future__ import annotations

from pathlib import Path

import click

from ..display import inert
from ..scaffold import KINDS


@click.command("new")
@click.argument("name")
@click.option("--kind", required=True, type=click.Choice(KINDS), help="Component kind.")
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    help="Directory to create (default: ./tradekernel-NAME); must not exist.",
)
def new(name: str, kind: str, directory: Path | None) -> None:
    """Write a working plugin distribution: pyproject.toml with the entry point, the
    component and its config class, tests using tradekernel.testing, and a README.

    NAME is the plugin's name (symbol-blocklist): the distribution is tradekernel-NAME,
    the package tradekernel_NAME. Nothing is overwritten.
    """
    from ..scaffold import PREFIX, check_name, write

    short = check_name(name)
    target = directory if directory is not None else Path(PREFIX + short)
    written = write(kind, short, target)
    click.echo(f"wrote {inert(str(target))} ({len(written)} files): the {kind} plugin {short}")
    click.echo(f"next: pip install -e {inert(str(target))} && pytest {inert(str(target))}")
