"""``tradekernel backtest``: the canonical graph over replayed data, one run or a sweep."""

from __future__ import annotations

import sys
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import click
from tradekernel.api import (
    AppContext,
    echo_json,
    format_money,
    format_quantity,
    inert,
    json_option,
    pass_app,
)

SHOWN = (
    ("final equity", "final_equity", format_money),
    ("total return", "total_return", "{:.2%}"),
    ("CAGR", "cagr", "{:.2%}"),
    ("volatility (ann.)", "annual_volatility", "{:.2%}"),
    ("Sharpe", "sharpe", "{:.3f}"),
    ("Sortino", "sortino", "{:.3f}"),
    ("max drawdown", "max_drawdown", "{:.2%}"),
    ("  duration (bars)", "max_drawdown_duration_bars", "{}"),
    ("exposure", "exposure", "{:.1%}"),
    ("trades", "trades", "{}"),
    ("win rate", "win_rate", "{:.1%}"),
    ("average trade", "average_trade", format_money),
    ("profit factor", "profit_factor", "{:.3f}"),
    ("commissions", "commissions", format_money),
)


DAILY_PERIODS = 252.0
"""``periods_per_year`` of daily bars; at or below it bars have no intraday time."""


def _decimal(ctx: Any, param: Any, value: str | None) -> Decimal | None:
    if value is None:
        return None
    try:
        return Decimal(value)
    except InvalidOperation:
        raise click.BadParameter(f"expected a number, got {value!r}") from None


