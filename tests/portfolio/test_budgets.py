"""The budget step: capital and exposure caps, a budget exhausted mid-run, the drawdown
stop (reducing, then halted, journaled, with an event), the allocator component."""

from __future__ import annotations

from decimal import Decimal as D
from itertools import pairwise

import pytest
from tradekernel.errors import ConfigError
from tradekernel.models import Fill, Intent
from tradekernel.portfolio.allocation import Allocation, configured_capital
from tradekernel.portfolio.budgets import BudgetContext, StrategyLimits, budget_use, check_budgets
from tradekernel.portfolio.ledger import StrategyLedger
from tradekernel.portfolio.state import StrategyStates
from tradekernel.runtime.control import Control
from tradekernel.store import Store
from tradekernel.testing import invoke

CONFIG = """
[components]
strategist = "fast"
[strategist.fast]
use = "sma-cross"
[strategist.slow]
use = "sma-cross"
[portfolio.budgets.fast]
amount = 10000
drawdown_stop = 0.05
[portfolio.budgets.slow]
fraction = 0.25
max_gross_exposure = 5000
drawdown_stop = 0.1
drawdown_halt = 0.2
"""


def intent(strategy: str, side: str, qty: str, symbol: str = "AAA", n: int = 0) -> Intent:
    return Intent.create(
        symbol=symbol, side=side, quantity=D(qty), strategist=strategy, rationale=str(n)
    )


def book(ledger: StrategyLedger, strategy: str, side: str, qty: str, price: str, n: int = 0):
    fill = Fill(f"f{strategy}{n}", "c", "AAA", side, D(qty), D(price))
    ledger.apply(fill, {strategy: D(1)})


def test_capital_caps_gross_exposure_and_counts_the_batch():
    ctx = BudgetContext(limits={"fast": StrategyLimits(D(10000))}, prices={"AAA": D(100)})
    batch = [intent("fast", "buy", "60", n=1), intent("fast", "buy", "40", n=2)]
    batch.append(intent("fast", "buy", "1", n=3))  # the first two use the whole budget
    passed, denied = check_budgets(batch, ctx)
    assert passed == batch[:2]
    assert [(d.intent_id, d.code) for d in denied] == [(batch[2].id, "strategy_budget_exceeded")]
    assert "cap 10000.00" in denied[0].detail


def test_max_gross_exposure_is_the_lower_cap_and_reductions_always_pass():
    ledger = StrategyLedger()
    book(ledger, "slow", "buy", "50", "100")
    limits = {"slow": StrategyLimits(D(25000), D(5000))}
    ctx = BudgetContext(limits=limits, ledger=ledger, prices={"AAA": D(100)})
    more, less = intent("slow", "buy", "1"), intent("slow", "sell", "20")
    passed, denied = check_budgets([more, less], ctx)
    assert passed == [less] and denied[0].code == "strategy_budget_exceeded"
    use = budget_use("slow", ctx)
    assert (use.capital, use.cap, use.gross_exposure) == (D(25000), D(5000), D(5000))


def test_a_budget_exhausted_mid_run_by_losses():
    """Capital plus P&L is what a strategy may hold: losses shrink it."""
    ledger = StrategyLedger()
    book(ledger, "fast", "buy", "90", "100")
    ctx = BudgetContext(
        limits={"fast": StrategyLimits(D(10000))}, ledger=ledger, prices={"AAA": D(100)}
    )
    assert check_budgets([intent("fast", "buy", "10")], ctx)[1] == []
    fallen = BudgetContext(limits=ctx.limits, ledger=ledger, prices={"AAA": D(90)})
    # 90 x 90 = 8100 held, equity 10000 - 900 = 9100: 12 more would pass it
    passed, denied = check_budgets([intent("fast", "buy", "12")], fallen)
    assert passed == [] and denied[0].code == "strategy_budget_exceeded"
    assert check_budgets([intent("fast", "buy", "11")], fallen)[1] == []


