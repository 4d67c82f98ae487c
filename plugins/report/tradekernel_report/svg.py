"""Hand-rolled, deterministic inline SVG charts for the dashboard (no JS, no network).

Every drawn mark of a chart carries ``class="series"`` (a ``<g>`` per line series, a
``<rect>`` per bar), so a check can tell a rendered chart from an empty one; an empty
chart is drawn as an explicit ``no data`` panel (``class="no-data"``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from html import escape

from attrs import frozen

W, H = 640, 260
LEFT, RIGHT, TOP, BOTTOM = 64, 16, 28, 36
PLOT_W, PLOT_H = W - LEFT - RIGHT, H - TOP - BOTTOM
PALETTE = ("#2563eb", "#dc2626", "#16a34a", "#d97706", "#7c3aed", "#0891b2")


@frozen
class Series:
    """One named line or bar series; ``None`` values are gaps."""

    name: str
    values: Sequence[float | None]
    color: str = PALETTE[0]


def _svg(title: str, body: str, height: int = H, axis: str | None = None) -> str:
    x_axis = f' data-x-axis="{escape(axis)}"' if axis else ""
    return (
        f'<svg class="chart-svg" viewBox="0 0 {W} {height}" width="100%" role="img"{x_axis} '
        f'preserveAspectRatio="xMidYMid meet"><title>{escape(title)}</title>{body}</svg>'
    )


def no_data(title: str, message: str = "no data") -> str:
    """The explicit empty state of a chart."""
    body = (
        f'<rect class="no-data-bg" x="1" y="1" width="{W - 2}" height="{H - 2}" rx="6" '
        'fill="#f8fafc" stroke="#cbd5e1" stroke-dasharray="6 4"/>'
        f'<text class="no-data" x="{W / 2}" y="{H / 2}" text-anchor="middle" '
        f'dominant-baseline="middle" fill="#64748b" font-size="18">{escape(message)}</text>'
    )
    return _svg(title, body)


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round tick values covering ``[low, high]`` (about ``count`` of them)."""
    if high <= low:
        pad = abs(high) * 0.05 or 1.0
        low, high = low - pad, high + pad
    raw = (high - low) / max(1, count - 1)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    first = math.floor(low / step) * step
    ticks = []
    value = first
    while value < high + step * 0.999:
        ticks.append(round(value, 10))
        value += step
    return ticks


def _fmt(value: float) -> str:
    if abs(value) >= 1e6:
        return f"{value / 1e6:.3g}M"
    if abs(value) >= 1e4:
        return f"{value / 1e3:.4g}k"
    return f"{value:.6g}"


class _Axes:
    def __init__(self, y_ticks: list[float]) -> None:
        self.y0, self.y1 = y_ticks[0], y_ticks[-1]
        self.y_ticks = y_ticks

    def y(self, value: float) -> float:
        return round(TOP + PLOT_H - (value - self.y0) / (self.y1 - self.y0) * PLOT_H, 2)

    def grid(self, unit: str) -> str:
        parts = []
        for tick in self.y_ticks:
            y = self.y(tick)
            parts.append(
                f'<line x1="{LEFT}" x2="{W - RIGHT}" y1="{y}" y2="{y}" stroke="#e2e8f0"/>'
                f'<text x="{LEFT - 6}" y="{y}" text-anchor="end" dominant-baseline="middle" '
                f'font-size="11" fill="#475569">{escape(_fmt(tick))}</text>'
            )
        if unit:
            parts.append(
                f'<text x="4" y="{TOP - 12}" font-size="11" fill="#475569">{escape(unit)}</text>'
            )
        parts.append(
            f'<line x1="{LEFT}" x2="{W - RIGHT}" y1="{TOP + PLOT_H}" y2="{TOP + PLOT_H}" '
            'stroke="#94a3b8"/>'
        )
        return "".join(parts)


def _legend(series: Sequence[Series]) -> str:
    """Swatches and names, right-aligned above the plot (the unit sits on the left)."""
    parts = []
    x = W - RIGHT - sum(24 + 7 * len(s.name) for s in series)
    for s in series:
        parts.append(
            f'<rect x="{x}" y="8" width="10" height="10" fill="{s.color}"/>'
            f'<text x="{x + 14}" y="17" font-size="12" fill="#1e293b">{escape(s.name)}</text>'
        )
        x += 24 + 7 * len(s.name)
    return "".join(parts)


def _x_labels(labels: Sequence[tuple[float, str]]) -> str:
    return "".join(
        f'<text x="{round(x, 2)}" y="{H - BOTTOM + 16}" text-anchor="middle" font-size="11" '
        f'fill="#475569">{escape(text)}</text>'
        for x, text in labels
    )


