"""docs/events.md's metric table is the sink's: every metric family with its type;
docs/operations.md ("Budgets") lists the budget metrics."""

from __future__ import annotations

import re
from pathlib import Path

from tradekernel_prometheus.metrics import EventMetrics

DOCS = Path(__file__).resolve().parents[3] / "docs"
_ROW = re.compile(r"^\| `(tradekernel_[a-z_]+)` \| (counter|gauge|histogram) \|", re.M)


def _families() -> dict[str, str]:
    """metric name (a counter with ``_total``) -> type."""
    return {
        f"{f.name}_total" if f.type == "counter" else f.name: f.type
        for f in EventMetrics().registry.collect()
    }


def _documented(doc: str) -> dict[str, str]:
    return dict(_ROW.findall((DOCS / doc).read_text("utf-8")))


def test_every_metric_is_documented_with_its_type():
    assert _documented("events.md") == _families()


def test_operations_lists_every_budget_metric():
    budget = {n: t for n, t in _families().items() if n.startswith("tradekernel_budget_")}
    assert len(budget) == 9
    assert _documented("operations.md") == budget
