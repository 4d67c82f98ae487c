"""A backtest keeps its state in its own SQLite state dir, whatever store the operator's
configuration selects: with ``[components] store = "postgres"`` it writes nothing to the
operator's database (not the LLM strategist's spend ledger or cache either)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from tradekernel.api import Settings, open_store, open_tables
from tradekernel_backtest import BacktestSpec, run_backtest

POSTGRES_OPERATOR = """
[kernel]
state_dir = "{state}"

[components]
store = "postgres"
metrics_sinks = []

[store]
url = "{url}"

[strategist.llm]
cache_ttl = "1h"
budget_daily_tokens = 1000
"""


def snapshot(settings: Settings) -> dict[str, int]:
    """Every table of the operator's store with its row count."""
    tables = open_tables(settings)
    try:
        with tables.read() as conn:
            names = sorted(tables.dialect.tables(conn))
            return {n: conn.execute(f"SELECT COUNT(*) FROM {n}").fetchone()[0] for n in names}
    finally:
        tables.close()


def test_a_backtest_never_writes_to_the_operators_postgres_store(
    tmp_path: Path, hand_csv: Path, postgres_url: str
) -> None:
    pytest.importorskip("tradekernel_llm")
    config = tmp_path / "operator.toml"
    config.write_text(
        textwrap.dedent(POSTGRES_OPERATOR).format(state=tmp_path / "operator", url=postgres_url)
    )
    base = Settings.load(config, environ={})
    open_store(base).close()  # the operator's store exists (an agent has run)
    before = snapshot(base)
    cassette = tmp_path / "cassette"
    cassette.mkdir()
    own = tmp_path / "bt-state"
    m = run_backtest(
        base,
        BacktestSpec(
            strategist="llm",
            data=[str(hand_csv)],
            record=False,
            state_dir=str(own),
            params={"replay_dir": str(cassette)},
        ),
    ).metrics
    assert m["llm_calls"] > 0
    assert snapshot(base) == before
    assert "llm_spend" not in before
    # the strategist's tables went to the backtest's own state.db
    own_settings = Settings.load(None, overrides={"kernel.state_dir": str(own)}, environ={})
    assert {"llm_spend", "llm_cache"} <= set(snapshot(own_settings))
