"""The kernel's default scanner (``watchlist``) runs the scanner contract of
tradekernel.testing, with its defaults and with a candidate limit."""

from __future__ import annotations

from tradekernel.testing import ScannerContract, scan_results


class TestWatchlistScanner(ScannerContract):
    component_name = "watchlist"


class TestWatchlistScannerLimited(ScannerContract):
    component_name = "watchlist"
    config = "max_candidates = 1"

    def test_keeps_the_limit(self, component):
        assert component.scan(scan_results(), ["BBB", "AAA"]) == ["BBB"]
