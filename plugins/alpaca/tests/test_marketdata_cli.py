"""End to end through the CLI: ``tradekernel run --cycles N`` in its own process with
``market_data = "alpaca"`` against the double's HTTP server on 127.0.0.1 (the real
factory, credentials from the environment, real sockets): with the paper broker, and
with ``broker = "alpaca"`` on the same server (one account, both APIs)."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta

from tradekernel_alpaca.double import AlpacaDouble, serve
from tradekernel_alpaca.double.data import market

TK = (sys.executable, "-m", "tradekernel")

CONFIG = """
[kernel]
state_dir = "{state}"
approval_mode = "auto"

[components]
broker = "paper"
market_data = "alpaca"
strategist = "hold"
notifiers = []
metrics_sinks = ["jsonl"]

[runtime]
watchlist = ["AAPL", "MSFT"]

[market_data.alpaca]
base_url = "{url}"
data_url = "{url}"
timeframe = "1Min"
"""


def test_run_reads_quotes_and_bars_from_the_local_server(tmp_path):
    double = AlpacaDouble()
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    for symbol, price in (("AAPL", 190.0), ("MSFT", 410.0)):
        market(double).seed(symbol, now - timedelta(minutes=90), 100, price=price)
    market(double).stale_quote("MSFT", timedelta(minutes=30))
    with serve(double) as server:
        config = tmp_path / "plugins.toml"
        config.write_text(CONFIG.format(state=tmp_path / "state", url=server.url), "utf-8")
        env = {"APCA_API_KEY_ID": double.key_id, "APCA_API_SECRET_KEY": double.secret_key}
        ran = subprocess.run(
            [*TK, "--config", str(config), "run", "--cycles", "3", "--json"],
            capture_output=True,
            text=True,
            timeout=120,
            env={"PATH": "/usr/bin:/bin", **env},
        )
    assert ran.returncode == 0, ran.stderr
    assert double.secret_key not in ran.stdout + ran.stderr
    (log,) = (tmp_path / "state" / "events").glob("*.jsonl")
    events = [json.loads(line) for line in log.read_text().splitlines()]
    assert double.secret_key not in log.read_text()
    skills = [e for e in events if e["stage"] == "hydrate" and e["kind"] == "skill"]
    assert skills and all(e["fields"]["ok"] for e in skills)
    stale = [e["fields"] for e in events if e["kind"] == "data_quality"]
    assert [(f["symbol"], f["code"]) for f in stale] == [("MSFT", "stale_quote")] * 3
    reports = [e["fields"] for e in events if e["stage"] == "report" and e["kind"] == "cycle"]
    assert len(reports) == 3
    paths = [p for p, _query in market(double).requests]
    assert paths.count("/v2/stocks/snapshots") == 3  # one a cycle for both symbols
    assert paths.count("/v2/stocks/bars") == 2 + 2  # each window filled once, then one a cycle


BOTH = """
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
watchlist = ["AAPL"]

[strategist.sma-cross]
fast = 3
slow = 8

[guard.max_order_notional]
limit = 50000

[broker.alpaca]
base_url = "{url}"

[market_data.alpaca]
base_url = "{url}"
data_url = "{url}"
"""


def test_alpaca_broker_and_market_data_on_one_server(tmp_path):
    double = AlpacaDouble(prices={"AAPL": "110"}, cash=1_000_000)
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    data = market(double)
    for i in range(60):  # a slow decline, then the newest minute jumps: fast crosses slow
        price = 100.0 - i * 0.1
        data.add_bar(
            "AAPL", now - timedelta(minutes=60 - i), price, price + 0.05, price - 0.05, price
        )
    data.add_bar("AAPL", now, 100.0, 110.5, 100.0, 110.0)
    with serve(double) as server:
        config = tmp_path / "plugins.toml"
        config.write_text(BOTH.format(state=tmp_path / "state", url=server.url), "utf-8")
        env = {
            "PATH": "/usr/bin:/bin",
            "APCA_API_KEY_ID": double.key_id,
            "APCA_API_SECRET_KEY": double.secret_key,
        }

        def tk(*args: str) -> subprocess.CompletedProcess:
            return subprocess.run(
                [*TK, "--config", str(config), *args],
                capture_output=True,
                text=True,
                timeout=120,
                env=env,
            )

        first = tk("run", "--once", "--json")
        (coid,) = double.trading.by_client_id  # the decision became one order
        double.trading.fill(coid)  # the venue executes it between two runs
        runs = [first, tk("run", "--cycles", "2", "--json"), tk("journal", "verify")]
    assert [r.returncode for r in runs] == [0, 0, 0], [r.stderr for r in runs]
    posts = [p for m, p in double.requests if (m, p) == ("POST", "/v2/orders")]
    assert len(posts) == 1 and len(double.trading.by_client_id) == 1  # sent once
    (log,) = (tmp_path / "state" / "events").glob("*.jsonl")
    events = [json.loads(line) for line in log.read_text().splitlines()]
    fills = [e["fields"] for e in events if (e["stage"], e["kind"]) == ("monitor", "fill")]
    assert [(f["symbol"], f["client_order_id"]) for f in fills] == [("AAPL", coid)]  # once
    assert not [e for e in events if e["kind"] == "data_quality"]
    text = log.read_text() + "".join(r.stdout + r.stderr for r in runs)
    assert double.key_id not in text and double.secret_key not in text