def _y_range(values: list[float], zero: bool) -> list[float]:
    low, high = min(values), max(values)
    if zero:
        low, high = min(low, 0.0), max(high, 0.0)
    return nice_ticks(low, high)


def time_line_chart(
    title: str,
    times: Sequence[datetime],
    series: Sequence[Series],
    unit: str,
    axis: str = "wall-clock time (UTC)",
) -> str:
    """Lines over time (x = ``times``, captioned ``axis``: the market clock of a replay or
    the wall clock); ``no data`` when no value is present. Ticks are times of day over a
    short span, dates over days, months over years."""
    values = [v for s in series for v in s.values if v is not None]
    if not times or not values:
        return no_data(title)
    t0, t1 = min(times), max(times)
    if t1 - t0 < timedelta(minutes=1):
        t0, t1 = t0 - timedelta(minutes=30), t1 + timedelta(minutes=30)
    span = (t1 - t0).total_seconds()

    def x(ts: datetime) -> float:
        return round(LEFT + (ts - t0).total_seconds() / span * PLOT_W, 2)

    axes = _Axes(_y_range(values, zero=False))
    body = [_legend(series), axes.grid(unit)]
    for s in series:
        points = [(x(t), axes.y(v)) for t, v in zip(times, s.values, strict=True) if v is not None]
        body.append(_line(s, points))
    pattern = "%H:%M" if span <= 86400 else ("%b %d" if span <= 400 * 86400 else "%Y-%m")
    body.append(
        _x_labels([(x(t), t.astimezone(UTC).strftime(pattern)) for t in _time_ticks(t0, t1)])
    )
    body.append(_x_caption(axis))
    return _svg(title, "".join(body), axis=axis)


def index_line_chart(title: str, series: Sequence[Series], unit: str, axis: str = "cycle") -> str:
    """Lines over the position of each value (x = 1, 2, ... captioned ``axis``), for a
    session whose clock cannot place the points (a replay restarted within the day)."""
    values = [v for s in series for v in s.values if v is not None]
    count = max((len(s.values) for s in series), default=0)
    if not values:
        return no_data(title)
    last = max(count - 1, 1)

    def x(i: float) -> float:
        return round(LEFT + i / last * PLOT_W, 2)

    axes = _Axes(_y_range(values, zero=False))
    body = [_legend(series), axes.grid(unit)]
    for s in series:
        body.append(_line(s, [(x(i), axes.y(v)) for i, v in enumerate(s.values) if v is not None]))
    ticks = [t for t in nice_ticks(1, max(count, 2)) if 1 <= t <= count]
    body.append(_x_labels([(x(t - 1), f"{t:g}") for t in ticks]))
    body.append(_x_caption(axis))
    return _svg(title, "".join(body), axis=axis)


def _x_caption(axis: str) -> str:
    return (
        f'<text class="x-axis" x="{W - RIGHT}" y="{H - 4}" text-anchor="end" font-size="11" '
        f'fill="#64748b">{escape(axis)}</text>'
    )


_TICK_MINUTES = (1, 2, 5, 10, 15, 30, 60, 120, 180, 240, 360, 720)
_TICK_DAYS = (1, 2, 7, 14, 30, 61, 91, 182, 365, 730, 1826, 3652)


