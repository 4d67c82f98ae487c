"""``tradekernel budget``: every budget with its use, and the tuning report."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import click
from tradekernel.api import AppContext, echo_json, inert, json_option, pass_app


def _n(value: Any, unit: str = "") -> str:
    if value is None:
        return "-"
    return f"{value:g}{unit}" if isinstance(value, float) else f"{value}{unit}"


@click.group()
def budget() -> None:
    """Budgets: node latency, broker requests, prompt size, LLM tokens and dollars."""


@budget.command("status")
@json_option
@pass_app
def status(app: AppContext, as_json: bool) -> None:
    """Every budget and its use over the last day, from the configuration and the
    recorded events. Exit 4 when one is spent or was overrun in the last hour."""
    from tradekernel.api import GateFailed

    from .budgets.status import budget_status, finite

    report = budget_status(app.settings(), datetime.now(UTC))
    if as_json:
        echo_json(finite(report))
    else:
        _print_status(report)
    if report["problems"]:
        raise GateFailed(f"{len(report['problems'])} budget(s) spent or overrun")


def _print_status(report: dict[str, Any]) -> None:
    click.echo(f"budgets {report['now']} (events since {report['since']})")
    if not report["nodes"]:
        click.echo("  nodes: no latency budgets ([budgets.nodes])")
    for row in report["nodes"]:
        click.echo(
            f"  node {inert(row['node'])}: budget {_n(row['budget_ms'], ' ms')}, over "
            f"{row['over']} time(s) (last hour {row['over_last_hour']}), worst "
            f"{_n(row['worst_ms'], ' ms')}"
        )
    if not report["brokers"]:
        click.echo("  brokers: no request budgets ([budgets.brokers])")
    for row in report["brokers"]:
        click.echo(
            f"  broker {inert(row['broker'])}: {row['limit']}/min, used {_n(row['used'])} "
            f"(as of {_n(row['seen'])}), refused {row['refused']} "
            f"(last hour {row['refused_last_hour']})"
        )
    prompt = report["prompt"]
    limit = prompt["limit"]
    click.echo(
        f"  prompt: {'no size budget' if limit is None else f'{limit} tokens'}, trimmed "
        f"{prompt['trimmed']}, held {prompt['held']}"
    )
    llm = report["llm"]
    click.echo(
        f"  llm {llm['day']}: {llm['decisions']} decision(s), {llm['calls']} call(s), "
        f"{llm['tokens']} tokens of {_n(llm['token_limit'])}, ${llm['usd']:g} of "
        f"{_n(llm['usd_limit'])}"
    )
    for problem in report["problems"]:
        click.echo(f"  PROBLEM {inert(problem)}")


@budget.command("report")
@click.option(
    "--days",
    type=click.IntRange(1, 90),
    default=7,
    show_default=True,
    help="Days of recorded events to read.",
)
@json_option
@pass_app
def report(app: AppContext, days: int, as_json: bool) -> None:
    """The tuning report: cost per decision and per trade, cache hit rate, tokens by
    prompt version, latency by node, and what the data supports changing."""
    from .budgets.report import tuning_report
    from .budgets.status import finite

    data = tuning_report(app.settings(), datetime.now(UTC), days)
    if as_json:
        echo_json(finite(data))
        return
    click.echo(f"tuning report, {days} day(s) since {data['since']}")
    click.echo(
        f"  decisions {data['decisions']} (calls {data['calls']}), trades {data['trades']}, "
        f"tokens {data['tokens']}, cost {_n(data['usd'], ' USD')}"
    )
    click.echo(
        f"  per decision: {_n(data['tokens_per_decision'])} tokens, "
        f"{_n(data['cost_per_decision_usd'], ' USD')}; per trade: "
        f"{_n(data['tokens_per_trade'])} tokens, {_n(data['cost_per_trade_usd'], ' USD')}"
    )
    cache = data["cache"]
    click.echo(f"  cache hit rate {_n(cache['hit_rate'])}")
    for row in data["prompt_versions"]:
        click.echo(
            f"  prompt {inert(row['prompt_version'])}: {row['decisions']} decision(s), "
            f"{row['tokens']} tokens ({_n(row['tokens_per_decision'])} each)"
        )
    for row in cache["ttls"]:
        click.echo(
            f"  cache at TTL {row['ttl_s']:g}s: {row['hits']} hit(s), saving "
            f"{_n(row['saved_tokens_pct'], '%')} of tokens, {_n(row['saved_usd_pct'], '%')} "
            "of cost"
        )
    for row in data["nodes"]:
        click.echo(
            f"  node {inert(row['node'])}: {row['samples']} timing(s), p50 "
            f"{_n(row['p50_ms'], ' ms')}, p95 {_n(row['p95_ms'], ' ms')}, p99 "
            f"{_n(row['p99_ms'], ' ms')}, budget {_n(row['budget_ms'], ' ms')}"
        )
    for line in data["recommendations"]:
        click.echo(f"  -> {inert(line)}")