def test_unbudgeted_strategies_and_states():
    ledger = StrategyLedger()
    book(ledger, "slow", "buy", "10", "100")
    states = {"fast": "halted", "slow": "reducing"}
    ctx = BudgetContext(ledger=ledger, prices={"AAA": D(100)}, states=states)
    free = intent("other", "buy", "1000")
    cut, grow, cross = (
        intent("slow", "sell", "10"),
        intent("slow", "buy", "1"),
        intent("slow", "sell", "11"),
    )
    halted = intent("fast", "sell", "1")
    events = []
    ctx = BudgetContext(
        ledger=ledger, prices=ctx.prices, states=states, emit=lambda *a, **f: events.append((a, f))
    )
    passed, denied = check_budgets([free, cut, grow, cross, halted], ctx)
    assert passed == [free, cut]
    assert {d.code for d in denied} == {"strategy_drawdown_stop"}
    assert [f["intent_id"] for _, f in events] == [grow.id, cross.id, halted.id]
    assert events[0][0] == ("portfolio", "budget_denied")


def test_no_price_denies_a_budgeted_strategy():
    ctx = BudgetContext(limits={"fast": StrategyLimits(D(10))})
    _, denied = check_budgets([intent("fast", "buy", "1")], ctx)
    assert "no price" in denied[0].detail


def _kernel(kernel_factory, config=CONFIG):
    kernel, recorder = kernel_factory.build(config)
    store = Store.open(kernel.settings.state_dir)
    control = Control(store, kernel.settings.runtime, emit=kernel.emit)
    return kernel, recorder, store, control


def test_configured_budgets_through_a_kernel(kernel_factory):
    kernel, _recorder, _store, control = _kernel(kernel_factory)
    portfolio = kernel.settings.portfolio
    assert configured_capital(portfolio, D(100000)) == {"fast": D(10000), "slow": D(25000)}
    allocation = Allocation(kernel.component("allocator"), portfolio, control=control)
    ctx = allocation.context(StrategyLedger(), {"AAA": D(100)}, D(100000), emit=kernel.emit)
    assert ctx.limits["slow"] == StrategyLimits(D(25000), D(5000))
    passed, denied = check_budgets(
        [intent("fast", "buy", "100"), intent("slow", "buy", "51"), intent("llm", "buy", "5")], ctx
    )
    assert [i.strategist for i in passed] == ["fast", "llm"]
    assert [d.code for d in denied] == ["strategy_budget_exceeded"]
    assert control.get("allocation") is None  # fixed budgets follow config: nothing stored


def test_drawdown_stop_reduces_then_halts_only_that_strategy(kernel_factory):
    kernel, recorder, store, control = _kernel(kernel_factory)
    allocation = Allocation(
        kernel.component("allocator"), kernel.settings.portfolio, control=control, emit=kernel.emit
    )
    ledger = StrategyLedger()
    book(ledger, "fast", "buy", "50", "100", 1)
    book(ledger, "slow", "buy", "10", "100", 2)
    equity = D(100000)
    ctx = allocation.context(ledger, {"AAA": D(110)}, equity)  # fast peaks at +500
    assert ctx.states == {"fast": "active", "slow": "active"}
    ctx = allocation.context(ledger, {"AAA": D(99)}, equity)  # fast: -50, 550 from its peak
    assert ctx.states["fast"] == "reducing" and ctx.states["slow"] == "active"
    passed, denied = check_budgets(
        [intent("fast", "buy", "1"), intent("fast", "sell", "20"), intent("slow", "buy", "1")], ctx
    )
    assert [(i.strategist, str(i.side)) for i in passed] == [("fast", "sell"), ("slow", "buy")]
    assert denied[0].code == "strategy_drawdown_stop"
    book(ledger, "fast", "sell", "50", "99", 3)  # flat: nothing left to reduce
    ctx = allocation.context(ledger, {"AAA": D(99)}, equity)
    assert ctx.states["fast"] == "halted" and ctx.states["slow"] == "active"
    kinds = [(e.kind, e.fields["state"]) for e in recorder.events if e.kind == "strategy_state"]
    assert kinds == [("strategy_state", "reducing"), ("strategy_state", "halted")]
    halted = [e for e in recorder.events if e.kind == "strategy_state"][-1]
    assert halted.severity == "critical" and halted.fields["strategy"] == "fast"
    rows = [r for r in store.journal_rows() if r.entity == "control:strategy:fast"]
    assert [r.actor for r in rows][-1] == "portfolio" and '"halted"' in rows[-1].to_state
    # a restart reads the journaled state; an operator resumes it
    states = StrategyStates(Control(store, kernel.settings.runtime))
    assert states.state("fast") == "halted"
    states.set("fast", "active", actor="operator", reason="reviewed")
    assert states.state("fast") == "active"
    with pytest.raises(ConfigError):
        states.set("fast", "paused", actor="operator")


