"""Run by ``bench/backtest.py`` in a subprocess whose ``sys.path`` holds a temporary
backtrader install: the same SMA crossover as ``sma-cross`` (buy a fixed quantity when
the fast SMA crosses above the slow one and nothing is held, sell the whole position when
it crosses below; market orders fill at the next bar's open; commission a fraction of
the notional). Prints one JSON line: bars, trades, final equity, CPU seconds.

``python bench/_backtrader_child.py CSV FAST SLOW CASH COMMISSION QUANTITY``
"""

from __future__ import annotations

import json
import sys
import time
from datetime import datetime

import backtrader as bt


class SmaCross(bt.Strategy):
    params = (("fast", 10), ("slow", 20), ("quantity", 10))

    def __init__(self) -> None:
        self.fast = bt.ind.SMA(self.data.close, period=self.p.fast)
        self.slow = bt.ind.SMA(self.data.close, period=self.p.slow)
        self.trades = 0

    def notify_trade(self, trade) -> None:
        if trade.isclosed:
            self.trades += 1

    def next(self) -> None:
        if len(self) <= self.p.slow:  # sma-cross needs slow + 1 bars: this and the last
            return
        prev = self.fast[-1] - self.slow[-1]
        now = self.fast[0] - self.slow[0]
        held = self.position.size
        if prev <= 0 < now and not held:
            self.buy(size=self.p.quantity)
        elif prev >= 0 > now and held > 0:
            self.sell(size=held)


def main(argv: list[str]) -> None:
    path, fast, slow, cash, commission, quantity = argv
    cerebro = bt.Cerebro(stdstats=False)
    data = bt.feeds.GenericCSVData(
        dataname=path,
        dtformat="%Y-%m-%d",
        datetime=0,
        open=1,
        high=2,
        low=3,
        close=4,
        volume=5,
        openinterest=-1,
        fromdate=datetime(1800, 1, 1),
        todate=None,
    )
    cerebro.adddata(data)
    cerebro.addstrategy(SmaCross, fast=int(fast), slow=int(slow), quantity=int(quantity))
    cerebro.broker.setcash(float(cash))
    cerebro.broker.setcommission(commission=float(commission))
    start = time.process_time()
    (strategy,) = cerebro.run()
    cpu = time.process_time() - start
    print(
        json.dumps(
            {
                "bars": len(strategy.data),
                "trades": strategy.trades,
                "final_equity": round(cerebro.broker.getvalue(), 6),
                "cpu_s": cpu,
            }
        )
    )


if __name__ == "__main__":
    main(sys.argv[1:])
