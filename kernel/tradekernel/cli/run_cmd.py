"""``tradekernel run`` and ``tradekernel runtime-plan``: the main job."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import click

from ..display import inert
from ..errors import ConfigError
from ..readable import format_money
from ..settings import Duration
from .context import AppContext, echo_json, json_option, pass_app


class DurationType(click.ParamType):
    """A positive :class:`Duration` option (``--every 60s``)."""

    name = "duration"

    def convert(self, value: Any, param: Any, ctx: Any) -> Duration:
        try:
            duration = Duration.parse(value)
        except ValueError as exc:
            self.fail(str(exc), param, ctx)
        if duration <= 0:
            self.fail(f"expected a positive duration, got {value!r}", param, ctx)
        return duration


@click.command()
@click.option("--once", is_flag=True, help="Run exactly one cycle.")
@click.option("--every", type=DurationType(), help="Run a cycle every interval (e.g. 60s).")
@click.option("--cycles", type=click.IntRange(min=1), help="Stop after N cycles.")
@click.option(
    "--mode", type=click.Choice(["paper", "shadow", "live"]), help="Override the runtime mode."
)
@click.option("--quiet", "-q", is_flag=True, help="Print only the final summary.")
@json_option
@pass_app
def run(
    app: AppContext,
    once: bool,
    every: Duration | None,
    cycles: int | None,
    mode: str | None,
    quiet: bool,
    as_json: bool,
) -> None:
    """Run trading cycles through the canonical graph.

    Without options, runs one cycle. --every runs on a schedule until --cycles are done,
    the market data runs out, or SIGINT/SIGTERM (the current node finishes first).
    """
    from ..runtime.loop import CycleTotals

    if once and (every or (cycles and cycles > 1)):
        raise click.UsageError("--once cannot be combined with --every or --cycles > 1")
    from ..files import RUN_LOCK, exclusive
    from ..lease import LeaseLost, agent_lease

    kernel = app.kernel()
    # Everything `config check` reports stops the run here, before anything is written.
    for warning in kernel.check():
        click.echo(f"warning: {warning}", err=True)
    # One agent per state directory: a second `run` would trade the same account twice.
    lock_path = app.settings().state_dir / RUN_LOCK
    lock = exclusive(lock_path, "tradekernel run")
    count = 1 if once or (not every and not cycles) else cycles
    totals = CycleTotals()  # a long run keeps no cycle's state: memory stays flat
    # Several hosts on one shared store: its lease on the namespace, held for the whole
    # run (a release change included); before the runtime starts, so its start's
    # reconcile runs under the lease, a takeover's included.
    summary = lost_at_end = None
    try:
        with lock, agent_lease(kernel, "tradekernel run") as fence:
            runtime, summary = _run_held(
                app, mode, fence, every, count, totals, quiet, as_json, lock_path
            )
    except LeaseLost as exc:  # learned by the heartbeat after the last fence call
        if summary is None:
            raise
        lost_at_end = exc
    if as_json:
        echo_json(summary)
    else:
        _print_summary(summary)
    runtime.raise_feed_failure()  # the summary first, then the error: exit 2 or 1
    if runtime.lease_lost is not None:
        raise runtime.lease_lost  # exit 3: another agent trades the store now
    if lost_at_end is not None:
        raise lost_at_end


def _run_held(
    app: AppContext,
    mode: str | None,
    fence: Any,
    every: Any,
    count: int | None,
    totals: Any,
    quiet: bool,
    as_json: bool,
    lock_path: Any,
) -> tuple[Any, dict[str, Any]]:
    """Run the cycles under the lock and the lease: the runtime and the summary."""
    from ..runtime import run_cycles

    runtime = _runtime(app, mode, fence=fence)
    start_equity = _equity(runtime)
    while True:
        with runtime:

            def progress(state: Any, runtime: Any = runtime) -> None:
                lock_path.touch()  # the heartbeat `tradekernel health` reads
                if quiet or as_json:
                    return
                s = state.summary()
                click.echo(
                    f"cycle {runtime.cycles:>4}  {s['as_of'] or '-':25}  "
                    f"candidates={s['candidates']} intents={s['intents']} "
                    f"blocked={s['blocked']} pending={s['pending']} "
                    f"submitted={s['submitted']} fills={s['fills']} equity={s['equity']}"
                    + (f"  hold={inert(s['hold_reason'])}" if s["hold_reason"] else "")
                )

            left = None if count is None else count - totals.cycles
            run_cycles(
                runtime, every=every, cycles=left, on_cycle=progress, keep=False, totals=totals
            )
        if runtime.release_changed is None or (left is not None and totals.cycles >= count):
            break
        # an activation seen at a cycle boundary: the next cycles run the new release
        if not quiet and not as_json:
            click.echo(f"release {runtime.release_changed} activated: loading it")
        runtime = _runtime(app, mode, runtime.release, fence=fence)
    return runtime, _summary(app, runtime, totals, start_equity)


def _runtime(
    app: AppContext, mode: str | None, release: str | None = None, *, fence: Any = None
) -> Any:
    """The runtime for the active release: the kernel is rebuilt from a release's
    settings (``release_settings`` hook) whenever the active one is not ``release``."""
    from ..errors import RefusedError
    from ..runtime import Runtime
    from ..runtime.runtime import ReleaseChanged

    for _ in range(3):  # an activation racing this start: load the newest once more
        try:
            return Runtime(
                app.kernel(), mode=mode, follow_release=True, release=release, fence=fence
            )
        except ReleaseChanged as changed:
            release = changed.release
        settings = app.kernel().registry.pm.hook.release_settings(
            settings=app.settings(), release=release
        )
        if settings is None:
            raise RefusedError(
                f"release {release} is active but no installed plugin loads releases; "
                "install tradekernel-deploy; nothing was run"
            )
        app.adopt(settings).check()
    raise RefusedError("the active release kept changing while the agent started; run again")


def _equity(runtime: Any) -> Decimal | None:
    if getattr(runtime, "router", None) is not None:  # every broker's, as cycles report it
        return runtime.account_view()[0].equity
    return runtime.kernel.component("broker").account().equity


def _money(value: Decimal | int) -> str:
    """The exact amount for ``--json`` (the printed summary rounds it to the cent)."""
    return format(Decimal(value), "f")


def _summary(app: AppContext, runtime: Any, totals: Any, start_equity: Decimal | None) -> dict:
    settings = app.settings()
    last = totals.last_account
    account = last.account if last else None
    unrealized = totals.unrealized()
    sinks = settings.components.metrics_sinks
    return {
        "run_id": runtime.run_id,
        "mode": runtime.mode,
        "mode_source": runtime.resolved.source,
        # the last state of an exhausted feed only found that there was no more data
        "cycles": totals.cycles - (1 if runtime.exhausted or runtime.feed_failure else 0),
        "stopped": "lease lost"
        if runtime.lease_lost is not None
        else "signal"
        if runtime.stop_requested
        else (
            "market data failed"
            if runtime.feed_failure is not None
            else ("data exhausted" if runtime.exhausted else "done")
        ),
        "intents": totals.intents,
        "guard_denials": dict(totals.denials),
        "blocked": totals.blocked,
        "pending_approval": totals.pending,
        "auto_approved": totals.approved,
        "orders_submitted": totals.submitted,
        "orders_failed": totals.failed,
        "fills": totals.fills,
        "cash": _money(account.cash) if account else None,
        "equity": _money(account.equity) if account else None,
        "realized_pnl": _money(account.realized_pnl) if account else None,
        "unrealized_pnl": _money(unrealized),
        "pnl": _money(account.equity - start_equity)
        if account and start_equity is not None
        else None,
        "state_db": str(runtime.store.path),  # the server store: its masked address
        "events": str(settings.state_dir / "events") if "jsonl" in sinks else ", ".join(sinks),
    }


def _print_summary(s: dict) -> None:
    click.echo("")
    click.echo(
        f"run {s['run_id']}  mode={s['mode']} (from {s['mode_source']})  stopped: {s['stopped']}"
    )
    click.echo(f"  cycles            {s['cycles']}")
    click.echo(f"  intents           {s['intents']}")
    denials = ", ".join(f"{k}={v}" for k, v in sorted(s["guard_denials"].items())) or "none"
    click.echo(f"  guard denials     {denials}")
    click.echo(f"  pending approval  {s['pending_approval']}   auto-approved {s['auto_approved']}")
    click.echo(
        f"  orders            {s['orders_submitted']} submitted, {s['orders_failed']} failed"
    )
    click.echo(f"  fills             {s['fills']}")
    if s["equity"] is not None:
        click.echo(
            f"  equity            {format_money(s['equity'])}  (cash {format_money(s['cash'])}, "
            f"P&L {format_money(s['pnl'])}: realized {format_money(s['realized_pnl'])}, "
            f"unrealized {format_money(s['unrealized_pnl'])})"
        )
    click.echo(f"  state             {s['state_db']}")
    click.echo(f"  events            {s['events']}")


@click.command("runtime-plan")
@click.option(
    "--runtime",
    "runtime_name",
    help="Show the graph as this runtime compiles it (langgraph: its own Mermaid drawing).",
)
@json_option
@pass_app
def runtime_plan(app: AppContext, runtime_name: str | None, as_json: bool) -> None:
    """Show the cycle graph: nodes, roles, retry policy, state keys and routing."""
    from ..runtime.plan import GRAPH, kernel_graph

    try:
        settings = app.settings()
    except ConfigError:
        settings = None
    policy = settings.runtime if settings is not None else None
    graph = GRAPH
    if runtime_name is not None and not runtime_name.strip():
        raise ConfigError("option --runtime: an empty runtime name")
    if settings is not None and (runtime_name or settings.components.nodes):
        kernel = app.kernel()
        graph = kernel_graph(kernel)
        if runtime_name:
            # a runtime without a drawing of its own (native) walks the spec as printed
            draw = getattr(kernel.component("runtime", runtime_name), "draw", None)
            if callable(draw):
                click.echo(draw(graph, policy))
                return
    elif runtime_name:
        raise ConfigError("option --runtime: needs a configuration that loads")
    rows = graph.rows(policy)
    if as_json:
        edges = [{"from": e.source, "to": e.target, "when": e.when} for e in graph.edges()]
        echo_json({"nodes": rows, "edges": edges, "reducers": dict(graph.reducers)})
        return
    for row in rows:
        skip = f"  (skipped in {', '.join(row['skipped_in'])})" if row["skipped_in"] else ""
        retry = f"attempts={row['attempts']}" + (
            f" backoff={row['backoff']}" if row["backoff"] else ""
        )
        click.echo(
            f"{row['node']:<10} {row['role']:<10} {row['does']}  [{retry}] -> {row['next']}{skip}"
        )
    for edge in graph.edges()[len(rows) :]:
        click.echo(f"any node   -> {edge.target}: {edge.when}")
