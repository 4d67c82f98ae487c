"""docs/brokers.md's status table is the plugin's: every Alpaca status, its finality."""

from __future__ import annotations

import re
from pathlib import Path

from tradekernel_alpaca.statuses import STATUSES

DOC = Path(__file__).resolve().parents[3] / "docs" / "brokers.md"


def test_the_status_table_lists_every_status_with_its_finality() -> None:
    rows = re.findall(r"^\| `([a-z_]+)` \| (yes|no) \|", DOC.read_text("utf-8"), re.M)
    assert dict(rows) == {
        status: "yes" if rule.final else "no" for status, rule in STATUSES.items()
    }