@click.command()
@click.option(
    "--strategist",
    help="Test this strategy alone (default: the configuration's strategists together).",
)
@click.option(
    "--data", "data", multiple=True, required=True, help="CSV file or directory (repeatable)."
)
@click.option("--from", "start", help="First date to replay (inclusive), e.g. 2024-01-02.")
@click.option("--to", "end", help="Last date to replay (inclusive).")
@click.option("--cash", callback=_decimal, help="Starting cash (default: [broker.paper] cash).")
@click.option(
    "--commission", callback=_decimal, help="Commission, a fraction of notional (0.001 = 10 bps)."
)
@click.option(
    "--param",
    "params",
    multiple=True,
    help="Strategist setting KEY=VALUE; KEY=V1,V2,... on any --param runs a sweep.",
)
@click.option("--symbols", help="Comma-separated watchlist (default: every symbol in the data).")
@click.option(
    "--out", "out_dir", type=click.Path(file_okay=False), help="Write CSVs, metrics and report."
)
@click.option("--workers", type=click.IntRange(min=1), help="Sweep jobs at once (default: cores).")
@click.option("--sweeper", help="What runs a sweep (default: [components] sweeper).")
@click.option("--scheduler", metavar="URL", help="Run the sweep on this Dask scheduler.")
@click.option("--fresh", is_flag=True, help="Rerun a sweep's finished combinations too.")
@click.option("--allow-network", is_flag=True, help="Let an LLM strategist call its provider.")
@click.option("--budget-usd", type=float, help="Stop when LLM spend reaches this (USD).")
@click.option("--keep-sinks", is_flag=True, help="Keep the configured metrics sinks.")
@click.option("--periods-per-year", type=float, help="Annualization factor (default: inferred).")
@click.option("--no-record", is_flag=True, help="Do not record the result for promotion.")
@click.option("--runtime", help="Runtime that walks the graph (default: [components] runtime).")
@json_option
@pass_app
def backtest(
    app: AppContext,
    strategist: str | None,
    data: tuple[str, ...],
    start: str | None,
    end: str | None,
    cash: Decimal | None,
    commission: Decimal | None,
    params: tuple[str, ...],
    symbols: str | None,
    out_dir: str | None,
    workers: int | None,
    sweeper: str | None,
    scheduler: str | None,
    fresh: bool,
    allow_network: bool,
    budget_usd: float | None,
    keep_sinks: bool,
    periods_per_year: float | None,
    no_record: bool,
    runtime: str | None,
    as_json: bool,
) -> None:
    """Backtest the configured strategies on the same graph `run` uses, over replayed
    CSV bars (several strategies run together, with the [portfolio] budgets, conflict
    policy and sizers; the output shows each strategy's numbers and the portfolio's).

    Market orders decided on a bar fill at the next bar's open; commission is a fraction
    of each fill's notional; a position open at the end is valued at the last close.

    A sweep keeps each finished combination: run the same command again after an
    interruption and only the unfinished ones run.
    """
    from .progress import ProgressLine, wanted
    from .runner import run_backtest
    from .spec import BacktestSpec, param_grid, parse_param
    from .sweep import run_sweep

    parsed = [parse_param(p) for p in params]
    grid = param_grid(parsed)
    spec = BacktestSpec(
        strategist=strategist,
        data=list(data),
        start=start,
        end=end,
        cash=cash,
        commission=commission,
        symbols=[s.strip().upper() for s in symbols.split(",") if s.strip()] if symbols else None,
        out_dir=Path(out_dir) if out_dir else None,
        allow_network=allow_network,
        budget_usd=budget_usd,
        keep_sinks=keep_sinks,
        periods_per_year=periods_per_year,
        record=not no_record,
        runtime=runtime,
    )
    settings = app.settings()
    show = wanted(sys.stderr, as_json=as_json)
    if len(grid) == 1 and (sweeper or scheduler or fresh):
        raise click.UsageError("--sweeper, --scheduler and --fresh are for sweeps (KEY=V1,V2)")
    if len(grid) > 1:
        if allow_network:
            raise click.UsageError("--allow-network is not available for sweeps")

        done = [0]

        def on_row(i: int, row: dict) -> None:
            done[0] += 1
            if show:
                click.echo(f"\r{done[0]}/{len(grid)} combinations done", err=True, nl=False)

        def on_resume(count: int) -> None:
            done[0] = count
            click.echo(
                f"resuming: {count}/{len(grid)} combinations already done (--fresh reruns them)",
                err=True,
            )

        from .sweep import SweepFailed

        failed: SweepFailed | None = None
        try:
            rows = run_sweep(
                settings,
                spec,
                grid,
                workers=workers,
                on_row=on_row,
                sweeper=sweeper,
                scheduler=scheduler,
                resume=not fresh,
                on_resume=on_resume,
            )
        except SweepFailed as exc:
            rows, failed = exc.rows, exc
        except KeyboardInterrupt:
            click.echo(
                f"\nsweep interrupted: {done[0]}/{len(grid)} combinations done and kept; "
                "run the same command again to resume",
                err=True,
            )
            sys.exit(130)
        if show:
            click.echo("", err=True)
        if as_json:
            echo_json(rows)
        else:
            _print_sweep(rows, [k for k, _ in parsed], spec.out_dir)
        if failed is not None:
            raise failed
        return
    spec = BacktestSpec(**{**_fields(spec), "params": grid[0]})
    line = ProgressLine(sys.stderr) if show else None
    result = run_backtest(
        settings,
        spec,
        progress=line,
        announce=lambda text: click.echo(text, err=True),
    )
    if line is not None:
        line.finish()
    if as_json:
        echo_json(result.metrics)
        return
    _print_metrics(result.metrics, spec.out_dir)


def _fields(spec: Any) -> dict[str, Any]:
    import attrs

    return attrs.asdict(spec, recurse=False)


def _fmt(template: str | Callable[[Any], str], value: Any) -> str:
    if value is None:
        return "-"
    if callable(template):
        return template(value)
    try:
        return template.format(value)
    except (TypeError, ValueError):
        return inert(str(value))


def _print_metrics(m: dict, out_dir: Path | None) -> None:
    click.echo(
        f"backtest {m['strategist']}  {m['bars']} bars  {m['start']} .. {m['end']}  "
        f"stopped: {m['stopped']}"
    )
    for label, key, template in SHOWN:
        click.echo(f"  {label:<18} {_fmt(template, m.get(key))}")
    _print_denials(m)
    if m["llm_calls"]:
        click.echo(
            f"  {'LLM':<18} {m['llm_calls']} calls, {m['llm_tokens']} tokens, "
            f"${m['llm_cost_usd']:.4f}, fallback rate {_fmt('{:.1%}', m['llm_fallback_rate'])}"
        )
    for p in m["open_positions"]:
        click.echo(
            f"  open at end       {p['symbol']} {format_quantity(p['quantity'])} "
            f"@ {format_money(p['avg_price'])} (last {format_money(p['market_price'])}, "
            f"unrealized {format_money(p['unrealized_pnl'])})"
        )
    _print_strategies(m)
    click.echo(f"  {'speed':<18} {m['bars_per_second']:,} bars/s ({m['elapsed_s']} s)")
    if out_dir is not None:
        click.echo(f"  {'outputs':<18} {out_dir}/ (report.html, trades.csv, equity.csv)")


