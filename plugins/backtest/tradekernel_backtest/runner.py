"""Run one backtest: the canonical graph (:class:`tradekernel.runtime.Runtime`) over the
``replay`` feed with the ``paper`` broker, on a clock that follows market time.

There is no backtest-only decision path: the runtime runs every node (skills, scanner,
strategist, guards, auto approval, executor, monitor, report) exactly as ``run`` does.
The backtest only derives the Settings, observes events and aggregates metrics as the
cycles pass (no CycleState is kept).
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from attrs import define, field
from tradekernel.api import (
    RUN_LOCK,
    ConfigError,
    Kernel,
    PluginRegistry,
    RefusedError,
    Settings,
    Store,
    config_digest,
    digest,
    make_dir,
)

from .harness import harness
from .metrics import EquityStats, TradeBook
from .observer import BacktestObserver
from .record import COMPLETE, check_record_store, record_result
from .report import Downsampler, OutputWriter, write_html, write_metrics
from .spec import BacktestSpec, bar_estimate, derive_settings
from .strategies import StrategyBooks, cycle_prices, starting_capital

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
PROMPT_TOKENS_ESTIMATE = 1500
"""Prompt tokens assumed per LLM call for the up-front cost estimate."""

Progress = Callable[[int, int | None], None]


@define
class BacktestResult:
    metrics: dict[str, Any]
    out_dir: Path | None = None
    open_trades: list[dict[str, Any]] = field(factory=list)


BACKTEST_MARKER = ".tradekernel-backtest"
"""Written into every state dir a backtest creates: the only proof that a later backtest
may remove it (a live state dir also holds ``state.db`` and ``paper.db``)."""


def _fresh_state_dir(spec: BacktestSpec, live_state_dir: Path) -> tuple[Path, bool]:
    """The backtest's own state dir and whether it is temporary (removed at the end).

    An existing dir is removed only when a backtest marked it (:data:`BACKTEST_MARKER`);
    the operator's ``[kernel] state_dir``, a symbolic link, a dir holding an agent's
    ``run.lock`` and any other non-empty dir are refused (:class:`RefusedError`, exit 3)
    and left alone."""
    if spec.state_dir is not None:
        path = Path(spec.state_dir)
    elif spec.out_dir is not None:
        path = Path(spec.out_dir) / "state"
    else:
        return Path(tempfile.mkdtemp(prefix="tk-backtest-")), True
    if path.resolve() == Path(live_state_dir).resolve():
        raise RefusedError(
            f"{path}: is the agent's state directory ([kernel] state_dir); a backtest never "
            "touches it: choose another --out or --state-dir; nothing was changed"
        )
    if path.is_symlink():
        raise RefusedError(
            f"{path}: is a symbolic link; a backtest replaces only a real directory it "
            "created: choose another --out or --state-dir, or remove the link yourself; "
            "nothing was changed"
        )
    if path.is_dir() and any(path.iterdir()):
        marked = (path / BACKTEST_MARKER).is_file()
        if not marked or (path / RUN_LOCK).exists():
            raise RefusedError(
                f"{path}: exists and is not a state directory a backtest created (no "
                f"{BACKTEST_MARKER} file); a backtest only replaces its own: choose another "
                "--out or --state-dir, or remove it yourself; nothing was changed"
            )
        # a backtest always starts from an empty account; the marker goes last, so a
        # backtest killed while emptying it leaves a directory the next one may empty
        for child in path.iterdir():
            if child.name == BACKTEST_MARKER:
                continue
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child)
            else:
                child.unlink()
    make_dir(path)
    # created in one step (never a temporary file beside it): a backtest killed here
    # leaves a marked directory, not one the next backtest must refuse
    with (path / BACKTEST_MARKER).open("w", encoding="utf-8") as marker:
        marker.write("a backtest's state: replaced by the next backtest\n")
    return path, False


def network_check(
    spec: BacktestSpec,
    config: Any,
    announce: Callable[[str], None],
    name: str | None = None,
) -> float | None:
    """Refuse a provider-backed (LLM) strategist without a replay cassette unless
    ``allow_network``; then announce the estimated cost. Returns the USD budget to stop at."""
    if config is None or not hasattr(config, "replay_dir"):
        return None
    if getattr(config, "replay_dir", None):
        return spec.budget_usd
    name = name or spec.strategist
    if not spec.allow_network:
        raise RefusedError(
            f"strategist {name} would call its LLM provider: set [strategist.{name}] replay_dir "
            "to a recorded cassette, or pass --allow-network (recording with record_dir calls "
            "the provider too); nothing was run"
        )
    budget = spec.budget_usd or getattr(config, "budget_daily_usd", None)
    if not budget:
        raise RefusedError(
            f"--allow-network needs a budget: pass --budget-usd or set [strategist.{name}] "
            "budget_daily_usd; nothing was run"
        )
    calls = bar_estimate(spec.data)
    max_tokens = int(getattr(config, "max_tokens", 0) or 0)
    pp = getattr(config, "price_prompt_per_mtok", None)
    pc = getattr(config, "price_completion_per_mtok", None)
    per_call = PROMPT_TOKENS_ESTIMATE + max_tokens
    if calls and (pp or pc):
        usd = calls * (PROMPT_TOKENS_ESTIMATE * (pp or 0) + max_tokens * (pc or 0)) / 1e6
        cost = f"about ${usd:,.2f}"
    else:
        cost = "unknown (set price_prompt_per_mtok / price_completion_per_mtok)"
    announce(
        f"network: up to {calls or '?'} LLM calls x ~{per_call:,} tokens, estimated cost "
        f"{cost}; the backtest stops at ${budget:,.2f}"
    )
    return float(budget)


def run_backtest(
    base: Settings,
    spec: BacktestSpec,
    *,
    progress: Progress | None = None,
    plugins: Sequence[tuple[Any, str]] = (),
    announce: Callable[[str], None] = lambda text: None,
) -> BacktestResult:
    """Run ``spec`` against the operator's ``base`` Settings; see docs/backtest.md."""
    from tradekernel.api import Runtime, stop_on_signals

    if not spec.data:
        raise ConfigError("option --data: at least one CSV file or directory is required")
    if spec.record:
        check_record_store(base)  # an unreachable store: fail before the run, not after
    state_dir, temporary = _fresh_state_dir(spec, base.state_dir)
    started = time.perf_counter()
    writer: OutputWriter | None = None
    kernel: Kernel | None = None
    try:
        settings = derive_settings(base, spec, state_dir)
        book = TradeBook()
        feed_ref: list[Any] = []

        def clock() -> datetime:
            now = feed_ref[0].now() if feed_ref else None
            return now or EPOCH

        observer = BacktestObserver(book, clock)
        registry = PluginRegistry(block=settings.plugins.block, allow=settings.plugins.load)
        registry.add_plugin(observer, "tradekernel.backtest")
        for plugin, name in plugins:
            registry.add_plugin(plugin, name)
        kernel = Kernel(settings, registry.load())
        kernel.check_sections()  # a misspelt [guard.x] must not leave the guard on defaults
        names = kernel.selected("strategist")
        digests: dict[str, str] = {}
        budgets: list[float] = []
        for name in names:
            component = settings.component_use("strategist", name)
            config_class = kernel.spec("strategist", component).config_class
            config = settings.component_config("strategist", name, config_class)
            limit = network_check(spec, config, announce, name)
            if limit is not None:
                budgets.append(limit)
            digests[name] = config_digest(settings, name, config_class)
        budget = min(budgets) if budgets else None
        label = "+".join(names)  # a netted intent's strategies are joined the same way
        feed = kernel.component("market_data")
        feed_ref.append(feed)
        if not spec.symbols:
            settings.runtime.watchlist = list(feed.symbols())
        for name in names:
            needed = getattr(kernel.component("strategist", name), "bars_needed", None)
            if isinstance(needed, int) and needed > settings.runtime.bars_lookback:
                settings.runtime.bars_lookback = needed  # each strategist sees its window
        if spec.out_dir is not None:
            writer = OutputWriter(Path(spec.out_dir))
            book.on_trade = writer.trade
        broker = kernel.component("broker")
        start_equity = Decimal(
            str(getattr(broker, "initial_cash", None) or broker.account().equity)
        )
        initial = float(start_equity)
        stats = EquityStats(initial)
        books: StrategyBooks | None = None
        chart = Downsampler()
        total = None if (spec.start or spec.end) else bar_estimate(spec.data)
        stopped = "data exhausted"
        intents = blocked = 0
        store = Store.open(
            state_dir,
            clock=clock,
            on_transition=kernel.dispatch_transition,
            redact=kernel.settings.redact,
            durable=False,  # the backtest's own state dir: no fsync per commit
        )
        with (
            store,
            Runtime(kernel, mode="paper", store=store, clock=clock, anchor_each_cycle=False) as rt,
        ):
            if len(names) > 1:
                books = StrategyBooks(store, starting_capital(settings, names, start_equity))
            with stop_on_signals(rt):
                rt.start()
                while True:
                    observer.bar = stats.bars + 1
                    state = rt.run_cycle()
                    intents += len(state.proposed)
                    blocked += len(state.blocked)
                    if state.as_of is None or rt.exhausted:
                        break
                    account = state.account
                    if account is not None:
                        exposed = any(p.quantity != 0 for p in state.positions.values())
                        equity = float(account.equity)
                        stats.add(state.as_of, equity, exposed)
                        chart.add(state.as_of, equity)
                        if writer is not None:
                            writer.equity(state.as_of, account.equity, account.cash, exposed)
                        if books is not None:
                            books.bar(state.as_of, stats.bars, cycle_prices(state))
                    if progress is not None:
                        progress(stats.bars, total)
                    if budget is not None and observer.llm_cost >= budget:
                        stopped = "budget reached"
                        break
                    if rt.stop_requested:
                        stopped = "stop requested"
                        break
            rt.raise_feed_failure()  # a broken data file fails the backtest; nothing recorded
            marks = {s: q.last for s in feed.symbols() if (q := feed.quote(s)) is not None}
            held = broker.positions()
            final_equity = broker.account().equity
            open_rows = book.open_rows(marks, stats.last_ts, stats.bars)
            positions = [
                {
                    "symbol": p.symbol,
                    "quantity": str(p.quantity),
                    "avg_price": str(p.avg_price),
                    "market_price": str(p.market_price),
                    "unrealized_pnl": str(p.unrealized_pnl),
                }
                for p in held
            ]
            if books is not None:
                # marked as the broker values the account, so the strategies add up to it
                valued = {**marks, **{p.symbol: p.market_price for p in held}}
                per_strategy, portfolio = books.summary(
                    valued,
                    spec.periods_per_year or stats.periods_per_year,
                    observer.llm_per_strategy(),
                )
                for name, numbers in per_strategy.items():
                    numbers["budget_denials"] = observer.budget_denials.get(name, {})
            working = len(broker.orders(open_only=True))
        if writer is not None:
            for row in open_rows:
                writer.trade(row)
        elapsed = time.perf_counter() - started
        metrics: dict[str, Any] = {
            "strategist": label,
            "config_digest": digests[names[0]] if len(names) == 1 else digest(digests),
            "params": dict(spec.params),
            "data": list(spec.data),
            "stopped": stopped,
            **stats.summary(spec.periods_per_year),
            **book.summary(),
            "intents": intents,
            "intents_blocked": blocked,
            "open_positions": positions,
            "unfilled_orders_at_end": working,
            **observer.summary(),
        }
        llm_cost = metrics["llm_cost_usd"]
        trades = metrics["trades"]
        metrics["cost_per_trade"] = (metrics["commissions"] + llm_cost) / trades if trades else None
        metrics["harness"] = harness(settings, kernel.registry, spec)
        metrics["elapsed_s"] = round(elapsed, 3)
        metrics["bars_per_second"] = round(stats.bars / elapsed, 1) if elapsed > 0 else None
        if books is not None:
            metrics["strategies"] = per_strategy
            metrics["portfolio"] = {
                **portfolio,
                "account_pnl": str(final_equity - start_equity),
                "strategy_config_digests": digests,
            }
        if writer is not None:
            writer.close()
            writer = None
            write_metrics(Path(spec.out_dir), metrics)  # type: ignore[arg-type]
            write_html(Path(spec.out_dir), metrics, chart.series())  # type: ignore[arg-type]
        if spec.record and metrics.get("stopped") == COMPLETE:
            # only a run over all of its data is promotion evidence: a run stopped at a
            # chosen moment (Ctrl-C, a budget) must not pass the gates
            metrics.update(record_result(base, metrics))
        return BacktestResult(metrics=metrics, out_dir=spec.out_dir, open_trades=open_rows)
    finally:
        if writer is not None:
            writer.close()
        if kernel is not None:
            kernel.close()
        if temporary:
            shutil.rmtree(state_dir, ignore_errors=True)
