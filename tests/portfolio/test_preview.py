"""``intents preview`` shows the intent's strategy against its budget."""

from __future__ import annotations

import json
from decimal import Decimal as D

from tradekernel.models import Fill, Intent
from tradekernel.portfolio.state import PREFIX
from tradekernel.store import IntentState, Store
from tradekernel.testing import invoke

CONFIG = """
[kernel]
state_dir = "{state_dir}"
[portfolio.budgets.fast]
amount = 1000
[portfolio.budgets.slow]
fraction = 0.01
"""


def _pending(store, strategy: str, qty: str, n: int = 0) -> Intent:
    intent = Intent.create(
        symbol="AAA", side="buy", quantity=D(qty), strategist=strategy, rationale=str(n)
    )
    store.add_intent(intent, cycle_id="c", broker="paper", ref_price=D(100))
    store.transition(intent.id, IntentState.PENDING_APPROVAL, actor="guards")
    return intent


def test_preview_shows_budget_use_and_the_steps_answer(kernel_factory):
    path = kernel_factory.write_config(CONFIG)
    with Store.open(kernel_factory.directory / "state") as store:
        held = _pending(store, "fast", "6", 1)
        store.record_fill(Fill("f1", held.client_order_id, "AAA", "buy", D(6), D(100)))
        fits, too_big = _pending(store, "fast", "4", 2), _pending(store, "fast", "5", 3)
        slow = _pending(store, "slow", "1", 4)
        other = _pending(store, "other", "1", 5)
    base = ["--config", str(path), "intents", "preview"]
    out = json.loads(invoke([*base, fits.id, "--json"]).stdout)["budget"]
    assert out == {
        "strategy": "fast", "state": "active", "capital": "1000.00", "cap": "1000.00",
        "gross_exposure": "600.00", "pnl": "0.00", "allow": True, "code": None, "detail": "",
    }  # fmt: skip
    out = json.loads(invoke([*base, too_big.id, "--json"]).stdout)["budget"]
    assert (out["allow"], out["code"]) == (False, "strategy_budget_exceeded")
    text = invoke([*base, too_big.id]).stdout
    assert "  budget:    fast [active] gross 600.00 of cap 1000.00" in text
    assert "strategy_budget_exceeded" in text
    # a fraction of equity: the paper account's equity (100000) gives 1000
    out = json.loads(invoke([*base, slow.id, "--json"]).stdout)["budget"]
    assert (out["capital"], out["allow"]) == ("1000.00", True)
    assert json.loads(invoke([*base, other.id, "--json"]).stdout)["budget"] is None
    with Store.open(kernel_factory.directory / "state") as store:
        store.set_control(PREFIX + "other", {"state": "halted"}, actor="portfolio")
    out = json.loads(invoke([*base, other.id, "--json"]).stdout)["budget"]
    assert (out["state"], out["code"]) == ("halted", "strategy_drawdown_stop")
