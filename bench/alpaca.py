"""The Alpaca plugin: what choosing it costs a process, an order and a cycle. Each figure
is measured once, against the double (no internet).

* Import cost: the import of the plugin's broker and feed modules (httpx and tenacity
  included) against the paper broker's and the synthetic feed's; ``tradekernel run
  --once`` with ``broker`` and ``market_data`` alpaca (against the double's server on
  127.0.0.1) against the same command with the paper broker on synthetic data. Process
  CPU of the child (user + system, which other jobs on the cores disturb less than wall
  time), median and min of ``RUNS``, interleaved after ``WARMUP`` runs.
* Submit to acknowledgement: ``AlpacaBroker.submit`` of a market order until its answer
  is parsed, real HTTP to the double on 127.0.0.1, against a bare ``httpx`` GET of that
  order by client order id on the same server (the floor of a request there); wall
  time, median and min of ``SUBMITS``.
* Per cycle, one in-process run of the kernel's runtime with both alpaca components
  (their real factories, the double behind an ``httpx`` mock transport, on a manual
  clock moved a minute a cycle from a Monday 10:00 New York): a ``WATCHLIST``-symbol
  watchlist, the default skills (quotes, 50 bars), the ``session_hours`` guard on the
  venue's session, a strategist buying one symbol a cycle, each order executed one
  share a cycle (``QTY`` cycles to fill, so ``QTY`` orders work at once). From it:
  order lookups per order, all requests per cycle against Alpaca's budget of 200 a
  minute at the default interval (one cycle a minute), and the feed's requests in the
  first cycle (each bar window filled once) and per cycle after it.
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
START = datetime(2024, 6, 3, 14, 0, tzinfo=UTC)
"""A Monday, 10:00 in New York: the venue's session is open."""

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


def _compare(
    figure: str, peer: str, ours: list[float], theirs: list[float], digits: int = 1, **extra
) -> dict:
    """A row of median ``ours`` against median ``theirs``, both minimums in the labels."""
    return {
        "figure": f"{figure}, median of {len(ours)} (min {min(ours):.{digits}f})",
        "value": round(statistics.median(ours), 3),
        "unit": "ms",
        "peer": f"{peer} (median; min {min(theirs):.{digits}f})",
        "peer_value": round(statistics.median(theirs), 3),
        "min": round(min(ours), 3),
        "peer_min": round(min(theirs), 3),
        **extra,
    }


def _import_cost() -> list[dict]:
    from tradekernel_alpaca.double import AlpacaDouble, serve
    from tradekernel_alpaca.double.data import market

    double = AlpacaDouble()
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    for symbol in ("AAPL", "MSFT"):
        market(double).seed(symbol, now - timedelta(minutes=60), 60, price=100.0)
    # Without PYTHONDONTWRITEBYTECODE: the warm-up runs cache the bytecode, as pip does
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("TRADEKERNEL_", "APCA_")) and k != "PYTHONDONTWRITEBYTECODE"
    }
    env.update(APCA_API_KEY_ID=double.key_id, APCA_API_SECRET_KEY=double.secret_key)
    tk = str(Path(sys.executable).with_name("tradekernel"))
    commands = {
        "import alpaca": [
            sys.executable,
            "-c",
            "import tradekernel_alpaca.broker, tradekernel_alpaca.marketdata",
        ],
        "import paper": [
            sys.executable,
            "-c",
            "import tradekernel_paper.broker, tradekernel_marketdata.synthetic",
        ],
    }
    samples: dict[str, list[float]] = {}
    with serve(double) as server, tempfile.TemporaryDirectory() as tmp:
        for name, broker, data in (("alpaca", "alpaca", "alpaca"), ("paper", "paper", "synthetic")):
            path = Path(tmp) / f"{name}.toml"
            state = Path(tmp) / f"state-{name}"
            text = CLI_CONFIG.format(state=state, broker=broker, data=data, url=server.url)
            path.write_text(text, "utf-8")
            commands[name] = [tk, "--config", str(path), "run", "--once", "--quiet"]
        samples = {name: [] for name in commands}
        for i in range(WARMUP + RUNS):  # interleaved, so drift affects all alike
            for name, cmd in commands.items():
                cpu = _cpu_ms(cmd, env)
                if i >= WARMUP:
                    samples[name].append(cpu)
    return [
        _compare(
            "alpaca: import of its broker and feed modules (httpx, tenacity included), process CPU",
            "import of the paper broker and the synthetic feed",
            samples["import alpaca"],
            samples["import paper"],
        ),
        _compare(
            "alpaca: run --once, broker and market_data alpaca (double on 127.0.0.1), process CPU",
            "run --once, paper broker and synthetic data",
            samples["alpaca"],
            samples["paper"],
        ),
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
        _compare(
            f"alpaca: submit to acknowledgement on 127.0.0.1, wall time, p95 {p95:.2f}",
            "bare httpx GET of that order by its client order id",
            submit,
            floor,
            digits=2,
            p95=round(p95, 3),
        )
    ]


