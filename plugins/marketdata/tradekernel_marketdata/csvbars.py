"""Reading Yahoo-style OHLCV CSV files lazily, one row at a time.

Columns (matched case-insensitively): ``Date`` (or ``Datetime``/``Timestamp``),
``Open``, ``High``, ``Low``, ``Close``, optional ``Volume`` (0 when absent), optional
``Symbol``; ``Adj Close`` and any other column are ignored. Dates without a time are
midnight UTC; times without an offset are UTC. Rows whose prices are all empty or
``null`` (Yahoo's placeholder for a missing day) are skipped. A number that cannot be a price or a
volume (NaN, infinite, zero or negative, ``Low > High``) is read as written: the kernel's
data screen quarantines that bar and names the file:line; text that is not a number at all
is a :class:`CsvDataError`.
"""

from __future__ import annotations

import csv
from collections import deque
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, NoReturn, TextIO

from attrs import frozen
from tradekernel.api import Bar, ConfigError

MAX_LINE = 64 * 1024
"""The longest line (in characters) a replay file may have."""
PRICE_COLUMNS = ("open", "high", "low", "close")
DATE_ALIASES = ("date", "datetime", "timestamp")
_ZERO = Decimal(0)
_QUIET_NAN = Decimal("NaN")
_MISSING = ("", "null", "nan", "n/a")


class CsvDataError(ConfigError):
    """A row of a replay file cannot be read; the message names the file and line."""


@frozen
class Columns:
    """Positions of the columns this reader uses in one file."""

    date: int
    open: int
    high: int
    low: int
    close: int
    volume: int | None
    symbol: int | None


def _lines(path: Path, fh: TextIO) -> Iterator[str]:
    """The lines of ``fh``, each read with a bounded buffer: a line longer than
    :data:`MAX_LINE` (a binary or sparse file has no line breaks) or one holding NUL bytes
    is a :class:`CsvDataError` naming the file and line, never a huge allocation."""
    readline = fh.readline
    number = 0
    while line := readline(MAX_LINE):
        number += 1
        if len(line) >= MAX_LINE and not line.endswith("\n"):
            raise CsvDataError(
                f"{path}:{number}: line longer than {MAX_LINE:,} characters "
                "(not a CSV file of bars?)"
            )
        if "\x00" in line:
            raise CsvDataError(f"{path}:{number}: NUL bytes in the line (not a CSV text file)")
        yield line