def _time_ticks(t0: datetime, t1: datetime) -> list[datetime]:
    span_min = (t1 - t0).total_seconds() / 60
    step = next((m for m in _TICK_MINUTES if span_min / m <= 6), None)
    if step is None:
        days = next((d for d in _TICK_DAYS if span_min / (d * 1440) <= 6), _TICK_DAYS[-1])
        start = t0.replace(hour=0, minute=0, second=0, microsecond=0)
        return _stepping(start, t0, t1, timedelta(days=days))
    start = t0.replace(second=0, microsecond=0)
    start += timedelta(minutes=(-start.minute) % step if step <= 60 else 0)
    if step > 60:
        start = start.replace(minute=0) + timedelta(hours=(-start.hour) % (step // 60))
    return _stepping(start, t0, t1, timedelta(minutes=step))


def _stepping(start: datetime, t0: datetime, t1: datetime, step: timedelta) -> list[datetime]:
    ticks = []
    while start <= t1:
        if start >= t0:
            ticks.append(start)
        start += step
    return ticks


def _line(s: Series, points: list[tuple[float, float]]) -> str:
    path = " ".join(f"{'M' if i == 0 else 'L'}{px},{py}" for i, (px, py) in enumerate(points))
    dots = "".join(f'<circle cx="{px}" cy="{py}" r="2.5" fill="{s.color}"/>' for px, py in points)
    if len(points) > 60:
        dots = ""  # a dense curve reads better without markers
    if len(points) == 1:
        dots = f'<circle cx="{points[0][0]}" cy="{points[0][1]}" r="3.5" fill="{s.color}"/>'
    return (
        f'<g class="series" data-series="{escape(s.name)}">'
        f'<path d="{path}" fill="none" stroke="{s.color}" stroke-width="2"/>{dots}</g>'
    )


def hourly_chart(
    title: str, series: Sequence[Series], unit: str, *, kind: str = "bar", stacked: bool = False
) -> str:
    """24 hourly slots: bars (stacked or side by side) or lines with gaps for ``None``."""
    values = [v for s in series for v in s.values if v is not None]
    if not values or not any(values):
        return no_data(title)
    if stacked:
        totals = [sum(s.values[h] or 0 for s in series) for h in range(24)]
        values = [*values, *totals]
    axes = _Axes(_y_range(values, zero=True))
    slot = PLOT_W / 24
    body = [_legend(series), axes.grid(unit)]
    if kind == "line":
        for s in series:
            segments: list[list[tuple[float, float]]] = [[]]
            for h, v in enumerate(s.values):
                if v is None:
                    segments.append([])
                else:
                    segments[-1].append((round(LEFT + slot * (h + 0.5), 2), axes.y(v)))
            points = [p for seg in segments for p in seg]
            if points:
                body.append(_gapped_line(s, [seg for seg in segments if seg]))
    else:
        body.append(_bars(series, axes, slot, stacked))
    body.append(_x_labels([(LEFT + slot * (h + 0.5), f"{h:02d}") for h in range(0, 24, 3)]))
    return _svg(title, "".join(body))


def _gapped_line(s: Series, segments: list[list[tuple[float, float]]]) -> str:
    path = " ".join(
        " ".join(f"{'M' if i == 0 else 'L'}{px},{py}" for i, (px, py) in enumerate(seg))
        for seg in segments
    )
    dots = "".join(
        f'<circle cx="{px}" cy="{py}" r="3" fill="{s.color}"/>'
        for seg in segments
        for px, py in seg
    )
    return (
        f'<g class="series" data-series="{escape(s.name)}">'
        f'<path d="{path}" fill="none" stroke="{s.color}" stroke-width="2"/>{dots}</g>'
    )


def _bars(series: Sequence[Series], axes: _Axes, slot: float, stacked: bool) -> str:
    parts = []
    width = slot * 0.7 if stacked else slot * 0.7 / len(series)
    base = axes.y(0.0)
    for h in range(24):
        offset = 0.0
        for i, s in enumerate(series):
            v = s.values[h]
            if not v:
                continue
            x = LEFT + slot * h + slot * 0.15 + (0 if stacked else i * width)
            top = axes.y(offset + v) if stacked else axes.y(v)
            bottom = axes.y(offset) if stacked else base
            parts.append(
                f'<rect class="series" data-series="{escape(s.name)}" x="{round(x, 2)}" '
                f'y="{min(top, bottom)}" width="{round(width, 2)}" '
                f'height="{round(max(abs(bottom - top), 1.0), 2)}" fill="{s.color}">'
                f"<title>{h:02d}:00 {escape(s.name)}: {escape(_fmt(v))}</title></rect>"
            )
            if stacked:
                offset += v
    return "".join(parts)


def hbar_chart(title: str, items: Sequence[tuple[str, float]], color: str = PALETTE[0]) -> str:
    """Horizontal bars, one per labelled value (largest first); ``no data`` when empty."""
    items = [(label, value) for label, value in items if value]
    if not items:
        return no_data(title)
    items = sorted(items, key=lambda kv: (-kv[1], kv[0]))
    row = 26
    height = max(140, TOP + row * len(items) + 16)
    label_w = 180
    top = max(abs(v) for _, v in items)
    span = W - label_w - 80
    parts = []
    for i, (label, value) in enumerate(items):
        y = TOP + i * row
        w = max(2.0, abs(value) / top * span)
        parts.append(
            f'<text x="{label_w - 8}" y="{y + row / 2}" text-anchor="end" '
            f'dominant-baseline="middle" font-size="12" fill="#1e293b">{escape(label[:28])}</text>'
            f'<rect class="series" data-series="{escape(label)}" x="{label_w}" y="{y + 4}" '
            f'width="{round(w, 2)}" height="{row - 8}" rx="3" fill="{color}">'
            f"<title>{escape(label)}: {escape(_fmt(value))}</title></rect>"
            f'<text x="{label_w + w + 6}" y="{y + row / 2}" dominant-baseline="middle" '
            f'font-size="12" fill="#1e293b">{escape(_fmt(value))}</text>'
        )
    return _svg(title, "".join(parts), height)
