"""The Alpaca broker: what choosing it costs a process, an order and a cycle.

* Import cost: the import of the plugin's broker and feed modules (httpx and tenacity
  included) against the paper broker's and the synthetic feed's; ``tradekernel run
  --once`` with ``broker = "alpaca"`` and ``market_data = "alpaca"`` (against the
  double's server on 127.0.0.1, in this process) against the same command with the
  paper broker on synthetic data. The CPU time of the child process (user + system),
  min and median of ``RUNS``, interleaved.
* Submit to acknowledgement: ``AlpacaBroker.submit`` of a market order until its answer
  is parsed, real HTTP to the double on 127.0.0.1, against a bare ``httpx`` GET of the
  same order by client order id from the same server (the floor of a request there).
* Lookups per order and requests per cycle: the kernel's runtime with both alpaca
  components (their real factories, the double behind an ``httpx`` mock transport) on a
  ``WATCHLIST``-symbol watchlist, a strategist buying one symbol a cycle, each order
  executed one share a cycle (``QTY`` cycles to fill). Requests per cycle are read
  against Alpaca's budget of 200 a minute at the default interval (``[runtime]
  interval = 60s``: one cycle a minute).
"""

from __future__ import annotations

import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from tradekernel import hookimpl

RUNS = 11
WARMUP = 2
SUBMITS = 300
WATCHLIST = [f"S{i:02d}" for i in range(10)]
CYCLES = 40
QTY = 3
BUDGET = 200
"""Alpaca's requests per minute per account."""
INTERVAL_S = 60
"""The default ``[runtime] interval``."""

CLI_CONFIG = """
[kernel]
state_dir = "{state}"

[components]
broker = "{broker}"
market_data = "{data}"
strategist = "hold"
metrics_sinks = []
notifiers = []

[runtime]
watchlist = ["AAPL", "MSFT"]

[broker.alpaca]
base_url = "{url}"
data_url = "{url}"

[market_data.alpaca]
base_url = "{url}"
data_url = "{url}"
"""


def _cpu_ms(cmd: list[str], env: dict[str, str]) -> float:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime) * 1000


def _import_cost() -> list[dict]:
    from tradekernel_alpaca.double import AlpacaDouble, serve
    from tradekernel_alpaca.double.data import market

    double = AlpacaDouble()
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    for symbol in ("AAPL", "MSFT"):
        market(double).seed(symbol, now - timedelta(minutes=60), 60, price=100.0)
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("TRADEKERNEL_", "APCA_")) and k != "PYTHONDONTWRITEBYTECODE"
    }
    env.update(APCA_API_KEY_ID=double.key_id, APCA_API_SECRET_KEY=double.secret_key)
    tk = str(Path(sys.executable).with_name("tradekernel"))
    samples: dict[str, list[float]] = {"alpaca": [], "paper": []}
    with serve(double) as server, tempfile.TemporaryDirectory() as tmp:
        commands = {}
        for name, broker, data in (("alpaca", "alpaca", "alpaca"), ("paper", "paper", "synthetic")):
            path = Path(tmp) / f"{name}.toml"
            state = Path(tmp) / f"state-{name}"
            path.write_text(
                CLI_CONFIG.format(state=state, broker=broker, data=data, url=server.url), "utf-8"
            )
            commands[name] = [tk, "--config", str(path), "run", "--once", "--quiet"]
        python = sys.executable
        alpaca_modules = "import tradekernel_alpaca.broker, tradekernel_alpaca.marketdata"
        paper_modules = "import tradekernel_paper.broker, tradekernel_marketdata.synthetic"
        commands["import alpaca"] = [python, "-c", alpaca_modules]
        commands["import paper"] = [python, "-c", paper_modules]
        samples.update({"import alpaca": [], "import paper": []})
        for i in range(WARMUP + RUNS):
            for name, cmd in commands.items():
                cpu = _cpu_ms(cmd, env)
                if i >= WARMUP:
                    samples[name].append(cpu)
    alpaca, paper = samples["alpaca"], samples["paper"]
    imported, imported_paper = samples["import alpaca"], samples["import paper"]
    return [
        {
            "figure": "alpaca: import of its broker and feed modules (httpx, tenacity "
            f"included), process CPU, median of {RUNS}",
            "value": round(statistics.median(imported), 1),
            "unit": "ms",
            "peer": "import of the paper broker and the synthetic feed (median)",
            "peer_value": round(statistics.median(imported_paper), 1),
            "min": round(min(imported), 1),
            "peer_min": round(min(imported_paper), 1),
        },
        {
            "figure": "alpaca: run --once process CPU, broker and market_data alpaca (double "
            f"on 127.0.0.1), median of {RUNS}",
            "value": round(statistics.median(alpaca), 1),
            "unit": "ms",
            "peer": "run --once paper broker, synthetic data (median)",
            "peer_value": round(statistics.median(paper), 1),
            "min": round(min(alpaca), 1),
            "peer_min": round(min(paper), 1),
        },
        {
            "figure": f"alpaca: run --once process CPU, min of {RUNS}",
            "value": round(min(alpaca), 1),
            "unit": "ms",
            "peer": "run --once paper broker, synthetic data (min)",
            "peer_value": round(min(paper), 1),
        },
    ]


