"""The Alpaca broker against its double served on 127.0.0.1 (no internet):

* ``run --once`` wall time with ``broker = "alpaca"`` against the same with ``paper``
  (the plugin's import and build cost; synthetic data, the ``hold`` strategist);
* submit-to-acknowledgement latency (``POST /v2/orders`` through the broker) against one
  ``GET /v2/account`` round trip on the same server;
* requests per cycle and lookups per order of a 60-cycle ``run`` trading ``sma-cross``
  (each order works for one cycle, then fills), against Alpaca's budget of 200 requests
  a minute.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path

RUNS = 11
WARMUP = 2
SUBMITS = 200
CYCLES = 60
BUDGET = 200

CONFIG = """
[kernel]
state_dir = "{state}"
approval_mode = "auto"

[components]
broker = "{broker}"
market_data = "synthetic"
strategist = "{strategist}"
metrics_sinks = ["jsonl"]
notifiers = []

[runtime]
watchlist = ["AAA", "BBB"]

[market_data.synthetic]
symbols = ["AAA", "BBB"]
bars = 80

[strategist.sma-cross]
fast = 3
slow = 8

[broker.alpaca]
base_url = "{url}"
rate_limit_per_minute = 10000
"""


def _write(directory: Path, name: str, broker: str, strategist: str, url: str) -> Path:
    path = directory / f"{name}.toml"
    state = directory / f"state-{name}"
    text = CONFIG.format(state=state, broker=broker, strategist=strategist, url=url)
    path.write_text(text, "utf-8")
    return path


def _time(cmd: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL)
    return (time.perf_counter() - started) * 1000


def run() -> list[dict]:
    from tradekernel.api import OrderRequest
    from tradekernel_alpaca.broker import AlpacaBroker
    from tradekernel_alpaca.config import AlpacaConfig
    from tradekernel_alpaca.double import AlpacaDouble, serve
    from tradekernel_alpaca.http import AlpacaHTTP, RateLimiter

    tk = str(Path(sys.executable).with_name("tradekernel"))
    double = AlpacaDouble(auto_fill=True, cash=10**9, prices={"AAA": "100", "BBB": "100"})
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRADEKERNEL_")}
    env.update(APCA_API_KEY_ID=double.key_id, APCA_API_SECRET_KEY=double.secret_key)
    rows = []
    with serve(double) as server, tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        once = {
            b: [tk, "--config", str(_write(directory, b, b, "hold", server.url)), "run", "--once"]
            for b in ("alpaca", "paper")
        }
        samples: dict[str, list[float]] = {b: [] for b in once}
        for _ in range(WARMUP):
            for cmd in once.values():
                _time(cmd, env)
        for _ in range(RUNS):
            for name, cmd in once.items():
                samples[name].append(_time(cmd, env))
        alpaca, paper = (statistics.median(samples[b]) for b in ("alpaca", "paper"))
        rows.append(
            {
                "figure": "run --once wall time, broker alpaca (local double)",
                "value": round(alpaca, 1),
                "unit": "ms",
                "peer": f"the same with broker paper (median of {RUNS})",
                "peer_value": round(paper, 1),
            }
        )

        http = AlpacaHTTP(
            AlpacaConfig(base_url=server.url),
            key_id=double.key_id,
            secret_key=double.secret_key,
            limiter=RateLimiter(10**6),
        )
        broker = AlpacaBroker(http)
        reads, submits = [], []
        for _ in range(SUBMITS):
            started = time.perf_counter()
            broker.account()
            reads.append((time.perf_counter() - started) * 1000)
            request = OrderRequest(
                client_order_id=f"tk-{uuid.uuid4().hex[:24]}", symbol="AAA", side="buy", quantity=1
            )
            started = time.perf_counter()
            broker.submit(request)
            submits.append((time.perf_counter() - started) * 1000)
        http.close()
        rows.append(
            {
                "figure": f"submit to acknowledgement, median of {SUBMITS} (local double)",
                "value": round(statistics.median(submits), 2),
                "unit": "ms",
                "peer": "one GET /v2/account round trip, same server",
                "peer_value": round(statistics.median(reads), 2),
            }
        )

    # a fresh account: the kernel refuses a new state beside orders it does not know
    fresh = AlpacaDouble(
        cash=10**9, prices={"AAA": "100", "BBB": "100"},
        key_id=double.key_id, secret_key=double.secret_key,
    )  # fmt: skip

    def fill_at_cycle_end(request, reply) -> None:
        """Orders work for one cycle: the venue fills them when the report reads positions."""
        if (request.method, request.path) == ("GET", "/v2/positions"):
            for order in list(fresh.trading.orders.values()):
                if order["status"] in ("accepted", "new", "partially_filled"):
                    fresh.trading.fill(order["client_order_id"])

    fresh.observers.append(fill_at_cycle_end)
    with serve(fresh) as server, tempfile.TemporaryDirectory() as tmp:
        config = _write(Path(tmp), "cycles", "alpaca", "sma-cross", server.url)
        subprocess.run([tk, "--config", str(config), "run", "--cycles", str(CYCLES)], env=env,
                       check=True, stdout=subprocess.DEVNULL)  # fmt: skip
        counts = Counter(fresh.requests)
        orders = counts[("POST", "/v2/orders")]
        lookups = counts[("GET", "/v2/orders:by_client_order_id")]
        per_cycle = len(fresh.requests) / CYCLES
        rows.append(
            {
                "figure": f"requests per cycle, {CYCLES}-cycle sma-cross run ({orders} orders)",
                "value": round(per_cycle, 2),
                "unit": "requests",
                "peer": "Alpaca's budget per minute",
                "peer_value": BUDGET,
            }
        )
        rows.append(
            {
                "figure": "order lookups by client order id per order, same run",
                "value": round(lookups / orders, 2) if orders else None,
                "unit": "lookups",
                "peer": "",
                "peer_value": None,
            }
        )
    return rows