def test_drawdown_halt_threshold(kernel_factory):
    kernel, _recorder, _store, control = _kernel(kernel_factory)
    allocation = Allocation(
        kernel.component("allocator"), kernel.settings.portfolio, control=control
    )
    ledger = StrategyLedger()
    book(ledger, "slow", "buy", "40", "100", 1)  # capital 25000: stop 2500, halt 5000
    assert allocation.context(ledger, {"AAA": D(30)}, D(100000)).states["slow"] == "reducing"
    assert allocation.context(ledger, {"AAA": D(-30)}, D(100000)).states["slow"] == "halted"


@pytest.mark.parametrize(
    "body, message",
    [
        ("fraction = 0.2\namount = 5", "not both"),
        ("max_gross_exposure = 5", "needs fraction"),
        ("fraction = 1.5", "fraction"),
        ("amount = -1", "amount"),
        ("amount = 1\ndrawdown_stop = 0.3\ndrawdown_halt = 0.2", "drawdown_halt"),
    ],
)
def test_bad_budgets_are_refused_naming_the_key(kernel_factory, body, message):
    with pytest.raises(ConfigError, match=message):
        kernel_factory.build(f"[portfolio.budgets.fast]\n{body}\n")


def test_an_allocator_plugin_rebalances_and_the_budgets_are_journaled(kernel_factory):
    config = CONFIG.replace(
        'strategist = "fast"', 'strategist = "fast"\nallocator = "inverse-volatility"'
    )
    config += "[allocator.inverse-volatility]\nmin_samples = 3\nmax_step = 0.02\n"
    kernel, recorder, store, control = _kernel(kernel_factory, config)
    allocator = kernel.component("allocator")
    allocation = Allocation(allocator, kernel.settings.portfolio, control=control, emit=kernel.emit)
    ledger = StrategyLedger()
    book(ledger, "fast", "buy", "10", "100", 1)  # fast swings 10x less than slow
    book(ledger, "slow", "buy", "100", "100", 2)
    budgets = []
    for step in range(12):
        price = D(101) if step % 2 else D(99)
        ctx = allocation.context(ledger, {"AAA": price}, D(100000))
        budgets.append({n: lim.capital for n, lim in ctx.limits.items()})
    assert budgets[0] == budgets[2] == {"fast": D(10000), "slow": D(25000)}  # no history yet
    assert budgets[-1]["fast"] > D(10000) > D(0) < budgets[-1]["slow"] < D(25000)
    moves = [abs(b["fast"] - a["fast"]) for a, b in pairwise(budgets)]
    assert max(moves) <= D(700)  # 2 % of the 35000 configured
    rows = [r for r in store.journal_rows() if r.entity == "control:allocation"]
    assert rows and rows[-1].actor == "allocator"
    # a restart continues from the journaled budgets, not from config
    again = Allocation(
        allocator, kernel.settings.portfolio, control=Control(store, kernel.settings.runtime)
    )
    ctx = again.context(ledger, {"AAA": D(100)}, D(100000))
    assert ctx.limits["fast"].capital == budgets[-1]["fast"]
    kinds = {e.kind for e in recorder.events if e.stage == "portfolio"}
    assert "allocation" in kinds


