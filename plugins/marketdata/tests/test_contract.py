"""Both feeds run the market data contract of tradekernel.testing (replay on its bundled
sample, and on a CSV with an impossible row, which it serves for the kernel's screen)."""

from __future__ import annotations

from tradekernel.testing import MarketDataContract


class TestSyntheticContract(MarketDataContract):
    component_name = "synthetic"
    config = 'symbols = ["AAA", "BBB"]\nseed = 3\nbars = 50'


class TestReplayContract(MarketDataContract):
    component_name = "replay"
    steps = 5


class TestReplayImpossibleRowContract(MarketDataContract):
    component_name = "replay"
    steps = 4
    clean = False

    def make_component(self, factory):
        csv = factory.directory / "data" / "AAA.csv"
        csv.parent.mkdir(parents=True, exist_ok=True)
        csv.write_text(
            "Date,Open,High,Low,Close,Adj Close,Volume\n"
            "2024-01-02,10,11,9,10.5,10.5,1000\n"
            "2024-01-03,10.5,9,12,10,10,1000\n"  # high below low: never a bar
            "2024-01-04,10,10.8,9.7,10.2,10.2,1000\n"
            "2024-01-05,10.2,10.9,10.1,10.6,10.6,1000\n",
            encoding="utf-8",
        )
        self.config = f'paths = ["{csv}"]'
        return super().make_component(factory)
