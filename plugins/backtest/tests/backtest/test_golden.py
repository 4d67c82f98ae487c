"""A backtest's numbers, intents, orders, fills and journal are exactly those the code
gave before the store was made faster (``golden/sma_10_20.json``, see ``bt_golden.py``)."""

from __future__ import annotations

import json

from bt_golden import GOLDEN, run_golden
from tradekernel.api import Store


def test_backtest_matches_the_golden_record(tmp_path):
    expected = json.loads(GOLDEN.read_text())
    got = run_golden(tmp_path)
    assert got["metrics"] == expected["metrics"]
    assert got["intent_states"] == expected["intent_states"]
    assert got["intents"] == expected["intents"]
    assert got == expected
    with Store.open(tmp_path / "bt-state") as store:
        result = store.verify_journal()
    assert result.ok, result
    assert result.rows_checked == expected["journal_rows"]
