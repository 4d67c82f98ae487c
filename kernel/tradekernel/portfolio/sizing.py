"""Sizing: the kernel step that gives every unsized intent (a direction, or a target
weight) a quantity, before conflicts, budgets and the guards see it.

An intent with a quantity or a notional passes unchanged. A target weight is the
position wanted, as a fraction of the strategy's budget: the kernel turns it into the
quantity that moves the position toward it (never past it, never into a short). A
direction is sized by the strategy's sizer (``[portfolio.sizing]``). Every size is
rounded down to ``[runtime] quantity_step`` and the broker's quantity increment and then
fitted to the broker's order constraints; a size that rounds to zero is dropped as
``size_rounds_to_zero``. See docs/portfolio.md, "Sizing".
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from decimal import ROUND_DOWN, Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

import attrs
from attrs import define, field, frozen

from ..components import DEFAULT_ORDER_CONSTRAINTS, OrderConstraints, SizeRequest, SizeResult
from ..constraints import constraints_or_default, fit
from ..models import Account, Bar, Intent, Position, Quote, Side, to_decimal

if TYPE_CHECKING:
    from ..kernel import Kernel

SIZE_ROUNDS_TO_ZERO = "size_rounds_to_zero"
TARGET_REACHED = "target_reached"
SIZE_NO_PRICE = "size_no_price"
SIZE_NO_BUDGET = "size_no_budget"
SIZER_ERROR = "sizer_error"
SIZE_TOO_LARGE = "size_too_large"
SIZING_CODES = (
    SIZE_ROUNDS_TO_ZERO,
    TARGET_REACHED,
    SIZE_NO_PRICE,
    SIZE_NO_BUDGET,
    SIZER_ERROR,
    SIZE_TOO_LARGE,
)
"""The kernel's own drop codes of this step (a sizer adds its own refusal codes, and the
broker's order constraints theirs: ``quantity_below_minimum``, ...)."""
MAX_UNITS = Decimal("1e15")
"""The most units one sized intent may trade: beyond it decimal arithmetic would round
(an answer of 30 digits comes back larger than asked) or overflow."""
MAX_INPUTS = 30
"""At most this many of a sizer's inputs are recorded (each value cut to 200 characters)."""
TARGET_WEIGHT = "target_weight"
"""The ``sizer`` recorded for an intent sized from its target weight (a kernel rule)."""


@frozen
class Denial:
    """One intent a portfolio step leaves out of the cycle, with a stable ``code``."""

    intent_id: str
    code: str
    detail: str = ""
    symbol: str = ""
    strategy: str = ""


def _no_constraints(_symbol: str) -> OrderConstraints:
    return DEFAULT_ORDER_CONSTRAINTS


@define
class SizingContext:
    """What :func:`size_intents` sizes with: the cycle's market data and account, each
    strategy's budget and sizer, and the broker's order constraints."""

    quotes: Mapping[str, Quote]
    """The latest quote by symbol: its ``last`` is the reference price."""
    sizer_for: Callable[[str], tuple[str, Any]]
    """Strategy name -> ``(sizer name, Sizer)``: see :meth:`for_kernel`."""
    bars: Mapping[str, Sequence[Bar]] = field(factory=dict)
    """The cycle's hydrated bars by symbol, oldest first."""
    positions: Mapping[str, Position] = field(factory=dict)
    """The open positions by symbol."""
    strategy_positions: Mapping[str, Mapping[str, Decimal]] | None = None
    """With several strategies: each strategy's own signed units per symbol (its
    sub-ledger); a strategy's target weight and sell cap then count what it holds, not
    the account. ``None``: every strategy's position is the account's (``positions``)."""
    account: Account | None = None
    """The account snapshot: its equity is the budget of a strategy without one."""
    budgets: Mapping[str, Decimal] = field(factory=dict)
    """Each strategy's budget in the account currency (``[portfolio]`` budgets)."""
    constraints: Callable[[str], OrderConstraints] = _no_constraints
    """Symbol -> the order constraints of the broker it is routed to."""
    quantity_step: Decimal = Decimal(1)
    """``[runtime] quantity_step``: sizes are multiples of it."""
    as_of: datetime | None = None
    """The cycle's market time (UTC)."""
    emit: Callable[..., Any] | None = None
    """``emit(stage, kind, **fields)`` for the ``portfolio`` events; ``None``: none."""

    @classmethod
    def for_kernel(cls, kernel: Kernel, **state: Any) -> SizingContext:
        """A context whose sizers are ``kernel``'s, chosen by ``[portfolio.sizing]``, with
        ``[runtime] quantity_step``, the kernel's ``emit`` and (unless ``constraints`` is
        given) the selected broker's order constraints; ``state`` gives the other
        attributes (``quotes``, ``bars``, ``positions``, ``account``, ``budgets``, ...)."""
        sizing = kernel.settings.portfolio.sizing

        def sizer_for(strategy: str) -> tuple[str, Any]:
            name = sizing.sizer_for(strategy)
            return name, kernel.component("sizer", name)

        def constraints(symbol: str) -> OrderConstraints:
            return constraints_or_default(kernel.component("broker"), symbol)

        state.setdefault("constraints", constraints)
        state.setdefault("quantity_step", Decimal(str(kernel.settings.runtime.quantity_step)))
        state.setdefault("emit", kernel.emit)
        return cls(sizer_for=sizer_for, **state)


