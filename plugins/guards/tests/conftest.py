from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import pytest
from tradekernel.api import GuardContext, Intent, Position, Quote, Settings

NOW = datetime(2024, 6, 3, 15, 0, tzinfo=UTC)  # a Monday, 11:00 in New York


def intent(symbol="AAA", side="buy", quantity=None, notional=None, **kw) -> Intent:
    if quantity is None and notional is None:
        quantity = 10
    return Intent.create(
        symbol=symbol, side=side, quantity=quantity, notional=notional, as_of=NOW, **kw
    )


def ctx(
    *,
    last=None,
    symbol="AAA",
    positions: dict[str, tuple] | None = None,
    **kw,
) -> GuardContext:
    """A guard context; ``positions`` maps symbol -> (quantity, avg_price[, market_price])."""
    quote = Quote(symbol=symbol, ts=NOW, last=last) if last is not None else None
    pos = {s: Position(s, *values) for s, values in (positions or {}).items()}
    kw.setdefault("as_of", NOW)
    kw.setdefault("account", None)
    return GuardContext(quote=quote, positions=pos, **kw)


def load_settings(tmp_path: Path, body: str) -> Settings:
    path = tmp_path / "plugins.toml"
    path.write_text(body, encoding="utf-8")
    return Settings.load(path, environ={})


@pytest.fixture
def h() -> SimpleNamespace:
    """Test helpers: ``h.intent(...)``, ``h.ctx(...)``, ``h.load_settings(...)``, ``h.NOW``."""
    return SimpleNamespace(intent=intent, ctx=ctx, load_settings=load_settings, NOW=NOW)