def read_columns(path: Path) -> Columns:
    """Check that ``path`` exists and has the required header; return column positions.

    Reads only the header line (at most :data:`MAX_LINE` characters)."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            header = next(csv.reader(_lines(path, fh)), None)
    except FileNotFoundError:
        raise ConfigError(f"{path}: replay file not found") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text ({exc.reason})") from None
    except csv.Error as exc:
        raise ConfigError(f"{path}:1: unreadable header: {exc}") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read replay file: {exc.strerror}") from None
    if not header:
        raise ConfigError(f"{path}: replay file is empty (expected a header line)")
    names = {name.strip().lower(): i for i, name in enumerate(header)}
    used = (*DATE_ALIASES, *PRICE_COLUMNS, "volume", "symbol")
    lowered = [name.strip().lower() for name in header]
    twice = [name for name in used if lowered.count(name) > 1]
    if twice:  # which of the two holds the prices? refuse to guess
        raise ConfigError(
            f"{path}:1: column(s) {', '.join(t.title() for t in twice)} appear more than "
            f"once in the header ({','.join(header)})"
        )
    date = next((names[a] for a in DATE_ALIASES if a in names), None)
    missing = [c.title() for c in PRICE_COLUMNS if c not in names]
    if date is None:
        missing.insert(0, "Date")
    if missing:
        raise ConfigError(
            f"{path}:1: missing column(s) {', '.join(missing)} "
            f"(expected Date,Open,High,Low,Close,Volume; found {','.join(header)})"
        )
    return Columns(
        date=date,  # type: ignore[arg-type]
        open=names["open"],
        high=names["high"],
        low=names["low"],
        close=names["close"],
        volume=names.get("volume"),
        symbol=names.get("symbol"),
    )


def parse_time(text: str) -> datetime:
    """``2024-01-02`` → midnight UTC; ISO date-times keep their offset, naive ones are UTC."""
    value = datetime.fromisoformat(text.strip())
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


class Rows:
    """Iterate over the bars of one CSV file, validating each row.

    ``symbol`` names the bars of a per-symbol file; for a file with a ``Symbol`` column
    pass ``None`` and optionally ``only`` (keep only that symbol). ``keep(ts)`` filters
    by time and ``stop(ts)`` ends the file early (rows are in increasing time order).
    """

    def __init__(
        self,
        path: Path,
        columns: Columns,
        *,
        symbol: str | None = None,
        only: str | None = None,
        keep: Callable[[datetime], bool] = lambda ts: True,
        stop: Callable[[datetime], bool] = lambda ts: False,
        remember: int = 0,
    ) -> None:
        self.path = path
        self.columns = columns
        self.symbol = symbol
        self.only = only
        self.keep = keep
        self.stop = stop
        self.remember = remember
        self._lines: dict[str, deque[tuple[datetime, int]]] = {}
        self._reader: Any = None

    @property
    def _line(self) -> int:
        return self._reader.line_num if self._reader is not None else 1

    def line_of(self, symbol: str, ts: datetime) -> int | None:
        """The line of the bar of ``symbol`` at ``ts``, among the last ``remember`` bars
        this reader yielded for it (``None`` when not among them)."""
        for when, line in reversed(self._lines.get(symbol, ())):
            if when == ts:
                return line
        return None

    def __iter__(self) -> Iterator[Bar]:
        try:
            yield from self._rows()
        except UnicodeDecodeError as exc:
            raise CsvDataError(f"{self.path}: not UTF-8 text ({exc.reason})") from None
        except csv.Error as exc:
            raise CsvDataError(f"{self.path}:{self._line}: unreadable CSV row: {exc}") from None

    def _rows(self) -> Iterator[Bar]:
        c = self.columns
        width = 1 + max(
            i for i in (c.date, c.open, c.high, c.low, c.close, c.volume, c.symbol) if i is not None
        )
        previous: dict[str, datetime] = {}
        lines = self._lines
        remember = self.remember
        with self.path.open(newline="", encoding="utf-8-sig") as fh:
            reader = self._reader = csv.reader(_lines(self.path, fh))
            next(reader, None)
            for row in reader:
                if not row or not any(cell.strip() for cell in row):
                    continue
                line = reader.line_num
                if len(row) < width:
                    self._fail(line, f"expected at least {width} fields, found {len(row)}")
                symbol = self.symbol
                if symbol is None:
                    symbol = row[c.symbol].strip().upper()  # type: ignore[index]
                    if not symbol:
                        self._fail(line, "Symbol is empty")
                    if self.only is not None and symbol != self.only:
                        continue
                try:
                    ts = parse_time(row[c.date])
                except ValueError:
                    self._fail(
                        line, f"Date: expected an ISO date like 2024-01-02, got {row[c.date]!r}"
                    )
                before = previous.get(symbol)
                if before is not None and ts <= before:
                    self._fail(
                        line,
                        f"{symbol} {row[c.date].strip()} is not after the previous row "
                        f"({before.isoformat()}): rows must be in increasing time order",
                    )
                previous[symbol] = ts
                if self.stop(ts):  # callers pass stop only for rows in time order
                    return
                if not self.keep(ts):
                    continue
                prices = [row[i].strip() for i in (c.open, c.high, c.low, c.close)]
                if all(p.lower() in _MISSING for p in prices):
                    continue
                o, h, lo, cl = (
                    self._number(line, name, p)
                    for name, p in zip(PRICE_COLUMNS, prices, strict=True)
                )
                volume = _ZERO
                if c.volume is not None and row[c.volume].strip().lower() not in _MISSING:
                    volume = self._number(line, "volume", row[c.volume].strip())
                if remember:
                    if (where := lines.get(symbol)) is None:
                        where = lines[symbol] = deque(maxlen=remember)
                    where.append((ts, line))
                yield Bar(symbol=symbol, ts=ts, open=o, high=h, low=lo, close=cl, volume=volume)

    def _number(self, line: int, name: str, text: str) -> Decimal:
        """A number as written; an impossible one (NaN, infinite, negative, zero) is kept
        for the kernel's data screen, which quarantines the bar with its file:line."""
        try:
            value = Decimal(text)
        except InvalidOperation:
            self._fail(line, f"{name.title()}: expected a number, got {text!r}")
        return _QUIET_NAN if value.is_snan() else value  # a signalling NaN raises when compared

    def _fail(self, line: int, message: str) -> NoReturn:
        raise CsvDataError(f"{self.path}:{line}: {message}")


def scan_symbols(path: Path, columns: Columns) -> tuple[list[str], bool]:
    """The symbols of a file with a ``Symbol`` column (first-seen order), and whether its
    rows are in time order overall (then one pass serves every symbol)."""
    symbols: dict[str, None] = {}
    ordered = True
    last: datetime | None = None
    for bar in Rows(path, columns):
        symbols.setdefault(bar.symbol, None)
        if last is not None and bar.ts < last:
            ordered = False
        last = bar.ts
    return list(symbols), ordered