STRATEGY_COLUMNS = (
    ("return", "total_return", "{:.2%}"),
    ("P&L", "pnl", format_money),
    ("realized", "realized_pnl", format_money),
    ("unrealized", "unrealized_pnl", format_money),
    ("commissions", "commissions", format_money),
    ("trades", "trades", "{}"),
    ("max dd", "max_drawdown", "{:.2%}"),
    ("exposure", "exposure", "{:.1%}"),
    ("Sharpe", "sharpe", "{:.3f}"),
)


def _print_strategies(m: dict) -> None:
    """Each strategy's numbers and the portfolio's (a backtest of several strategies)."""
    strategies: dict[str, dict] = m.get("strategies") or {}
    if not strategies:
        return
    width = max(len(n) for n in [*strategies, "portfolio"])
    header = "  ".join(f"{label:>12}" for label, _, _ in STRATEGY_COLUMNS)
    click.echo(f"  {'strategy':<{width}}  {header}")
    for name, row in strategies.items():
        cells = "  ".join(f"{_fmt(t, row.get(k)):>12}" for _, k, t in STRATEGY_COLUMNS)
        click.echo(f"  {inert(name):<{width}}  {cells}")
        if row.get("budget_denials"):
            codes = ", ".join(f"{c} {n}" for c, n in row["budget_denials"].items())
            click.echo(f"  {'':<{width}}  budget denials: {codes}")
    p = m.get("portfolio") or {}
    total = {
        **p,
        "total_return": m.get("total_return"),
        "trades": m.get("trades"),
        "max_drawdown": m.get("max_drawdown"),
        "exposure": m.get("exposure"),
        "sharpe": m.get("sharpe"),
    }
    cells = "  ".join(f"{_fmt(t, total.get(k)):>12}" for _, k, t in STRATEGY_COLUMNS)
    click.echo(f"  {'portfolio':<{width}}  {cells}")


def _print_denials(m: dict) -> None:
    """Intents the guards blocked and why: a backtest with 0 trades should say so."""
    intents, blocked = m.get("intents") or 0, m.get("intents_blocked") or 0
    denials: dict[str, int] = m.get("guard_denials") or {}
    if intents:
        click.echo(f"  {'intents':<18} {intents} proposed, {blocked} blocked by guards")
    if denials:
        by_code = ", ".join(f"{code} {count}" for code, count in denials.items())
        click.echo(f"  {'guard denials':<18} {by_code}")
    if "outside_session" in denials and (m.get("periods_per_year") or 0) <= DAILY_PERIODS:
        click.echo(
            "  note: daily (or coarser) bars carry no intraday time, so session_hours denies\n"
            "        them all; drop it from [components] guards for this backtest"
        )
    elif intents and blocked == intents and not m.get("trades"):
        click.echo("  note: the guards blocked every intent (see guard denials)")


def _print_sweep(rows: list[dict], keys: list[str], out_dir: Path | None) -> None:
    keys = list(dict.fromkeys(keys))
    header = "  ".join(f"{k:>8}" for k in keys)
    click.echo(f"{header}  {'return':>9} {'sharpe':>7} {'max dd':>7} {'trades':>6}")
    for row in rows:
        params = "  ".join(f"{inert(str(row.get(k))):>8}" for k in keys)
        if row["error"]:
            click.echo(f"{params}  error: {inert(row['error'])}")
            continue
        click.echo(
            f"{params}  {_fmt('{:.2%}', row['total_return']):>9} "
            f"{_fmt('{:.3f}', row['sharpe']):>7} {_fmt('{:.2%}', row['max_drawdown']):>7} "
            f"{inert(str(row.get('trades'))):>6}"
        )
    if out_dir is not None:
        click.echo(f"rows: {out_dir}/sweep.csv, {out_dir}/sweep.json")
