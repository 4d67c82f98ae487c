"""Backtest outputs in ``--out DIR``: ``equity.csv`` and ``trades.csv`` (streamed while the
backtest runs), ``metrics.json`` and ``report.html`` (metrics and the equity curve as a
self-contained inline SVG)."""

from __future__ import annotations

import csv
import html
import json
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from .metrics import TRADE_COLUMNS

CHART_POINTS = 1000
"""The chart keeps between this many and twice as many points, however long the run."""


class Downsampler:
    """Keeps every ``stride``-th point, doubling the stride when the buffer fills, so the
    chart's memory is bounded (the last point is always kept)."""

    def __init__(self, points: int = CHART_POINTS) -> None:
        self.points = points
        self.stride = 1
        self.seen = 0
        self.kept: list[tuple[datetime, float]] = []
        self.last: tuple[datetime, float] | None = None

    def add(self, ts: datetime, value: float) -> None:
        if self.seen % self.stride == 0:
            self.kept.append((ts, value))
            if len(self.kept) >= 2 * self.points:
                self.kept = self.kept[::2]
                self.stride *= 2
        self.seen += 1
        self.last = (ts, value)

    def series(self) -> list[tuple[datetime, float]]:
        if self.last is not None and (not self.kept or self.kept[-1] != self.last):
            return [*self.kept, self.last]
        return list(self.kept)


class OutputWriter:
    """Streams equity rows and trade rows to CSV files in ``out_dir``."""

    def __init__(self, out_dir: Path) -> None:
        out_dir.mkdir(parents=True, exist_ok=True)
        self.out_dir = out_dir
        self._equity_fh: IO[str] = (out_dir / "equity.csv").open("w", newline="")
        self._equity = csv.writer(self._equity_fh)
        self._equity.writerow(["ts", "equity", "cash", "exposed"])
        self._trades_fh: IO[str] = (out_dir / "trades.csv").open("w", newline="")
        self._trades = csv.DictWriter(self._trades_fh, fieldnames=TRADE_COLUMNS)
        self._trades.writeheader()

    def equity(self, ts: datetime, equity: Any, cash: Any, exposed: bool) -> None:
        self._equity.writerow([ts.isoformat(), equity, cash, int(exposed)])

    def trade(self, row: dict[str, Any]) -> None:
        self._trades.writerow(row)

    def close(self) -> None:
        self._equity_fh.close()
        self._trades_fh.close()


def write_metrics(out_dir: Path, metrics: dict[str, Any]) -> Path:
    path = out_dir / "metrics.json"
    path.write_text(json.dumps(metrics, indent=2, default=str) + "\n")
    return path


def equity_svg(series: list[tuple[datetime, float]], width: int = 900, height: int = 300) -> str:
    """The equity curve as an inline SVG polyline with min/max labels."""
    if not series:
        return "<p>No bars.</p>"
    pad = 40
    values = [v for _, v in series]
    lo, hi = min(values), max(values)
    span = (hi - lo) or 1.0
    n = max(len(series) - 1, 1)
    points = " ".join(
        f"{pad + i * (width - 2 * pad) / n:.1f},"
        f"{height - pad - (v - lo) * (height - 2 * pad) / span:.1f}"
        for i, (_, v) in enumerate(series)
    )
    first, last = series[0][0].date().isoformat(), series[-1][0].date().isoformat()
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="equity curve">'
        f'<rect width="{width}" height="{height}" fill="#fff" stroke="#ccc"/>'
        f'<polyline fill="none" stroke="#1f6feb" stroke-width="1.5" points="{points}"/>'
        f'<text x="4" y="{pad}" font-size="11">{hi:,.2f}</text>'
        f'<text x="4" y="{height - pad}" font-size="11">{lo:,.2f}</text>'
        f'<text x="{pad}" y="{height - 10}" font-size="11">{first}</text>'
        f'<text x="{width - pad}" y="{height - 10}" font-size="11" '
        f'text-anchor="end">{last}</text></svg>'
    )


def write_html(
    out_dir: Path, metrics: dict[str, Any], series: list[tuple[datetime, float]]
) -> Path:
    rows = "".join(
        f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(_fmt(v))}</td></tr>"
        for k, v in metrics.items()
        if not isinstance(v, dict | list)
    )
    denials = metrics.get("guard_denials") or {}
    denial_rows = "".join(
        f"<tr><th>{html.escape(str(code))}</th><td>{count}</td></tr>"
        for code, count in denials.items()
    )
    denial_table = f"<h2>Guard denials</h2><table>{denial_rows}</table>" if denial_rows else ""
    strategies_table = _strategies(metrics.get("strategies") or {})
    title = f"Backtest: {html.escape(str(metrics.get('strategist', '')))}"
    page = (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>{title}</title><style>body{{font-family:sans-serif;margin:2em}}"
        "table{border-collapse:collapse}th,td{padding:2px 10px;text-align:left;"
        "border-bottom:1px solid #eee}</style></head><body>"
        f"<h1>{title}</h1><h2>Equity</h2>{equity_svg(series)}"
        f"<h2>Metrics</h2><table>{rows}</table>{strategies_table}{denial_table}"
        "<p>Trades: trades.csv. Equity per bar: equity.csv.</p></body></html>\n"
    )
    path = out_dir / "report.html"
    path.write_text(page)
    return path


STRATEGY_KEYS = (
    "capital",
    "total_return",
    "pnl",
    "realized_pnl",
    "unrealized_pnl",
    "commissions",
    "trades",
    "max_drawdown",
    "exposure",
    "sharpe",
)


def _strategies(strategies: dict[str, dict[str, Any]]) -> str:
    """Each strategy's numbers (a backtest of several strategies), escaped."""
    if not strategies:
        return ""
    head = "".join(f"<th>{html.escape(k)}</th>" for k in ("strategy", *STRATEGY_KEYS))
    body = "".join(
        "<tr><th>"
        + html.escape(str(name))
        + "</th>"
        + "".join(f"<td>{html.escape(_fmt(row.get(k)))}</td>" for k in STRATEGY_KEYS)
        + "</tr>"
        for name, row in strategies.items()
    )
    return f"<h2>Strategies</h2><table><tr>{head}</tr>{body}</table>"


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return "" if value is None else str(value)
