"""Risk evaluation: the always-on kernel checks, then every configured guard.

Precedence is the configured order (``[components] guards``). Every guard runs and
every verdict is kept (the runtime journals them all); any deny wins and the first
deny is named. A guard that raises, or answers something other than a
:class:`~tradekernel.models.GuardVerdict`, is a deny with code ``guard_error``
(fail closed).

The kernel checks run first and cannot be configured away:

* ``trading_state == "halted"``: deny ``trading_halted``;
* ``trading_state == "reducing"``: only intents that reduce a position pass
  (deny ``reducing_only``);
* any other state than ``active``: deny ``unknown_trading_state``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal

import attrs
from attrs import frozen

from .components import Guard, GuardContext
from .models import GuardVerdict, Intent, OrderType, Position, Side

KERNEL_GUARD = "trading_state"
"""The guard name under which the always-on kernel check records its verdict."""

GUARD_ERROR = "guard_error"


@frozen
class RiskResult:
    """The outcome of :func:`evaluate`: every verdict in order, and the first deny."""

    verdicts: list[GuardVerdict]
    allowed: bool
    first_deny: GuardVerdict | None

    @property
    def denials(self) -> list[GuardVerdict]:
        """Every deny verdict, in precedence order."""
        return [v for v in self.verdicts if not v.allow]


def intent_price(intent: Intent, ctx: GuardContext) -> Decimal | None:
    """The price an intent is valued at: its limit price for a limit order, else the
    last price of ``ctx.quote`` (when it quotes the intent's symbol); ``None`` if unknown."""
    if intent.order_type is OrderType.LIMIT and intent.limit_price is not None:
        return intent.limit_price
    quote = ctx.quote
    if quote is not None and quote.symbol == intent.symbol and quote.last > 0:
        return quote.last
    return None


def intent_notional(intent: Intent, price: Decimal | None) -> Decimal | None:
    """The order's value: ``intent.notional``, or quantity x ``price`` (``None`` without price)."""
    if intent.notional is not None:
        return intent.notional
    if price is None or intent.quantity is None:
        return None
    return intent.quantity * price


def intent_quantity(intent: Intent, price: Decimal | None) -> Decimal | None:
    """The order's quantity: ``intent.quantity``, or notional / ``price`` (``None`` if no price)."""
    if intent.quantity is not None:
        return intent.quantity
    if price is None or price <= 0 or intent.notional is None:
        return None
    return intent.notional / price


def signed(intent: Intent, quantity: Decimal) -> Decimal:
    """``quantity`` signed by the intent's side: positive for a buy, negative for a sell."""
    return quantity if intent.side is Side.BUY else -quantity


def reduces_position(
    intent: Intent, positions: Mapping[str, Position], *, price: Decimal | None = None
) -> bool:
    """Whether ``intent`` reduces an existing position without flipping it.

    True when it sells part or all of a long, or buys back part or all of a short.
    A notional intent is converted to a quantity at ``price`` (else the position's
    market price, else its average price); without any price it is not reducing.
    """
    position = positions.get(intent.symbol)
    if position is None or not position.quantity:
        return False
    held = position.quantity
    if (held > 0) == (intent.side is Side.BUY):
        return False  # adds to the position
    if price is None or price <= 0:
        price = position.market_price or position.avg_price
    quantity = intent_quantity(intent, price if price and price > 0 else None)
    return quantity is not None and quantity <= abs(held)


def _kernel_check(intent: Intent, ctx: GuardContext) -> GuardVerdict:
    state = ctx.trading_state
    if state == "active":
        return GuardVerdict.allowed(KERNEL_GUARD)
    if state == "halted":
        return GuardVerdict.denied(KERNEL_GUARD, "trading_halted", "trading is halted")
    if state == "reducing":
        price = intent_price(intent, ctx)
        if reduces_position(intent, ctx.positions, price=price):
            return GuardVerdict.allowed(KERNEL_GUARD, detail="reducing order")
        return GuardVerdict.denied(
            KERNEL_GUARD, "reducing_only", "trading state is reducing: only reducing orders pass"
        )
    return GuardVerdict.denied(
        KERNEL_GUARD, "unknown_trading_state", f"unknown trading state {state!r}"
    )


def _run_guard(name: str, guard: Guard, intent: Intent, ctx: GuardContext) -> GuardVerdict:
    try:
        verdict = guard.check(intent, ctx)
    except Exception as exc:
        return GuardVerdict.denied(name, GUARD_ERROR, f"{type(exc).__name__}: {exc}")
    if not isinstance(verdict, GuardVerdict):
        return GuardVerdict.denied(
            name, GUARD_ERROR, f"TypeError: check() returned {type(verdict).__name__}"
        )
    if verdict.guard != name:  # journal under the configured name
        verdict = attrs.evolve(verdict, guard=name)
    return verdict


def evaluate(guards: Sequence[tuple[str, Guard]], intent: Intent, ctx: GuardContext) -> RiskResult:
    """Run the kernel checks, then every guard in order, on ``intent``.

    Every verdict is returned (the kernel check's first, under the name
    ``trading_state``); the intent is allowed only when every verdict allows it.
    """
    verdicts = [_kernel_check(intent, ctx)]
    verdicts.extend(_run_guard(name, guard, intent, ctx) for name, guard in guards)
    first_deny = next((v for v in verdicts if not v.allow), None)
    return RiskResult(verdicts=verdicts, allowed=first_deny is None, first_deny=first_deny)
