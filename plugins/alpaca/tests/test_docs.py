"""docs/brokers.md's status table is the plugin's: every Alpaca status, its finality at
Alpaca and whether the kernel status it maps to is terminal."""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path

from tradekernel_alpaca.statuses import STATUSES, map_status

DOC = Path(__file__).resolve().parents[3] / "docs" / "brokers.md"
_ROW = re.compile(r"^\| `([a-z_]+)` \| (yes|no) \| [^|]+ \| ([^|]+) \|$", re.M)


def _terminal(status: str) -> str:
    """``yes``/``no``, or ``when wholly filled`` when only a whole fill is terminal."""
    ends = [map_status(status, Decimal(3), Decimal(n))[0].terminal for n in (0, 1, 3)]
    if all(ends):
        return "yes"
    return "when wholly filled" if ends == [False, False, True] else "no"


def test_the_status_table_lists_every_status_with_its_finality() -> None:
    rows = _ROW.findall(DOC.read_text("utf-8"))
    assert {status: final for status, final, _ in rows} == {
        status: "yes" if rule.final else "no" for status, rule in STATUSES.items()
    }


def test_the_status_table_says_which_kernel_status_is_terminal() -> None:
    rows = _ROW.findall(DOC.read_text("utf-8"))
    assert {status: terminal.strip() for status, _, terminal in rows} == {
        status: _terminal(status) for status in STATUSES
    }
