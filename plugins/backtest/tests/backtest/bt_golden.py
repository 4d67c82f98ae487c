"""The golden backtest: a fixed random-walk file and an SMA 10/20 backtest over it, and a
summary of everything it leaves behind (numbers, every intent's final state, the orders
and fills in the store, the journal row by row). ``test_golden.py`` compares the summary
with ``golden/sma_10_20.json``, recorded from the code before the store was made faster:
a speed-up must not change one number, one state or one journal row.

Re-record only for a deliberate change of results:
``python plugins/backtest/tests/backtest/bt_golden.py --write``.
"""

from __future__ import annotations

import hashlib
import json
import random
import sqlite3
import sys
import textwrap
import warnings
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

GOLDEN = Path(__file__).parent / "golden" / "sma_10_20.json"
BARS = 600

CONFIG = """
[kernel]
state_dir = "{state}"

[components]
guards = ["max_order_notional"]

[guard.max_order_notional]
limit = 1000000

[strategist.sma-cross]
fast = 10
slow = 20
"""

METRICS = (
    "bars",
    "trades",
    "open_trades",
    "final_equity",
    "total_return",
    "commissions",
    "win_rate",
    "exposure",
    "max_drawdown",
    "intents",
    "intents_blocked",
    "open_positions",
    "unfilled_orders_at_end",
)


def write_data(path: Path) -> Path:
    """``BARS`` daily bars of a seeded random walk (two decimals, always positive)."""
    rnd = random.Random(13)
    price = 50.0
    day = date(2001, 1, 1)
    lines = ["Date,Open,High,Low,Close,Volume"]
    for _ in range(BARS):
        open_ = price
        price = max(1.0, price * (1 + rnd.gauss(0.0, 0.02)))
        hi, lo = max(open_, price) * 1.004, min(open_, price) * 0.996
        lines.append(f"{day.isoformat()},{open_:.2f},{hi:.2f},{lo:.2f},{price:.2f},500000")
        day += timedelta(days=1)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return path


def _digest(rows: list[Any]) -> str:
    h = hashlib.sha256()
    for row in rows:
        h.update(json.dumps(row, sort_keys=True, default=str).encode())
        h.update(b"\n")
    return h.hexdigest()


VOLATILE = "<volatile>"


def _stable_journal_row(row: tuple) -> list[Any]:
    """A journal row without what differs between two runs of the same backtest: the
    cycle id (random) and the intent's ``created_at`` (wall clock) in a proposal's
    payload, and so the payload digest and the hashes that cover them."""
    seq, entity, from_state, to_state, actor, reason, ts, payload = row[:8]
    data = json.loads(payload)
    if "cycle_id" in data:
        data["cycle_id"] = VOLATILE
    if isinstance(data.get("intent"), dict) and "created_at" in data["intent"]:
        data["intent"]["created_at"] = VOLATILE
    volatile = data != json.loads(payload)
    digest = VOLATILE if volatile else row[8]
    return [seq, entity, from_state, to_state, actor, reason, ts, data, digest]


def summarise(metrics: dict[str, Any], state_dir: Path) -> dict[str, Any]:
    """What must not change: the numbers, the intents, orders, fills and the journal
    (every row's content, with the two fields that differ between any two runs
    normalised; the chain itself is checked by ``journal verify`` in the test)."""
    conn = sqlite3.connect(str(state_dir / "state.db"))
    try:
        intents = conn.execute(
            "SELECT id, state, version, symbol, side, client_order_id, broker_order_id, "
            "ref_price, order_status, filled_quantity, avg_fill_price, reason, created_at, "
            "updated_at FROM intents ORDER BY created_at, id"
        ).fetchall()
        orders = conn.execute(
            "SELECT client_order_id, intent_id, broker_order_id, symbol, side, quantity, "
            "status, filled_quantity, avg_fill_price, order_json, updated_at FROM orders "
            "ORDER BY client_order_id"
        ).fetchall()
        fills = conn.execute(
            "SELECT fill_id, client_order_id, intent_id, symbol, side, quantity, price, "
            "commission, ts, fill_json FROM fills ORDER BY fill_id"
        ).fetchall()
        journal = conn.execute(
            "SELECT seq, entity, from_state, to_state, actor, reason, ts, payload, "
            "payload_digest, prev_hash, hash FROM journal ORDER BY seq"
        ).fetchall()
    finally:
        conn.close()
    states: dict[str, int] = {}
    for row in intents:
        states[row[1]] = states.get(row[1], 0) + 1
    return {
        "metrics": {k: metrics[k] for k in METRICS},
        "intent_states": dict(sorted(states.items())),
        "intents": [list(r[:3]) for r in intents],
        "intents_digest": _digest(intents),
        "orders": len(orders),
        "orders_digest": _digest(orders),
        "fills": len(fills),
        "fills_digest": _digest(fills),
        "journal_rows": len(journal),
        "journal_digest": _digest([_stable_journal_row(r) for r in journal]),
    }


def run_golden(tmp: Path) -> dict[str, Any]:
    """Run the golden backtest in ``tmp`` and summarise it."""
    from tradekernel.api import Settings
    from tradekernel_backtest import BacktestSpec, run_backtest

    data = write_data(tmp / "data" / "GLD.csv")
    config = tmp / "plugins.toml"
    config.write_text(textwrap.dedent(CONFIG).format(state=tmp / "operator"))
    base = Settings.load(config, environ={})
    state_dir = tmp / "bt-state"
    spec = BacktestSpec(
        strategist="sma-cross",
        data=[str(data)],
        cash=Decimal(100000),
        commission=Decimal("0.001"),
        state_dir=state_dir,
        record=False,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        metrics = run_backtest(base, spec).metrics
    return summarise(metrics, state_dir)


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory() as tmp_name:
        result = run_golden(Path(tmp_name))
    text = json.dumps(result, indent=1, sort_keys=True) + "\n"
    if "--write" in sys.argv:
        GOLDEN.parent.mkdir(parents=True, exist_ok=True)
        GOLDEN.write_text(text)
    print(text)
