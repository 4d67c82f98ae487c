"""Plugin policy: which plugins may load and what a missing one takes to install.

The ``TRADEKERNEL_API`` range a plugin declares (:func:`api_problem`), how block and
load names compare (:func:`normalise`), install hints, and the first-party components
and commands with the distribution that provides each (for messages that name it).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from . import API_VERSION

KNOWN_DISTRIBUTIONS: dict[tuple[str, str], str] = {
    ("broker", "paper"): "tradekernel-paper",
    ("broker", "alpaca"): "tradekernel-alpaca",
    ("broker", "ccxt"): "tradekernel-ccxt",
    ("market_data", "ccxt"): "tradekernel-ccxt",
    ("market_data", "synthetic"): "tradekernel-marketdata",
    ("market_data", "replay"): "tradekernel-marketdata",
    ("market_data", "alpaca"): "tradekernel-alpaca",
    ("strategist", "sma-cross"): "tradekernel-rules",
    ("strategist", "llm"): "tradekernel-llm",
    ("llm_provider", "openrouter"): "tradekernel-openrouter",
    ("llm_provider", "openai-compatible"): "tradekernel-openai-compatible",
    ("notifier", "slack"): "tradekernel-slack",
    ("notifier", "webhook"): "tradekernel-webhook",
    ("notifier", "email"): "tradekernel-email",
    ("metrics_sink", "jsonl"): "tradekernel-jsonl",
    ("metrics_sink", "sqlite"): "tradekernel-sqlite-sink",
    ("metrics_sink", "prometheus"): "tradekernel-prometheus",
    ("allocator", "inverse-volatility"): "tradekernel-allocation",
    ("sizer", "fixed_fractional"): "tradekernel-sizing",
    ("sizer", "volatility_target"): "tradekernel-sizing",
    ("sizer", "kelly"): "tradekernel-sizing",
    ("runtime", "langgraph"): "tradekernel-langgraph",
    ("store", "postgres"): "tradekernel-postgres",
    ("sweeper", "processes"): "tradekernel-backtest",
    ("sweeper", "dask"): "tradekernel-dask",
}
"""First-party components and the distribution that provides each, for install hints."""

for _guard in (
    "kill_switch",
    "allowlist",
    "denylist",
    "max_order_notional",
    "max_position",
    "max_gross_exposure",
    "daily_loss_limit",
    "max_orders_per_day",
    "order_rate",
    "symbol_cooldown",
    "session_hours",
):
    KNOWN_DISTRIBUTIONS[("guard", _guard)] = "tradekernel-guards"
KNOWN_DISTRIBUTIONS[("guard", "policy")] = "tradekernel-policy"


KNOWN_COMMANDS: dict[str, str] = {
    "report": "tradekernel-report",
    "audit": "tradekernel-audit",
    "backtest": "tradekernel-backtest",
    "promote": "tradekernel-backtest",
    "alerts": "tradekernel-ops",
    "ops": "tradekernel-ops",
    "notify": "tradekernel-notify",
    "console": "tradekernel-console",
    "release": "tradekernel-deploy",
    "readiness": "tradekernel-deploy",
    "health": "tradekernel-deploy",
    "backup": "tradekernel-deploy",
    "store": "tradekernel-postgres",
    "policy": "tradekernel-policy",
}
"""First-party commands that plugins add, and the distribution that adds each: running
one that no installed plugin adds names what to install."""


def api_problem(declared: Any, api: str = API_VERSION) -> str | None:
    """Why a plugin declaring ``TRADEKERNEL_API = declared`` cannot load against API
    ``api``, or ``None`` when it can (or declares nothing). ``declared`` is comma-separated
    comparisons (``>=``, ``>``, ``<=``, ``<``, ``==``, ``!=``, ``~=``) on ``MAJOR.MINOR``
    (``">=1.0,<2"``). A bare ``MAJOR`` compares the major version only, whatever the
    operator: ``==1`` and ``<=1`` are any ``1.x``, ``>1`` is ``2.0`` and later, ``>=1``
    is ``1.0`` and later, ``<2`` is below ``2.0``. ``~=1.2`` is ``>=1.2,==1`` (a later
    minor of the same major, as in PEP 440); it needs a minor (``~=1`` is refused)."""
    if declared is None:
        return None
    if not isinstance(declared, str):
        return f"TRADEKERNEL_API must be a string such as '>=1.0,<2', not {type(declared).__name__}"
    have = tuple(int(p) for p in api.split("."))
    for clause in declared.split(","):
        match = re.fullmatch(r"\s*(>=|<=|==|!=|~=|>|<)\s*(\d{1,6})(?:\.(\d{1,6}))?\s*", clause)
        if match is None:
            return (
                f"malformed TRADEKERNEL_API {declared!r}: expected comparisons such as "
                "'>=1.0,<2' (operators >=, >, <=, <, ==, !=, ~=)"
            )
        op, major, minor = match.groups()
        if op == "~=":
            if minor is None:
                return (
                    f"malformed TRADEKERNEL_API {declared!r}: ~= needs MAJOR.MINOR "
                    "('~=1.2' means >=1.2 within major 1)"
                )
            ok = have >= (int(major), int(minor)) and have[:1] == (int(major),)
        elif minor is None:  # a bare major: compared on the major version only
            ok = _COMPARE[op](have[:1], (int(major),))
        else:
            ok = _COMPARE[op](have, (int(major), int(minor)))
        if not ok:
            return (
                f"built for tradekernel API {declared.strip()} but this kernel provides API {api}"
            )
    return None


_COMPARE: dict[str, Callable[[tuple[int, ...], tuple[int, ...]], bool]] = {
    ">=": lambda a, b: a >= b,
    ">": lambda a, b: a > b,
    "<=": lambda a, b: a <= b,
    "<": lambda a, b: a < b,
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
}


def in_parens(distribution: str) -> str:
    """``(distribution)`` for messages; an in-process plugin's ``(local)`` is not wrapped
    twice."""
    if distribution.startswith("(") and distribution.endswith(")"):
        return distribution
    return f"({distribution})"


def hinted(hint: str | None) -> str:
    return f" (to install what it needs: {hint})" if hint else ""


def install_hint(module: Any) -> str | None:
    hint = getattr(module, "TRADEKERNEL_INSTALL", None)
    return hint if isinstance(hint, str) and hint.strip() else None


def normalise(name: str) -> str:
    """A distribution or entry-point name compared the PEP 503 way (``A_b.c`` == ``a-b-c``)."""
    return re.sub(r"[-_.]+", "-", name).lower()
