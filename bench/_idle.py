"""A kernel on the paper broker fed by a market data feed that returns the same data
every cycle, with a strategist that holds: the idle cycle the runtime benchmarks time
and the memory benchmark repeats."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

CONFIG = """
[kernel]
state_dir = "{state}"

[plugins]
# the example plugin of contrib/ counts every event (an observer of everything)
block = ["tradekernel-contrib-symbol-blocklist"]

[components]
broker = "paper"
market_data = "flat"
strategist = "hold"
metrics_sinks = {sinks}
notifiers = []

[runtime]
watchlist = ["AAA"]
skill_timeout = "0s"
"""


class Stopwatch:
    """Process time spent inside the wrapped calls (the feed's, the strategist's)."""

    def __init__(self) -> None:
        self.seconds = 0.0

    def wrap(self, fn: Any) -> Any:
        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.process_time()
            try:
                return fn(*args, **kwargs)
            finally:
                self.seconds += time.process_time() - started

        return timed


class FlatFeed:
    """The same quote and bars every cycle; the clock moves one minute per advance."""

    def __init__(self, watch: Stopwatch) -> None:
        start = datetime(2024, 1, 2, 14, 30, tzinfo=UTC)
        self._now = start
        price = Decimal("100.00")
        self._bars = [
            _bar(start - timedelta(minutes=20 - i), price) for i in range(20)
        ]  # the window the strategist would read
        self._quote = _quote(start, price)
        for name in ("advance", "quote", "bars", "current_bar"):
            setattr(self, name, watch.wrap(getattr(self, name)))

    def symbols(self) -> list[str]:
        return ["AAA"]

    def now(self) -> datetime | None:
        return self._now

    def advance(self) -> datetime | None:
        self._now += timedelta(minutes=1)
        return self._now

    def quote(self, symbol: str) -> Any:
        return self._quote if symbol == "AAA" else None

    def bars(self, symbol: str, limit: int) -> list[Any]:
        return self._bars[-limit:] if symbol == "AAA" else []

    def current_bar(self, symbol: str) -> Any:
        return self._bars[-1] if symbol == "AAA" else None


def _bar(ts: datetime, price: Decimal) -> Any:
    from tradekernel.api import Bar

    return Bar("AAA", ts, price, price, price, price, Decimal(1000))


def _quote(ts: datetime, price: Decimal) -> Any:
    from tradekernel.api import Quote

    return Quote("AAA", ts, price, price, price)


class FlatPlugin:
    """Registers the ``flat`` feed; times the strategist's ``decide``."""

    def __init__(self) -> None:
        self.feed_time = Stopwatch()
        self.strategist_time = Stopwatch()
        self.broker_time = Stopwatch()

    def hooks(self) -> Any:
        from tradekernel import hookimpl

        plugin = self

        class Hooks:
            @hookimpl
            def register_market_data(self, register: Any) -> None:
                register("flat", lambda config, ctx: FlatFeed(plugin.feed_time))

        return Hooks()


@contextmanager
def idle_runtime(sinks: str = "[]") -> Iterator[tuple[Any, FlatPlugin]]:
    """A started runtime on the flat feed (``sinks``: ``[components] metrics_sinks``)."""
    from tradekernel.api import Kernel, PluginRegistry, Runtime, Settings

    plugin = FlatPlugin()
    with tempfile.TemporaryDirectory() as tmp:
        cfg = Path(tmp) / "plugins.toml"
        cfg.write_text(CONFIG.format(state=Path(tmp) / "state", sinks=sinks))
        settings = Settings.load(cfg, environ={})
        registry = PluginRegistry(block=settings.plugins.block)
        registry.add_plugin(plugin.hooks(), "bench-flat-feed")
        with Kernel(settings, registry.load()) as kernel, Runtime(kernel) as runtime:
            strategist = kernel.component("strategist")
            strategist.decide = plugin.strategist_time.wrap(strategist.decide)
            broker = kernel.component("broker")
            for name in ("account", "positions", "orders", "get_order", "fills"):
                setattr(broker, name, plugin.broker_time.wrap(getattr(broker, name)))
            runtime.start()
            yield runtime, plugin
