"""Helpers of the end-to-end tests: a double that fills working orders over time, bars
that make ``sma-cross`` buy, the configuration and the ``tradekernel`` subprocess."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from tradekernel_alpaca.double import AlpacaDouble
from tradekernel_alpaca.double.core import LostResponse
from tradekernel_alpaca.double.data import market
from tradekernel_alpaca.double.trading import OPEN

TK = (sys.executable, "-m", "tradekernel")
SYMBOLS = ("AAPL", "MSFT", "SPY")
PRICE = 104.0
QUANTITY = 10
STEP = Decimal(3)
"""Shares the double executes of each working order per cycle."""
READ_ATTEMPTS = 2

CONFIG = """
[kernel]
state_dir = "{state}"
approval_mode = "auto"

[components]
broker = "alpaca"
market_data = "alpaca"
strategist = "sma-cross"
guards = ["max_order_notional"]
notifiers = []
metrics_sinks = ["jsonl"]

[runtime]
watchlist = {symbols}

[broker.alpaca]
base_url = "{url}"
data_url = "{url}"
max_read_attempts = {attempts}
backoff_base = 0.01
backoff_max = 0.02

[market_data.alpaca]
base_url = "{url}"
data_url = "{url}"
timeframe = "1Min"
backoff_base = 0.01
backoff_max = 0.02

[strategist.sma-cross]
fast = 3
slow = 8
quantity = {quantity}

[guard.max_order_notional]
limit = 50000
"""


class FillingDouble(AlpacaDouble):
    """An :class:`AlpacaDouble` whose market executes :data:`STEP` shares of every working
    order each time the account is read (once a cycle, by the report), so fills arrive
    in parts over several cycles. ``blind_after_lost``: after a submit's answer is lost,
    the next :data:`READ_ATTEMPTS` requests answer 503 (the executor's lookup fails too,
    so the intent stays ``executing`` for ``intents reconcile``); ``reject_after_lost``:
    the submit after that is refused."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(prices={s: str(PRICE) for s in SYMBOLS}, **kwargs)
        self.blind_after_lost = False
        self.reject_after_lost: str | None = None
        self.filling = True

    def handle(self, request: Any) -> Any:
        if self.filling and (request.method, request.path) == ("GET", "/v2/account"):
            self.step_fills()
        try:
            return super().handle(request)
        except LostResponse:
            if request.method == "POST" and self.blind_after_lost:
                self.blind_after_lost = False
                self.fail_next(503, count=READ_ATTEMPTS)
                if self.reject_after_lost:
                    self.reject_next(self.reject_after_lost)
            raise

    def step_fills(self) -> None:
        with self.lock:
            for order in list(self.trading.orders.values()):
                if order["status"] in OPEN:
                    left = Decimal(order["qty"]) - Decimal(order["filled_qty"])
                    self.trading.fill(order["client_order_id"], min(STEP, left))

    def orders_by_client_id(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for order in self.trading.orders.values():
            counts[order["client_order_id"]] = counts.get(order["client_order_id"], 0) + 1
        return counts


def seed_crossing_bars(double: AlpacaDouble, now: datetime | None = None) -> None:
    """40 minute bars per symbol drifting down, then one jump to :data:`PRICE`: the fast
    average crosses above the slow one at the newest bar (``sma-cross`` buys)."""
    now = (now or datetime.now(UTC)).replace(second=0, microsecond=0)
    data = market(double)
    for symbol in SYMBOLS:
        start = now - timedelta(minutes=41)
        for i in range(40):
            close = round(100.0 - 0.1 * i, 2)
            data.add_bar(
                symbol, start + timedelta(minutes=i), close + 0.05, close + 0.1, close - 0.1, close
            )
        data.add_bar(symbol, start + timedelta(minutes=40), 96.2, PRICE + 0.1, 96.0, PRICE)


def write_config(tmp_path: Path, url: str, state: Path | None = None) -> Path:
    path = tmp_path / "plugins.toml"
    path.write_text(
        CONFIG.format(
            state=state or tmp_path / "state",
            url=url,
            symbols=json.dumps(list(SYMBOLS)),
            attempts=READ_ATTEMPTS,
            quantity=QUANTITY,
        ),
        "utf-8",
    )
    return path


def env_for(double: AlpacaDouble) -> dict[str, str]:
    return {
        "PATH": "/usr/bin:/bin",
        "APCA_API_KEY_ID": double.key_id,
        "APCA_API_SECRET_KEY": double.secret_key,
    }


def tk(config: Path, double: AlpacaDouble, *args: str) -> subprocess.CompletedProcess:
    """``tradekernel --config <config> <args>`` in its own process."""
    return subprocess.run(
        [*TK, "--config", str(config), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env_for(double),
    )


def events(state: Path) -> list[dict[str, Any]]:
    out = []
    for path in sorted((state / "events").glob("*.jsonl")):
        out.extend(json.loads(line) for line in path.read_text().splitlines() if line)
    return out


def stored_fills(state: Path) -> list[tuple[str, str]]:
    """``(fill_id, client_order_id)`` of the fills the state store recorded."""
    with sqlite3.connect(f"file:{state / 'state.db'}?mode=ro", uri=True) as db:
        return db.execute("SELECT fill_id, client_order_id FROM fills").fetchall()


def secret_in_files(root: Path, secrets: tuple[str, ...]) -> list[str]:
    """Files under ``root`` holding any of ``secrets`` (bytes, any encoding of the text)."""
    found = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        data = path.read_bytes()
        if any(s.encode() in data for s in secrets):
            found.append(str(path))
    return found
