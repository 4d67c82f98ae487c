"""What to backtest (:class:`BacktestSpec`), ``--param`` parsing and sweep grids, and how a
backtest's Settings derive from the operator's configuration."""

from __future__ import annotations

import itertools
import tomllib
from decimal import Decimal
from pathlib import Path
from typing import Any

from attrs import define, field
from tradekernel.api import ConfigError, Settings


@define
class BacktestSpec:
    """One backtest: a strategist (or every strategy of the configuration), its data
    and its parameters (single values)."""

    strategist: str | None = None
    """The one strategy to test; ``None``: the configuration's strategists together."""
    data: list[str] = field(factory=list)
    start: str | None = None
    end: str | None = None
    cash: Decimal | None = None
    commission: Decimal | None = None
    params: dict[str, Any] = field(factory=dict)
    symbols: list[str] | None = None
    """Watchlist; default: every symbol the data holds."""
    out_dir: Path | None = None
    state_dir: Path | None = None
    """Where the backtest's own state lives; default ``<out_dir>/state`` or a temporary dir."""
    allow_network: bool = False
    budget_usd: float | None = None
    keep_sinks: bool = False
    """Keep the configured metrics sinks (default: none, the cheap choice for backtests)."""
    periods_per_year: float | None = None
    record: bool = True
    """Record the result in the operator's store (table ``backtests``) for promotion."""
    runtime: str | None = None
    """The runtime that walks the graph (default: ``[components] runtime``)."""


def parse_value(raw: str) -> Any:
    """A ``--param`` value as a TOML literal (``5``, ``0.5``, ``true``), else a string."""
    text = raw.strip()
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def parse_param(text: str) -> tuple[str, list[Any]]:
    """``"fast=5,10,20"`` → ``("fast", [5, 10, 20])``."""
    key, sep, values = text.partition("=")
    key = key.strip()
    if not sep or not key or not values.strip():
        raise ConfigError(f"option --param: expected KEY=VALUE[,VALUE...], got {text!r}")
    return key, [parse_value(v) for v in values.split(",") if v.strip()]


def param_grid(params: list[tuple[str, list[Any]]]) -> list[dict[str, Any]]:
    """Every combination of the parameter values, in the order given (one ``{}`` for none)."""
    merged: dict[str, list[Any]] = {}
    for key, values in params:
        merged.setdefault(key, []).extend(values)
    keys = list(merged)
    return [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*merged.values())]


def overrides(
    spec: BacktestSpec, state_dir: Path, names: list[str] | None = None
) -> dict[str, Any]:
    """Settings overrides that turn the operator's configuration into a backtest's."""
    name = spec.strategist
    out: dict[str, Any] = {
        "kernel.mode": ("paper", "backtest"),
        "kernel.approval_mode": ("auto", "backtest"),
        "kernel.state_dir": (str(state_dir), "backtest"),
        # its state (and every plugin's tables: the LLM's spend and cache) in that dir's
        # own state.db, never the operator's store, whichever [components] store it is
        "components.store": ("sqlite", "backtest"),
        "components.broker": ("paper", "backtest"),
        "components.market_data": ("replay", "backtest"),
        "components.notifiers": ([], "backtest"),
        "notify.enabled": (False, "backtest"),
        # replay data is local and synchronous: skills run in the cycle's own thread
        "runtime.skill_timeout": ("0s", "backtest"),
        "runtime.trace": ("decisions", "backtest"),
        # the account lives in the backtest's own state dir, never the operator's
        "broker.paper.db": ("paper.db", "backtest"),
        # a backtest's account need not survive a power loss (checkpointed when closed)
        "broker.paper.durable": (False, "backtest"),
        "market_data.replay.paths": ([str(Path(p)) for p in spec.data], "--data"),
        "market_data.replay.resume": (False, "backtest"),
    }
    if name is not None:
        out["components.strategist"] = (name, "--strategist")
        # one strategy of a configuration with several (`[components] strategists`)
        out["components.strategists"] = ([], "--strategist")
    if not spec.keep_sinks:
        out["components.metrics_sinks"] = ([], "backtest")
    if spec.start:
        out["market_data.replay.start"] = (spec.start, "--from")
    if spec.end:
        out["market_data.replay.end"] = (spec.end, "--to")
    if spec.cash is not None:
        out["broker.paper.cash"] = (str(spec.cash), "--cash")
    if spec.commission is not None:
        out["broker.paper.commission"] = (str(spec.commission), "--commission")
    if spec.symbols:
        out["runtime.watchlist"] = (list(spec.symbols), "--symbols")
    if spec.runtime is not None:
        out["components.runtime"] = (spec.runtime, "--runtime")
    for key, value in spec.params.items():
        out[param_key(spec, names or [], key)] = (value, f"--param {key}")
    return out


def param_key(spec: BacktestSpec, names: list[str], key: str) -> str:
    """The setting ``--param KEY`` changes: ``[strategist.<name>] KEY`` of the one
    strategist; with several, ``KEY`` is ``STRATEGY.KEY`` (``--param fast.slow=20``)."""
    if spec.strategist is not None:
        return f"strategist.{spec.strategist}.{key}"
    if len(names) == 1:
        return f"strategist.{names[0]}.{key}"
    strategy, dot, setting = key.partition(".")
    if not dot or strategy not in names or not setting:
        raise ConfigError(
            f"option --param {key}: with several strategies ({', '.join(names)}) name the "
            "strategy: --param STRATEGY.KEY=VALUE (e.g. --param "
            f"{names[0]}.{setting or key}=...), or test one with --strategist"
        )
    return f"strategist.{strategy}.{setting}"


def strategy_names(base: Settings) -> list[str]:
    """The configuration's strategists (``[components] strategists``, else the one)."""
    sel = base.components
    return list(sel.strategists) or [sel.strategist]


def derive_settings(base: Settings, spec: BacktestSpec, state_dir: Path) -> Settings:
    """The backtest's Settings: the operator's (file, environment and whatever ``base``
    was loaded with, such as a sweep worker's environment overrides) with the backtest's."""
    return base.with_overrides(overrides(spec, state_dir, strategy_names(base)))


def bar_estimate(paths: list[str]) -> int | None:
    """Data rows in the largest file (the number of bars of one symbol), for progress and
    cost estimates; ``None`` when a path is a directory or unreadable."""
    best = 0
    for raw in paths:
        path = Path(raw)
        if not path.is_file():
            files = sorted(path.glob("*.csv")) if path.is_dir() else []
        else:
            files = [path]
        for f in files:
            try:
                with f.open("rb") as fh:
                    best = max(
                        best,
                        sum(buf.count(b"\n") for buf in iter(lambda: fh.read(1 << 20), b"")) - 1,
                    )
            except OSError:
                return None
    return best or None
