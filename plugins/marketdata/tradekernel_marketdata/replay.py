"""``replay``: OHLCV CSV files replayed bar by bar, merged by timestamp.

Files are read lazily (one row at a time per file) and merged with
:func:`heapq.merge`, so memory stays flat however long the files are.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from heapq import merge
from itertools import groupby
from operator import attrgetter
from pathlib import Path
from typing import Any

from attrs import define, field
from loguru import logger
from tradekernel.api import Bar, ConfigError, non_negative, positive

from .csvbars import Rows, read_columns, scan_symbols
from .feed import BarFeed, Step, half_spread
from .sample import SAMPLE_DIR


def _bound(key: str) -> Callable[[Any], datetime | date | None]:
    """The converter of ``start``/``end``: a TOML date or date-time, or an ISO string."""

    def convert(value: Any) -> datetime | date | None:
        if value is None or isinstance(value, datetime | date):
            return value
        if isinstance(value, str):
            text = value.strip()
            try:
                if len(text) == 10:
                    return date.fromisoformat(text)
                return datetime.fromisoformat(text)
            except ValueError:
                pass
        raise ValueError(
            f"{key}: expected a date like 2024-01-02 or an ISO date-time, got {value!r}"
        )

    return convert


@define
class ReplayConfig:
    """``[market_data.replay]``."""

    paths: list[str] = field(factory=list)
    """CSV files or directories of ``*.csv`` (relative to the current directory). Empty:
    the bundled sample (AAA and BBB, 300 daily bars)."""
    symbol_map: dict[str, str] = field(factory=dict)
    """File stem → symbol, for per-symbol files whose name is not the symbol."""
    symbols: list[str] = field(factory=list)
    """Replay only these symbols (empty: every symbol found)."""
    start: Any = field(default=None, converter=_bound("start"))
    """First date or time to replay (inclusive)."""
    end: Any = field(default=None, converter=_bound("end"))
    """Last date or time to replay (inclusive; a date includes that whole day)."""
    window: int = field(default=500, validator=positive)
    half_spread_bps: float = field(default=0.0, validator=[non_negative, half_spread])
    resume: bool = True
    """Continue after the last bar a previous process on this state saw (false: start
    over each time; backtests turn it off)."""


def _as_utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _time_filters(
    start: datetime | date | None, end: datetime | date | None
) -> tuple[Callable[[datetime], bool], Callable[[datetime], bool]]:
    lo = hi = None
    hi_inclusive = True
    if isinstance(start, datetime):
        lo = _as_utc(start)
    elif isinstance(start, date):
        lo = datetime(start.year, start.month, start.day, tzinfo=UTC)
    if isinstance(end, datetime):
        hi, hi_inclusive = _as_utc(end), True
    elif isinstance(end, date):
        hi = datetime(end.year, end.month, end.day, tzinfo=UTC) + timedelta(days=1)
        hi_inclusive = False
    if lo is not None and hi is not None and hi < lo:
        raise ConfigError(f"[market_data.replay] end ({end}) is before start ({start})")

    def keep(ts: datetime) -> bool:
        return lo is None or ts >= lo

    def stop(ts: datetime) -> bool:
        if hi is None:
            return False
        return ts > hi if hi_inclusive else ts >= hi

    return keep, stop


def _expand(paths: list[str]) -> list[Path]:
    if not paths:
        return sorted(SAMPLE_DIR.glob("*.csv"))
    files: list[Path] = []
    for raw in paths:
        path = Path(raw).expanduser()
        if path.is_dir():
            found = sorted(p for p in path.glob("*.csv") if p.is_file())
            if not found:
                raise ConfigError(
                    f"[market_data.replay] paths: {path}: no *.csv files in directory"
                )
            files.extend(found)
        elif path.exists():
            files.append(path)
        else:
            raise ConfigError(f"[market_data.replay] paths: {path}: no such file or directory")
    return files


class ReplayFeed(BarFeed):
    """The ``replay`` market data feed."""

    def __init__(self, config: ReplayConfig) -> None:
        self.config = config
        keep, stop = _time_filters(config.start, config.end)
        wanted = {s.strip().upper() for s in config.symbols}
        mapping = {k.lower(): v.strip().upper() for k, v in config.symbol_map.items()}
        sources: list[Rows] = []
        origin: dict[str, Path] = {}
        remember = config.window + 16  # merging reads a few rows ahead of the clock

        def claim(symbol: str, path: Path) -> bool:
            if wanted and symbol not in wanted:
                return False
            if symbol in origin:
                raise ConfigError(
                    f"[market_data.replay] paths: symbol {symbol} is in both "
                    f"{origin[symbol]} and {path}"
                )
            origin[symbol] = path
            return True

        for path in _expand(config.paths):
            columns = read_columns(path)
            if columns.symbol is None:
                symbol = mapping.get(path.stem.lower(), path.stem.upper())
                if claim(symbol, path):
                    sources.append(
                        Rows(path, columns, symbol=symbol, keep=keep, stop=stop, remember=remember)
                    )
                continue
            found, ordered = scan_symbols(path, columns)
            mine = [s for s in found if claim(s, path)]
            if ordered and len(mine) == len(found):
                sources.append(Rows(path, columns, keep=keep, stop=stop, remember=remember))
            else:  # grouped by symbol (or filtered): one pass over the file per symbol
                sources.extend(
                    Rows(path, columns, only=s, keep=keep, stop=stop, remember=remember)
                    for s in mine
                )
        missing = sorted(wanted - set(origin))
        if missing:
            raise ConfigError(
                f"[market_data.replay] symbols: {', '.join(missing)} not found in any replay file"
            )
        logger.debug("replay: {} symbols from {} sources", len(origin), len(sources))
        self._sources = sources
        super().__init__(
            _steps(sources),
            list(origin),
            window=config.window,
            half_spread_bps=config.half_spread_bps,
        )

    def bar_origin(self, symbol: str, ts: datetime) -> str | None:
        """``file:line`` of the bar of ``symbol`` at ``ts`` (for data-quality events), or
        ``None`` when it is no longer among the recent bars read."""
        for rows in self._sources:
            if (line := rows.line_of(symbol, ts)) is not None:
                return f"{rows.path}:{line}"
        return None


def _steps(sources: list[Rows]) -> Iterator[Step]:
    merged = merge(*(iter(s) for s in sources), key=attrgetter("ts"))
    for ts, group in groupby(merged, key=attrgetter("ts")):
        bars: list[Bar] = list(group)
        yield ts, bars