def _latency() -> list[dict]:
    import httpx
    from tradekernel.api import OrderRequest
    from tradekernel_alpaca.broker import AlpacaBroker
    from tradekernel_alpaca.config import AlpacaConfig
    from tradekernel_alpaca.double import AlpacaDouble, serve
    from tradekernel_alpaca.http import AlpacaHTTP, RateLimiter

    double = AlpacaDouble(cash=10**9)
    with serve(double) as server:
        http = AlpacaHTTP(
            AlpacaConfig(base_url=server.url, data_url=server.url),
            key_id=double.key_id,
            secret_key=double.secret_key,
            limiter=RateLimiter(10**6),
        )
        broker = AlpacaBroker(http)
        bare = httpx.Client()
        headers = {"APCA-API-KEY-ID": double.key_id, "APCA-API-SECRET-KEY": double.secret_key}
        submit, floor = [], []
        for i in range(SUBMITS):
            request = OrderRequest(
                client_order_id=f"tk-{i:024x}", symbol="AAPL", side="buy", quantity=1
            )
            started = time.perf_counter()
            broker.submit(request)
            submit.append((time.perf_counter() - started) * 1000)
            started = time.perf_counter()
            bare.get(
                f"{server.url}/v2/orders:by_client_order_id",
                params={"client_order_id": request.client_order_id},
                headers=headers,
            )
            floor.append((time.perf_counter() - started) * 1000)
        bare.close()
        broker.close()
    p95 = statistics.quantiles(submit, n=20)[-1]
    return [
        {
            "figure": f"alpaca: submit to acknowledgement, 127.0.0.1 double (median of {SUBMITS})",
            "value": round(statistics.median(submit), 3),
            "unit": "ms",
            "peer": "bare httpx GET of that order by client order id, same server (median)",
            "peer_value": round(statistics.median(floor), 3),
            "p95": round(p95, 3),
        }
    ]


class _Plugins:
    """The alpaca components on the double's mock transport, and a buyer of one symbol a
    cycle."""

    def __init__(self, double: Any) -> None:
        self.double = double
        self.cycle = 0

    def _client(self) -> dict[str, Any]:
        from tradekernel_alpaca.http import RateLimiter

        return {
            "transport": self.double.transport(),
            "limiter": RateLimiter(10**6),
            "sleep": lambda seconds: None,
        }

    @hookimpl
    def register_brokers(self, register):
        from tradekernel_alpaca import AlpacaConfig, build_broker

        register(
            "alpaca-bench",
            lambda config, ctx: build_broker(config, ctx, **self._client()),
            config=AlpacaConfig,
        )

    @hookimpl
    def register_market_data(self, register):
        from tradekernel_alpaca import build_market_data
        from tradekernel_alpaca.marketdata import AlpacaDataConfig

        register(
            "alpaca-bench",
            lambda config, ctx: build_market_data(config, ctx, **self._client()),
            config=AlpacaDataConfig,
        )

    @hookimpl
    def register_strategists(self, register):
        register("bench-buyer", lambda config, ctx: self)

    def decide(self, inputs):
        from tradekernel.api import Decision, Intent

        self.cycle += 1
        symbol = WATCHLIST[self.cycle % len(WATCHLIST)]
        if symbol not in inputs.candidates:
            return Decision.hold("not a candidate")
        intent = Intent.create(
            symbol=symbol,
            side="buy",
            quantity=QTY,
            strategist="b",
            as_of=inputs.as_of,
            rationale=f"cycle {self.cycle}",
        )
        return Decision(intents=[intent])


