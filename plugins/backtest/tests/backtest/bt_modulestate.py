"""What the kernel's and the plugins' modules hold at module level, fingerprinted, to show
that a backtest leaves nothing there that a later backtest in the same process would see
(the ``processes`` sweeper reuses its workers). Run in a sweep worker."""

from __future__ import annotations

import sys
import types
from typing import Any

SKIP = (types.ModuleType, types.FunctionType, types.BuiltinFunctionType, type)


def fingerprint(value: Any) -> Any:
    """What a later run could notice of ``value``: a container's contents, an object's
    identity and attributes."""
    if isinstance(value, dict | list | set | frozenset | tuple):
        return (type(value).__name__, len(value), repr(value))
    attributes = getattr(value, "__dict__", None)
    state = repr(sorted(attributes.items(), key=lambda kv: kv[0])) if attributes else None
    return (type(value).__name__, id(value), state, repr(value) if state is None else None)


def snapshot() -> dict[str, Any]:
    """Every module-level value of the ``tradekernel`` modules (kernel and plugins)."""
    out = {}
    for name, module in list(sys.modules.items()):
        if not name.startswith("tradekernel") or module is None:
            continue
        for key, value in list(vars(module).items()):
            if not key.startswith("__") and not isinstance(value, SKIP):
                out[f"{name}.{key}"] = fingerprint(value)
    return out


def changed_by_backtests(jobs: list[Any]) -> list[str]:
    """Run ``jobs`` (sweep jobs) in turn in this process; the module-level values that
    changed while the later ones ran (the first one imports and memoises)."""
    from tradekernel_backtest.sweep import _run_one

    _run_one(jobs[0])
    before = snapshot()
    for job in jobs[1:]:
        outcome = _run_one(job)
        assert outcome["ok"], outcome
    after = snapshot()
    return sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
