"""A kernel on the paper broker fed by a market data feed that returns the same prices
every cycle, with a strategist that holds: the idle cycle the runtime benchmarks time
and the memory benchmark repeats. The quote is stamped at the feed's clock each step, as
a live feed's is (a quote that never moved on would be quarantined as ``stale_quote``
after ``[runtime] max_quote_age`` and the cycle would time the quarantine instead)."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs

CONFIG = """
[plugins]
# the example plugin of contrib/ counts every event (an observer of everything)
block = ["tradekernel-contrib-symbol-blocklist"]

[kernel]
state_dir = "{state}"

[components]
broker = "paper"
market_data = "flat"
strategist = "hold"
metrics_sinks = {sinks}
notifiers = {notifiers}

[runtime]
watchlist = ["AAA"]
skill_timeout = "0s"
"""


class FlatFeed:
    """The same quote and bars every cycle; the clock moves one minute per advance."""

    def __init__(self) -> None:
        from tradekernel.api import Bar, Quote

        start = datetime(2024, 1, 2, 14, 30, tzinfo=UTC)
        self._now = start
        price = Decimal("100.00")
        self._bars = [
            Bar("AAA", start - timedelta(minutes=20 - i), price, price, price, price, Decimal(1))
            for i in range(20)
        ]
        self._quote = Quote("AAA", start, price, price, price)

    def symbols(self) -> list[str]:
        return ["AAA"]

    def now(self) -> datetime | None:
        return self._now

    def advance(self) -> datetime | None:
        self._now += timedelta(minutes=1)
        self._quote = attrs.evolve(self._quote, ts=self._now)
        return self._now

    def quote(self, symbol: str) -> Any:
        return self._quote if symbol == "AAA" else None

    def bars(self, symbol: str, limit: int) -> list[Any]:
        return self._bars[-limit:] if symbol == "AAA" else []

    def current_bar(self, symbol: str) -> Any:
        return self._bars[-1] if symbol == "AAA" else None


def _flat_hooks() -> Any:
    """An in-process plugin registering the ``flat`` feed."""
    from tradekernel import hookimpl

    class FlatHooks:
        @hookimpl
        def register_market_data(self, register: Any) -> None:
            register("flat", lambda config, ctx: FlatFeed())

    return FlatHooks()


@contextmanager
def idle_runtime(sinks: str = "[]", notifiers: str = "[]") -> Iterator[Any]:
    """A started runtime on the flat feed (``sinks``: ``[components] metrics_sinks``)."""
    from tradekernel.api import Kernel, PluginRegistry, Runtime, Settings

    with tempfile.TemporaryDirectory() as tmp:
        cfg = Path(tmp) / "plugins.toml"
        text = CONFIG.format(state=Path(tmp) / "state", sinks=sinks, notifiers=notifiers)
        cfg.write_text(text)
        settings = Settings.load(cfg, environ={})
        registry = PluginRegistry(block=settings.plugins.block)
        registry.add_plugin(_flat_hooks(), "bench-flat-feed")
        with Kernel(settings, registry.load()) as kernel, Runtime(kernel) as runtime:
            runtime.start()
            yield runtime


OUTSIDE = {
    "market_data": ("advance", "quote", "bars", "current_bar"),
    "strategist": ("decide",),
    "broker": ("account", "positions", "orders", "get_order", "fills"),
}
"""The calls an idle cycle makes outside the kernel: the feed, the strategist, the broker."""


def _outside_calls(runtime: Any, cycles: int) -> list[tuple[Callable, tuple, dict]]:
    """The calls ``cycles`` cycles make to the components of :data:`OUTSIDE`, in order."""
    log: list[tuple[Callable, tuple, dict]] = []
    spied = []
    for kind, names in OUTSIDE.items():
        obj = runtime.kernel.component(kind)
        for name in names:
            fn = getattr(obj, name)

            def spy(*args: Any, _fn: Callable = fn, **kwargs: Any) -> Any:
                log.append((_fn, args, kwargs))
                return _fn(*args, **kwargs)

            setattr(obj, name, spy)
            spied.append((obj, name))
    try:
        for _ in range(cycles):
            runtime.run_cycle()
    finally:
        for obj, name in spied:
            delattr(obj, name)
    return log


def idle_cycle_us(cycles: int = 2000, repeats: int = 5) -> tuple[float, float, float]:
    """``(kernel, outside, whole)`` µs per idle cycle, each the minimum of ``repeats``
    process-time runs: the whole cycle, and the same calls to the feed, the strategist
    and the broker replayed alone; the kernel's share is their difference."""
    with idle_runtime() as runtime:
        for _ in range(300):
            runtime.run_cycle()
        sample = 10
        calls = _outside_calls(runtime, sample)
        per_cycle = calls[: len(calls) // sample]
        whole = outside = float("inf")
        for _ in range(repeats):
            started = time.process_time()
            for _ in range(cycles):
                runtime.run_cycle()
            whole = min(whole, time.process_time() - started)
            started = time.process_time()
            for _ in range(cycles):
                for fn, args, kwargs in per_cycle:
                    fn(*args, **kwargs)
            outside = min(outside, time.process_time() - started)
    scale = 1e6 / cycles
    return (whole - outside) * scale, outside * scale, whole * scale