class _Dropped(Exception):
    def __init__(self, code: str, detail: str = "") -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


def size_intents(
    intents: Sequence[Intent], ctx: SizingContext
) -> tuple[list[Intent], list[Denial]]:
    """Every intent with a quantity or notional unchanged; every unsized one with the
    quantity its target weight or its strategy's sizer gives, rounded and fitted to the
    broker's order constraints, its choice recorded in ``Intent.sizing``; and a
    :class:`Denial` for each that cannot be sized (order kept)."""
    sized: list[Intent] = []
    denials: list[Denial] = []
    for intent in intents:
        if intent.sized:
            sized.append(intent)
            continue
        try:
            try:
                out = _size(intent, ctx)
            except ArithmeticError as exc:  # never a raise out of the cycle, never a guess
                raise _Dropped(SIZER_ERROR, f"{type(exc).__name__} while sizing") from exc
        except _Dropped as drop:
            denial = Denial(intent.id, drop.code, drop.detail, intent.symbol, intent.strategist)
            denials.append(denial)
            _emit(ctx, "size_dropped", severity="warning", **_denial_fields(denial))
            continue
        sized.append(out)
        _emit(
            ctx,
            "sized",
            intent_id=out.id,
            unsized_id=intent.id,
            symbol=out.symbol,
            strategy=out.strategist,
            sizer=(out.sizing or {}).get("sizer", ""),
            method=(out.sizing or {}).get("method", ""),
            quantity=str(out.quantity),
            inputs=dict(out.sizing or {}),
        )
    return sized, denials


def _size(intent: Intent, ctx: SizingContext) -> Intent:
    quote = ctx.quotes.get(intent.symbol)
    price = quote.last if quote is not None else None
    if price is None or not price.is_finite() or price <= 0:
        raise _Dropped(SIZE_NO_PRICE, f"no positive price for {intent.symbol}")
    budget = ctx.budgets.get(intent.strategist)
    if budget is None and ctx.account is not None:
        budget = ctx.account.equity
    budget = None if budget is None else to_decimal(budget)
    if budget is None or not budget.is_finite() or budget <= 0:
        raise _Dropped(SIZE_NO_BUDGET, f"strategy {intent.strategist!r} has no positive budget")
    held = _held(intent, ctx)
    record: dict[str, Any] = {"price": price, "budget": budget, "held": held}
    if intent.target_weight is not None:
        raw = _toward_weight(intent, price, budget, held)
        record.update(sizer=TARGET_WEIGHT, method=TARGET_WEIGHT, weight=intent.target_weight)
    else:
        raw = _ask_sizer(intent, ctx, price, budget, held, record)
    if raw > MAX_UNITS:
        raise _Dropped(SIZE_TOO_LARGE, f"{_short(raw)} units: above {MAX_UNITS:,.0f}")
    if intent.side is Side.SELL and held > 0 and raw > held:
        record["capped_at_position"] = "true"  # a direction never turns a long into a short
        raw = held
    constraints = ctx.constraints(intent.symbol)
    try:
        step = ctx.quantity_step
        quantity = _down(_down(raw, step), constraints.quantity_increment)
    except InvalidOperation:
        quantity = Decimal(0)
    record.update(raw_quantity=raw, quantity=quantity)
    if quantity <= 0:
        raise _Dropped(
            SIZE_ROUNDS_TO_ZERO,
            f"{raw} rounds down to {quantity} (step {ctx.quantity_step}, "
            f"increment {constraints.quantity_increment})",
        )
    out = _recreate(intent, quantity=quantity, target_weight=None, sizing=_text(record))
    result = fit(out, constraints, price, ctx.quantity_step, held)
    if result.reason is not None:
        raise _Dropped(result.reason, result.detail)
    return _recreate(out, **result.changes) if result.changes else out


