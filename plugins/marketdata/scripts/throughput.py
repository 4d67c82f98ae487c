"""Throughput of the market data feeds and of the paper broker's per-bar calls.

``python plugins/marketdata/scripts/throughput.py`` prints one line per figure. ``run()``
returns the figures in the ``bench/*.py`` format (see the common brief), so this module
can be copied or linked into ``bench/``. No timing is asserted anywhere.
"""

from __future__ import annotations

import contextlib
import csv
import tempfile
import time
from pathlib import Path

FLOOR_BARS_PER_S = 50_000.0


def _figure(name: str, value: float, unit: str, peer: str, peer_value: float | None) -> dict:
    ratio = value / peer_value if peer_value else None
    return {
        "figure": name,
        "value": round(value, 1),
        "unit": unit,
        "peer": peer,
        "peer_value": peer_value,
        "ratio": None if ratio is None else round(ratio, 2),
    }


def _drive(feed, lookback: int = 50) -> tuple[int, float]:
    symbols = feed.symbols()
    bars = 0
    start = time.perf_counter()
    while feed.advance() is not None:
        for symbol in symbols:
            if feed.current_bar(symbol) is not None:
                feed.quote(symbol)
                feed.bars(symbol, lookback)
                bars += 1
    return bars, time.perf_counter() - start


def synthetic_rate(bars: int = 102_000) -> float:
    from tradekernel_marketdata import SyntheticConfig, SyntheticFeed

    feed = SyntheticFeed(SyntheticConfig(bars=bars // 3))
    n, seconds = _drive(feed)
    return n / seconds


def replay_rate(rows: int = 50_000) -> float:
    from tradekernel_marketdata import ReplayConfig, ReplayFeed, SyntheticConfig
    from tradekernel_marketdata.synthetic import generate

    with tempfile.TemporaryDirectory() as tmp:
        files = {s: (Path(tmp) / f"{s}.csv").open("w", newline="") for s in ("AAA", "BBB")}
        writers = {s: csv.writer(fh) for s, fh in files.items()}
        for w in writers.values():
            w.writerow(["Date", "Open", "High", "Low", "Close", "Adj Close", "Volume"])
        config = SyntheticConfig(symbols=["AAA", "BBB"], bars=rows, interval=60)
        for ts, bars in generate(config):
            for b in bars:
                writers[b.symbol].writerow(
                    [ts.isoformat(), b.open, b.high, b.low, b.close, b.close, b.volume]
                )
        for fh in files.values():
            fh.close()
        feed = ReplayFeed(ReplayConfig(paths=[tmp]))
        n, seconds = _drive(feed)
        feed.close()
    return n / seconds


def paper_cost(steps: int = 5_000) -> tuple[float, float]:
    """(microseconds per bar for account()+positions()+orders(open_only), bars/s of a
    3-symbol synthetic feed with those calls and an order every 10 bars)."""
    from tradekernel.api import BrokerRejected, OrderRequest
    from tradekernel_marketdata import SyntheticConfig, SyntheticFeed
    from tradekernel_paper import PaperBroker, PaperConfig

    feed = SyntheticFeed(SyntheticConfig(bars=steps))
    with tempfile.TemporaryDirectory() as tmp:
        broker = PaperBroker(PaperConfig(commission=0.0005), lambda: feed, Path(tmp) / "p.db")
        calls = 0.0
        start = time.perf_counter()
        i = 0
        while feed.advance() is not None:
            for symbol in feed.symbols():
                feed.quote(symbol)
                feed.bars(symbol, 50)
            t = time.perf_counter()
            broker.account()
            broker.positions()
            broker.orders(open_only=True)
            calls += time.perf_counter() - t
            i += 1
            if i % 10 == 0:
                side = "buy" if (i // 10) % 2 else "sell"
                request = OrderRequest(
                    client_order_id=f"o{i}", symbol="AAA", side=side, quantity=10
                )
                with contextlib.suppress(BrokerRejected):  # a sell with nothing held: fine here
                    broker.submit(request)
        seconds = time.perf_counter() - start
        broker.close()
    return calls / steps * 1e6, steps * 3 / seconds


def run() -> list[dict]:
    """The figures, in the bench format."""
    from loguru import logger

    logger.disable("tradekernel_paper")
    logger.disable("tradekernel_marketdata")
    per_bar_us, loop_rate = paper_cost()
    return [
        _figure(
            "synthetic feed: advance+quote+bars(50)",
            synthetic_rate(),
            "bars/s",
            "floor 50k bars/s",
            FLOOR_BARS_PER_S,
        ),
        _figure(
            "replay feed (CSV): advance+quote+bars(50)",
            replay_rate(),
            "bars/s",
            "floor 50k bars/s",
            FLOOR_BARS_PER_S,
        ),
        _figure(
            "paper broker: account+positions+orders per step",
            per_bar_us,
            "us/step",
            "none",
            None,
        ),
        _figure(
            "synthetic feed + paper broker loop (3 symbols)",
            loop_rate,
            "bars/s",
            "floor 50k bars/s",
            FLOOR_BARS_PER_S,
        ),
    ]


if __name__ == "__main__":
    for row in run():
        print(f"{row['figure']:<52} {row['value']:>12,.1f} {row['unit']:<8} ratio {row['ratio']}")
