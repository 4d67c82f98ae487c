"""Benchmarks: every ``bench/<name>.py`` defines ``run() -> list[dict]``.

Each row is ``{"figure", "value", "unit", "peer", "peer_value", "ratio"}``: a measured
figure, the floor or peer it is compared with (``peer``, ``peer_value``) and
``ratio = value / peer_value`` unless the module defines it otherwise. Run them all with
``scripts/bench`` (``python -m bench [--json] [--only NAME]``).
"""

from __future__ import annotations

import importlib
import time
import traceback
from pathlib import Path
from typing import Any

FIELDS = ("figure", "value", "unit", "peer", "peer_value", "ratio")


def modules() -> list[str]:
    """Names of the benchmark modules (``bench/*.py`` except the runner's own)."""
    here = Path(__file__).parent
    return sorted(p.stem for p in here.glob("*.py") if not p.stem.startswith("_"))


def run_module(name: str) -> list[dict[str, Any]]:
    """Run one module; a module that fails becomes one row carrying its error."""
    started = time.perf_counter()
    try:
        module = importlib.import_module(f"bench.{name}")
        run = getattr(module, "run", None)
        if not callable(run):
            return []
        rows = [_normalise(row) for row in run()]
    except Exception as exc:
        last = traceback.extract_tb(exc.__traceback__)[-1:]
        where = f" at {last[0].filename.rsplit('/', 1)[-1]}:{last[0].lineno}" if last else ""
        rows = [
            {
                "figure": f"{name}: FAILED",
                "value": None,
                "unit": "",
                "peer": "",
                "peer_value": None,
                "ratio": None,
                "error": f"{type(exc).__name__}: {exc}{where}",
            }
        ]
    for row in rows:
        row["module"] = name
        row.setdefault("seconds", round(time.perf_counter() - started, 2))
    return rows


def _normalise(row: dict[str, Any]) -> dict[str, Any]:
    missing = [f for f in ("figure", "value", "unit") if f not in row]
    if missing:
        raise ValueError(f"row without {', '.join(missing)}: {row!r}")
    out = {f: row.get(f) for f in FIELDS}
    if out["ratio"] is None and out["peer_value"] and isinstance(out["value"], int | float):
        out["ratio"] = out["value"] / out["peer_value"]
    out.update({k: v for k, v in row.items() if k not in FIELDS})
    return out


def run_all(only: list[str] | None = None) -> list[dict[str, Any]]:
    """Rows of every module (or only the named ones), in module order."""
    names = modules()
    if only:
        unknown = sorted(set(only) - set(names))
        if unknown:
            raise SystemExit(f"unknown benchmark {', '.join(unknown)}; have: {', '.join(names)}")
        names = [n for n in names if n in only]
    rows: list[dict[str, Any]] = []
    for name in names:
        rows.extend(run_module(name))
    return rows


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 1000 else f"{value:,.0f}"
    return str(value)


def table(rows: list[dict[str, Any]]) -> str:
    """One plain-text table: figure, value, unit, floor or peer, ratio."""
    header = ("figure", "value", "unit", "floor / peer", "peer value", "ratio")
    lines = [
        (
            str(r["figure"]),
            _fmt(r["value"]),
            str(r["unit"] or ""),
            str(r.get("error") or r["peer"] or ""),
            _fmt(r["peer_value"]),
            _fmt(r["ratio"]),
        )
        for r in rows
    ]
    widths = [max(len(h), *(len(line[i]) for line in lines)) for i, h in enumerate(header)]
    widths[3] = min(widths[3], 70)

    def fmt(cells: tuple[str, ...]) -> str:
        out = []
        for i, cell in enumerate(cells):
            if i == 3 and len(cell) > widths[3]:
                cell = cell[: widths[3] - 1] + "…"
            out.append(cell.rjust(widths[i]) if i in (1, 4, 5) else cell.ljust(widths[i]))
        return "  ".join(out).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([fmt(header), rule, *(fmt(line) for line in lines)])