def _held(intent: Intent, ctx: SizingContext) -> Decimal:
    """What ``intent``'s strategy holds of its symbol: its own with several strategies,
    else the account's."""
    if ctx.strategy_positions is not None:
        own = ctx.strategy_positions.get(intent.strategist) or {}
        return Decimal(own.get(intent.symbol, 0))
    position = ctx.positions.get(intent.symbol)
    return position.quantity if position is not None else Decimal(0)


def _short(value: Decimal) -> str:
    return f"{value:.6g}" if value.is_finite() else str(value)


def _recreate(intent: Intent, **changes: Any) -> Intent:
    """A copy of ``intent`` with ``changes``, under the id its new content derives."""
    fields = {a.name: getattr(intent, a.name) for a in attrs.fields(Intent)}
    fields.pop("id")
    fields.update(changes)
    return Intent.create(**fields)


def _toward_weight(intent: Intent, price: Decimal, budget: Decimal, held: Decimal) -> Decimal:
    """Units that move ``held`` toward ``target_weight`` x ``budget`` in ``side``'s
    direction; none (``target_reached``) when it is there or past it that way."""
    target = (intent.target_weight or Decimal(0)) * budget / price
    delta = target - held if intent.side is Side.BUY else held - target
    if delta <= 0:
        raise _Dropped(
            TARGET_REACHED,
            f"{intent.side} toward {intent.target_weight} of the budget: holding {held}, "
            f"the target is {target.quantize(Decimal('0.00000001'), ROUND_DOWN)}",
        )
    return delta


def _ask_sizer(
    intent: Intent,
    ctx: SizingContext,
    price: Decimal,
    budget: Decimal,
    held: Decimal,
    record: dict[str, Any],
) -> Decimal:
    request = SizeRequest(
        intent=intent,
        strategy=intent.strategist,
        price=price,
        budget=budget,
        held=held,
        bars=tuple(ctx.bars.get(intent.symbol, ())),
        as_of=ctx.as_of,
    )
    name = "?"
    try:
        name, sizer = ctx.sizer_for(intent.strategist)
        result = sizer.size(request)
        if not isinstance(result, SizeResult):
            raise TypeError(f"returned {type(result).__name__}, not SizeResult")
    except Exception as exc:  # a broken sizer sizes nothing (fail closed)
        raise _Dropped(SIZER_ERROR, f"sizer {name}: {type(exc).__name__}: {exc}") from exc
    if result.code is not None:
        raise _Dropped(result.code, result.detail)
    for key, value in list(result.inputs.items())[:MAX_INPUTS]:
        record.setdefault(str(key)[:40], value)  # the kernel's own inputs are not overwritten
    record.update(sizer=name, method=result.method or name)
    if not result.quantity.is_finite():  # SizeResult refuses it; a forged one must not pass
        raise _Dropped(SIZER_ERROR, f"sizer {name}: quantity {result.quantity}")
    return result.quantity


def _down(value: Decimal, step: Decimal) -> Decimal:
    return (value / step).to_integral_value(rounding=ROUND_DOWN) * step


def _text(record: Mapping[str, Any]) -> dict[str, str]:
    """The sizing record as text (Decimals in one spelling), for the intent and events."""
    out = {}
    for key, value in record.items():
        if isinstance(value, Decimal):
            value = format(value.normalize(), "f") if value.is_finite() else str(value)
        out[str(key)] = str(value)[:200]
    return out


def _denial_fields(denial: Denial) -> dict[str, Any]:
    return {
        "intent_id": denial.intent_id,
        "symbol": denial.symbol,
        "strategy": denial.strategy,
        "code": denial.code,
        "detail": denial.detail,
    }


def _emit(ctx: SizingContext, kind: str, **fields: Any) -> None:
    if ctx.emit is not None:
        ctx.emit("portfolio", kind, **fields)