def test_a_failing_allocator_keeps_the_budgets(kernel_factory):
    kernel, recorder, _store, control = _kernel(kernel_factory)

    class Broken:
        def allocate(self, request):
            raise RuntimeError("no data")

    allocation = Allocation(Broken(), kernel.settings.portfolio, control=control, emit=kernel.emit)
    ctx = allocation.context(StrategyLedger(), {}, D(100000))
    assert ctx.limits["fast"].capital == D(10000)
    (event,) = [e for e in recorder.events if e.kind == "allocator_failed"]
    assert event.fields["reason"] == "no data"


def test_an_operator_resume_restarts_the_drawdown_from_the_pnl_then(kernel_factory):
    kernel, _recorder, _store, control = _kernel(kernel_factory)
    allocation = Allocation(
        kernel.component("allocator"), kernel.settings.portfolio, control=control, emit=kernel.emit
    )
    ledger = StrategyLedger()
    book(ledger, "fast", "buy", "50", "100", 1)
    assert allocation.context(ledger, {"AAA": D(80)}, D(100000)).states["fast"] == "reducing"
    path = kernel_factory.write_config(CONFIG + '[kernel]\nstate_dir = "{state_dir}"\n')
    result = invoke(["--config", str(path), "control", "strategy-state", "fast", "active"])
    assert result.exit_code == 0 and "strategy fast: active" in result.stdout
    status = invoke(["--config", str(path), "control", "status", "--json"])
    assert '"fast": "active"' in status.stdout
    control.refresh()
    ctx = allocation.context(ledger, {"AAA": D(80)}, D(100000))  # -1000 is the new peak
    assert ctx.states["fast"] == "active"
    assert allocation.context(ledger, {"AAA": D(75)}, D(100000)).states["fast"] == "active"
    assert allocation.context(ledger, {"AAA": D(69)}, D(100000)).states["fast"] == "reducing"


def test_an_allocators_bad_answers_are_ignored(kernel_factory):
    kernel, _recorder, _store, control = _kernel(kernel_factory)

    class Odd:
        def allocate(self, request):
            return {"fast": "garbage", "slow": D("NaN"), "ghost": D(5), **{"x": True}}

    allocation = Allocation(Odd(), kernel.settings.portfolio, control=control)
    ctx = allocation.context(StrategyLedger(), {}, D(100000))
    assert {n: lim.capital for n, lim in ctx.limits.items()} == {"fast": 10000, "slow": 25000}


def test_a_reduction_earlier_in_the_batch_frees_budget():
    ledger = StrategyLedger()
    book(ledger, "fast", "buy", "100", "100")
    ctx = BudgetContext(
        limits={"fast": StrategyLimits(D(10000))}, ledger=ledger, prices={"AAA": D(100)}
    )
    cut, regrow = intent("fast", "sell", "30", n=1), intent("fast", "buy", "30", n=2)
    assert check_budgets([cut, regrow], ctx) == ([cut, regrow], [])
    assert check_budgets([regrow], ctx)[0] == []


def test_notional_intents_are_valued_at_the_price():
    ctx = BudgetContext(limits={"fast": StrategyLimits(D(1000))}, prices={"AAA": D(50)})
    small = Intent.create(symbol="AAA", side="buy", notional=D(600), strategist="fast")
    big = Intent.create(symbol="AAA", side="buy", notional=D(500), strategist="fast")
    free = Intent.create(symbol="ZZZ", side="sell", notional=D(5), strategist="other")
    passed, denied = check_budgets([small, big, free], ctx)
    assert passed == [small, free] and [d.intent for d in denied] == [big]


def test_config_check_warns_about_a_budget_of_no_strategist(kernel_factory):
    kernel, _ = kernel_factory.build(CONFIG)
    warnings = kernel.check()
    assert [w for w in warnings if "portfolio.budgets" in w] == [
        "plugins.toml: [portfolio.budgets.slow]: no selected strategist is named 'slow', "
        "so this budget limits nothing"
    ]