RUNTIME_CONFIG = f"""
[kernel]
state_dir = "{{state}}"
approval_mode = "auto"

[components]
broker = "alpaca-bench"
market_data = "alpaca-bench"
strategist = "bench-buyer"
guards = []
metrics_sinks = []
notifiers = []

[runtime]
watchlist = {WATCHLIST!r}
node_backoff = "0s"
"""


def _per_cycle() -> list[dict]:
    from tradekernel.api import Kernel, PluginRegistry, Runtime, Settings
    from tradekernel_alpaca.double import AlpacaDouble
    from tradekernel_alpaca.double.data import market
    from tradekernel_alpaca.double.trading import OPEN

    prices = {s: str(50 + i) for i, s in enumerate(WATCHLIST)}
    double = AlpacaDouble(cash=10**9, prices=prices)
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    for i, symbol in enumerate(WATCHLIST):
        market(double).seed(symbol, now - timedelta(minutes=60), 60, price=50.0 + i)
    plugins = _Plugins(double)
    per_cycle: list[int] = []
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "plugins.toml"
        path.write_text(RUNTIME_CONFIG.replace("{state}", str(Path(tmp) / "state")), "utf-8")
        environ = {"APCA_API_KEY_ID": double.key_id, "APCA_API_SECRET_KEY": double.secret_key}
        settings = Settings.load(path, environ=environ)
        registry = PluginRegistry()
        registry.add_plugin(plugins, "alpaca-bench")
        with Kernel(settings, registry.load()) as kernel, Runtime(kernel) as runtime:
            for _ in range(CYCLES):
                before = len(double.requests)
                runtime.run_cycle()
                per_cycle.append(len(double.requests) - before)
                with double.lock:  # the market executes one share of each working order
                    for order in list(double.trading.orders.values()):
                        if order["status"] in OPEN:
                            double.trading.fill(order["client_order_id"], Decimal(1))
    orders = len(double.trading.orders)
    paths = [p for _m, p in double.requests]
    lookups = paths.count("/v2/orders:by_client_order_id")
    activities = paths.count("/v2/account/activities/FILL")
    steady = per_cycle[QTY + 1 :]  # after the first orders have filled: one new a cycle
    mean = statistics.mean(steady)
    return [
        {
            "figure": f"alpaca: order lookups per order (filled in {QTY} parts over {QTY} "
            "cycles, the monitor asking every cycle)",
            "value": round(lookups / orders, 2),
            "unit": "lookups",
            "peer": "cycles an order is open",
            "peer_value": QTY + 1,
            "orders": orders,
            "activity_reads_per_order": round(activities / orders, 2),
        },
        {
            "figure": f"alpaca: requests per cycle, broker and market data ({len(WATCHLIST)} "
            f"symbols, one order a cycle, {QTY} working)",
            "value": round(mean, 2),
            "unit": "requests",
            "peer": f"Alpaca's budget a minute (default interval {INTERVAL_S}s: one cycle)",
            "peer_value": BUDGET,
            "first_cycle": per_cycle[0],
            "max": max(steady),
        },
    ]


def run() -> list[dict]:
    return [*_import_cost(), *_latency(), *_per_cycle()]
