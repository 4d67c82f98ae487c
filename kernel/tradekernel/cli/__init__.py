"""The ``tradekernel`` command line. Command groups live in their own modules and are
imported only when used (see :class:`LazyGroup`)."""

from __future__ import annotations

import sys

import click

from .. import __version__
from ..errors import EXIT_FAILED, EXIT_USAGE, TradekernelError
from .context import AppContext, redact_text
from .lazy import LazyGroup

COMMANDS = {
    "config": "tradekernel.cli.config_cmd:config",
    "control": "tradekernel.cli.control_cmd:control",
    "events": "tradekernel.cli.events_cmd:events",
    "intents": "tradekernel.cli.intents_cmd:intents",
    "journal": "tradekernel.cli.journal_cmd:journal",
    "plugins": "tradekernel.cli.plugins_cmd:plugins",
    "run": "tradekernel.cli.run_cmd:run",
    "runtime-plan": "tradekernel.cli.run_cmd:runtime_plan",
    "skills": "tradekernel.cli.skills_cmd:skills",
    "strategist": "tradekernel.cli.strategist_cmd:strategist",
}
"""Built-in commands: name -> ``module:attribute``, imported only when the command runs.
Modules that are not present in this build are left out of the listing."""


@click.group(
    cls=LazyGroup,
    lazy_subcommands=COMMANDS,
    epilog="Commands added by plugins are listed by `tradekernel plugins list`.",
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    help="Configuration file (default: $TRADEKERNEL_CONFIG, else ./plugins.toml).",
)
@click.option("-v", "--verbose", count=True, help="Log more (-vv for debug); show tracebacks.")
@click.version_option(__version__, "--version", prog_name="tradekernel")
@click.pass_context
def cli(ctx: click.Context, config_path: str | None, verbose: int) -> None:
    """tradekernel: a plugin-based microkernel for safety-first LLM trading agents."""
    app = ctx.ensure_object(AppContext)
    app.config_path = config_path
    app.verbose = verbose
    ctx.call_on_close(app.close)


def main(argv: list[str] | None = None) -> None:
    """Console entry point: expected errors become one line on stderr and an exit code."""
    args = sys.argv[1:] if argv is None else argv
    verbose = any(
        a in ("-v", "--verbose") or (a.startswith("-v") and set(a[1:]) == {"v"}) for a in args
    )
    try:
        cli.main(args=args, prog_name="tradekernel", standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(EXIT_FAILED)
    except getattr(click.exceptions, "NoArgsIsHelpError", ()) as exc:  # click 8.2+
        # A group run without its command: its help on stdout, as --help prints it, and
        # a usage error (exit 2) in one line on stderr.
        click.echo(exc.ctx.get_help())
        click.echo(f"Error: missing command (see '{exc.ctx.command_path} --help')", err=True)
        sys.exit(EXIT_USAGE)
    except click.UsageError as exc:
        path = exc.ctx.command_path if exc.ctx else "tradekernel"
        message = _one_line(redact_text(exc.format_message()))
        click.echo(f"Error: {message} (see '{path} --help')", err=True)
        sys.exit(EXIT_USAGE)
    except click.ClickException as exc:
        click.echo(f"Error: {_one_line(redact_text(exc.format_message()))}", err=True)
        sys.exit(exc.exit_code)
    except TradekernelError as exc:
        if verbose:
            _print_traceback()
        click.echo(f"Error: {_one_line(redact_text(str(exc)))}", err=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        click.echo("Interrupted.", err=True)
        sys.exit(130)
    except Exception as exc:
        if verbose:
            _print_traceback()
        click.echo(
            f"Error: unexpected {type(exc).__name__}: {_one_line(redact_text(str(exc)))} "
            "(run with -v for the traceback)",
            err=True,
        )
        sys.exit(EXIT_FAILED)
    sys.exit(0)


def _print_traceback() -> None:
    from ..display import inert_traceback

    click.echo(redact_text(inert_traceback(sys.exception())), err=True, nl=False)


def _one_line(text: str) -> str:
    """An error message as one line: when outside text quoted in it (an input, a broker's
    or provider's message) holds a newline, an escape sequence or another control or
    format character, the message is made inert (``\\n``, ``\\x1b``). A message that
    needs no escaping, such as one quoting its input with ``repr``, is shown as is."""
    from ..display import inert, is_inert

    text = text.strip()
    return text if is_inert(text) else inert(text)