class _Plugins:
    """The alpaca components on the double's mock transport and clock, and a buyer of
    one symbol a cycle."""

    def __init__(self, double: Any) -> None:
        self.double = double
        self.feed: Any = None
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

        def factory(config, ctx):
            self.feed = build_market_data(config, ctx, clock=self.double.clock, **self._client())
            return self.feed

        register("alpaca-bench", factory, config=AlpacaDataConfig)

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
guards = ["session_hours"]
metrics_sinks = []
notifiers = []

[runtime]
watchlist = {WATCHLIST!r}
node_backoff = "0s"

[guard.session_hours]
source = "market_data"
"""


def _per_cycle() -> list[dict]:
    from tradekernel.api import Kernel, PluginRegistry, Runtime, Settings
    from tradekernel_alpaca.double import AlpacaDouble
    from tradekernel_alpaca.double.data import ManualClock, market
    from tradekernel_alpaca.double.trading import OPEN

    clock = ManualClock(START)
    prices = {s: str(50 + i) for i, s in enumerate(WATCHLIST)}
    double = AlpacaDouble(cash=10**9, prices=prices, clock=clock)
    for i, symbol in enumerate(WATCHLIST):
        market(double).seed(symbol, START - timedelta(minutes=60), 60 + CYCLES + 1, 50.0 + i)
    plugins = _Plugins(double)
    per_cycle: list[int] = []
    ids: list[str] = []
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
                ids.append(runtime.run_cycle().cycle_id)
                per_cycle.append(len(double.requests) - before)
                with double.lock:  # the market executes one share of each working order
                    for order in list(double.trading.orders.values()):
                        if order["status"] in OPEN:
                            double.trading.fill(order["client_order_id"], Decimal(1))
                clock.advance(minutes=1)
    orders = len(double.trading.orders)
    if orders < CYCLES // 2:
        raise RuntimeError(f"only {orders} orders in {CYCLES} cycles: the buyer was refused")
    paths = [p for _m, p in double.requests]
    lookups = paths.count("/v2/orders:by_client_order_id")
    activities = paths.count("/v2/account/activities/FILL")
    steady = per_cycle[QTY + 1 :]  # after the first orders have filled: one new a cycle
    data = [plugins.feed.requests_by_cycle.get(i, 0) for i in ids]
    symbols = len(WATCHLIST)
    return [
        {
            "figure": f"alpaca: order lookups per order (filled in {QTY} parts over {QTY} "
            f"cycles, the monitor asking every cycle; {activities / orders:.2f} activity "
            "reads per order)",
            "value": round(lookups / orders, 2),
            "unit": "lookups",
            "peer": "cycles an order is open",
            "peer_value": QTY + 1,
            "orders": orders,
            "activity_reads_per_order": round(activities / orders, 2),
        },
        {
            "figure": f"alpaca: requests per cycle, broker and market data ({symbols} symbols, "
            f"one new order a cycle, {QTY} working; mean after cycle {QTY + 1}, max "
            f"{max(steady)}, the first cycle {per_cycle[0]})",
            "value": round(statistics.mean(steady), 2),
            "unit": "requests",
            "peer": f"Alpaca's budget a minute (default interval {INTERVAL_S}s: one cycle)",
            "peer_value": BUDGET,
            "first_cycle": per_cycle[0],
            "max": max(steady),
        },
        {
            "figure": f"alpaca: market data requests in the first cycle ({symbols} symbols, "
            "quotes, 50 bars, session guard: each bar window filled once)",
            "value": data[0],
            "unit": "requests",
            "peer": "Alpaca's budget a minute",
            "peer_value": BUDGET,
        },
        {
            "figure": "alpaca: market data requests per cycle after the first (the same, "
            f"mean; max {max(data[1:])})",
            "value": round(statistics.mean(data[1:]), 2),
            "unit": "requests",
            "peer": "Alpaca's budget a minute",
            "peer_value": BUDGET,
            "max": max(data[1:]),
        },
    ]


def run() -> list[dict]:
    return [*_import_cost(), *_latency(), *_per_cycle()]
