"""Default skills: market skills read the selected market data feed, account skills the
selected broker. A plugin may register its own implementation under another name and
select it in ``[components] skills``."""

from __future__ import annotations

from typing import Any

from ..components import ComponentContext, SkillRequest
from ..hookspecs import hookimpl


class _Delegate:
    def __init__(self, ctx: ComponentContext, kind: str) -> None:
        self._ctx = ctx
        self._kind = kind

    @property
    def target(self) -> Any:
        return self._ctx.resolve(self._kind)


class MarketQuote(_Delegate):
    """Latest quote per symbol from the market data feed."""

    def fetch(self, request: SkillRequest) -> dict[str, Any]:
        return {s: q for s in request.symbols if (q := self.target.quote(s)) is not None}


class MarketBars(_Delegate):
    """Recent bars per symbol (``params.limit``, default ``[runtime] bars_lookback``)."""

    def fetch(self, request: SkillRequest) -> dict[str, Any]:
        limit = int(request.params.get("limit", self._ctx.settings.runtime.bars_lookback))
        return {s: self.target.bars(s, limit) for s in request.symbols}


class AccountPositions(_Delegate):
    """Open positions by symbol, and the account snapshot under ``"_account"``."""

    def fetch(self, request: SkillRequest) -> dict[str, Any]:
        broker = self.target
        return {"positions": {p.symbol: p for p in broker.positions()}, "account": broker.account()}


class AccountOrders(_Delegate):
    """Open orders at the broker."""

    def fetch(self, request: SkillRequest) -> list[Any]:
        return self.target.orders(open_only=True)


class OrderStatus(_Delegate):
    """Status of the orders named in ``params.client_order_ids``."""

    def fetch(self, request: SkillRequest) -> dict[str, Any]:
        ids = request.params.get("client_order_ids", [])
        return {cid: self.target.get_order(cid) for cid in ids}


@hookimpl
def register_skills(register):
    register(
        "market.quote",
        lambda config, ctx: MarketQuote(ctx, "market_data"),
        description=_about(MarketQuote),
    )
    register(
        "market.bars",
        lambda config, ctx: MarketBars(ctx, "market_data"),
        description=_about(MarketBars),
    )
    register(
        "account.positions",
        lambda config, ctx: AccountPositions(ctx, "broker"),
        description=_about(AccountPositions),
    )
    register(
        "account.orders",
        lambda config, ctx: AccountOrders(ctx, "broker"),
        description=_about(AccountOrders),
    )
    register(
        "order.status",
        lambda config, ctx: OrderStatus(ctx, "broker"),
        description=_about(OrderStatus),
    )


def _about(cls: type) -> str:
    """The first line of ``cls``'s docstring: its description in ``plugins list``."""
    return (cls.__doc__ or "").strip().split("\n")[0]
