"""Turn a model's JSON answer into a valid :class:`~tradekernel.models.Decision`.

Nothing here raises: anything unusable becomes a hold with an ``error_type``.
Rules (see docs/llm.md, "Normalization"):

* ``decision`` is the string ``trade`` or ``hold`` (case-insensitive); any other value,
  of any type, is a ``schema_violation``; ``hold`` wins over intents. Without a
  ``decision``, a non-empty ``intents`` list means trade.
* a bare intent object (``symbol``, no ``decision`` or ``intents``) or a non-empty bare
  list of objects is read as ``{"decision": "trade", "intents": [...]}``.
* symbols are stripped and upper-cased and must be among ``inputs.candidates``.
* sides: ``buy``/``long`` → buy; ``sell``/``short`` → sell; ``close`` → sell the held
  quantity (an intent to close a symbol that is not held is dropped).
* amounts: numbers or numeric strings, positive and finite. Exactly one of
  ``quantity`` and ``notional``; when both are given, ``quantity`` wins. When neither
  is given, ``default_quantity`` is used if configured, else the intent is dropped.
* ``confidence`` is clamped to 0..1 (missing: 0.5; not a number: dropped).
* invalid intents are dropped with a recorded reason; if none remain, the decision is
  a hold whose ``error_type`` is the first intent's failure.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from attrs import frozen
from tradekernel.components import StrategyInput
from tradekernel.models import Decision, Intent, OrderType, TimeInForce

from .schema import SCHEMA_VERSION

STRATEGIST = "llm"
SIDES = {"buy": "buy", "long": "buy", "sell": "sell", "short": "sell", "close": "close"}
MAX_RATIONALE = 500
DEFAULT_CONFIDENCE = 0.5
DECISIONS = ("trade", "hold")
DECISION_KEYS = {"decision", "intents"}
"""Keys of a full answer: an object with any of them is not a bare intent."""
MAX_AMOUNT = Decimal(10) ** 12
"""Amounts above this are implausible and rejected (guards still size every order)."""


class Invalid(Exception):
    """One intent cannot be used; ``error_type`` is a stable code."""

    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(message)
        self.error_type = error_type


@frozen
class NormalizeOptions:
    prompt_version: str = "v1"
    max_intents: int = 3
    default_quantity: Decimal | None = None


_GROUPED = re.compile(r"\d{1,3}(,\d{3})+(\.\d+)?")


def to_amount(value: Any, name: str) -> Decimal | None:
    """A positive finite Decimal from a number or numeric string; ``None`` if absent."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise Invalid("schema_violation", f"{name}: expected a number, got {type(value).__name__}")
    text: Any = value
    if isinstance(value, str):
        text = value.strip().lstrip("$")
        if "," in text:  # only thousands grouping: "0,5" must not become 5
            if not _GROUPED.fullmatch(text):
                raise Invalid("schema_violation", f"{name}: ambiguous number {value[:40]!r}")
            text = text.replace(",", "")
    try:
        amount = Decimal(repr(text)) if isinstance(text, float) else Decimal(text)
    except (InvalidOperation, ValueError):
        raise Invalid("schema_violation", f"{name}: {str(value)[:40]!r} is not a number") from None
    if not amount.is_finite() or amount <= 0 or amount > MAX_AMOUNT:
        raise Invalid("schema_violation", f"{name}: must be a positive number, got {amount}")
    return amount


def _confidence(value: Any) -> float:
    if value is None:
        return DEFAULT_CONFIDENCE
    if isinstance(value, bool):
        raise Invalid("schema_violation", "confidence: expected a number")
    try:
        number = float(Decimal(value.strip()) if isinstance(value, str) else value)
    except (InvalidOperation, ValueError, TypeError, OverflowError):
        raise Invalid("schema_violation", "confidence: expected a number") from None
    if not math.isfinite(number):
        raise Invalid("schema_violation", "confidence: not a finite number")
    return min(1.0, max(0.0, number))


def _enum(value: Any, enum: type, default: Any, name: str) -> Any:
    if value is None or value == "":
        return default
    if not isinstance(value, str):
        raise Invalid("schema_violation", f"{name}: expected a string")
    try:
        return enum(value.strip().lower())
    except ValueError:
        raise Invalid("schema_violation", f"{name}: unknown value {value[:40]!r}") from None


def normalize_intent(raw: Any, inputs: StrategyInput, options: NormalizeOptions) -> Intent:
    """One valid :class:`Intent` from one raw intent object, or :class:`Invalid`."""
    if not isinstance(raw, Mapping):
        raise Invalid("schema_violation", "an intent must be a JSON object")
    symbol = raw.get("symbol")
    if not isinstance(symbol, str) or not symbol.strip():
        raise Invalid("schema_violation", "symbol: missing")
    symbol = symbol.strip().upper()
    candidates = {c.strip().upper() for c in inputs.candidates}
    if symbol not in candidates:
        raise Invalid("unknown_symbol", f"symbol {symbol[:20]!r} is not a candidate")
    side_raw = raw.get("side")
    side = SIDES.get(side_raw.strip().lower()) if isinstance(side_raw, str) else None
    if side is None:
        raise Invalid("schema_violation", f"side: unknown value {str(side_raw)[:20]!r}")
    quantity = to_amount(raw.get("quantity"), "quantity")
    notional = to_amount(raw.get("notional"), "notional")
    if side == "close":
        position = inputs.positions.get(symbol)
        held = position.quantity if position is not None else Decimal(0)
        if held <= 0:
            raise Invalid("schema_violation", f"close {symbol}: no long position to close")
        side, quantity, notional = "sell", held, None
    if quantity is not None:
        notional = None  # both given: quantity wins (documented)
    elif notional is None:
        if options.default_quantity is None:
            raise Invalid("missing_amount", "neither quantity nor notional given")
        quantity = options.default_quantity
    order_type = _enum(raw.get("order_type"), OrderType, OrderType.MARKET, "order_type")
    limit_price = to_amount(raw.get("limit_price"), "limit_price")
    if order_type is OrderType.MARKET:
        limit_price = None
    elif limit_price is None:
        raise Invalid("schema_violation", "limit_price: a limit order needs one")
    tif = _enum(raw.get("time_in_force"), TimeInForce, TimeInForce.DAY, "time_in_force")
    rationale = raw.get("rationale")
    rationale = rationale[:MAX_RATIONALE] if isinstance(rationale, str) else ""
    try:
        return Intent.create(
            symbol=symbol,
            side=side,
            quantity=quantity,
            notional=notional,
            order_type=order_type,
            limit_price=limit_price,
            time_in_force=tif,
            rationale=rationale,
            confidence=_confidence(raw.get("confidence")),
            strategist=STRATEGIST,
            prompt_version=options.prompt_version,
            schema_version=SCHEMA_VERSION,
            as_of=inputs.as_of,
        )
    except (ValueError, TypeError, ArithmeticError) as exc:
        raise Invalid("schema_violation", f"intent rejected: {exc}") from None


def _shown(value: Any) -> str:
    """A short, typed rendering of a bad value for ``Decision.detail``."""
    return f"{type(value).__name__} {str(value)[:40]!r}"


def _text(value: Any, limit: int = 300) -> str:
    return value.strip()[:limit] if isinstance(value, str) else ""


def normalize(answer: Any, inputs: StrategyInput, options: NormalizeOptions) -> Decision:
    """The :class:`Decision` for a parsed answer. Never raises."""
    try:
        return _normalize(answer, inputs, options)
    except Exception as exc:  # a bug here must still end in a hold, never an order
        return Decision.hold(
            "answer could not be normalized",
            error_type="schema_violation",
            detail=f"{type(exc).__name__}: {str(exc)[:200]}",
        )


def _canonical_answer(answer: Any) -> Any:
    """A bare intent object or a bare list of intent objects, as ``decision = trade``."""
    if isinstance(answer, list) and answer and all(isinstance(i, Mapping) for i in answer):
        return {"decision": "trade", "intents": answer}
    if isinstance(answer, Mapping) and "symbol" in answer and not DECISION_KEYS & answer.keys():
        return {"decision": "trade", "intents": [answer]}
    return answer


def _normalize(answer: Any, inputs: StrategyInput, options: NormalizeOptions) -> Decision:
    answer = _canonical_answer(answer)
    if not isinstance(answer, Mapping):
        return Decision.hold("answer is not a JSON object", error_type="schema_violation")
    raw_kind = answer.get("decision")
    kind = raw_kind.strip().lower() if isinstance(raw_kind, str) else None
    if "decision" in answer and kind not in DECISIONS:
        return Decision.hold(
            "answer has no valid decision",
            error_type="schema_violation",
            detail=f"decision={_shown(raw_kind)}",
        )
    reason = _text(answer.get("reason"))
    raw_intents = answer.get("intents")
    if kind is None and isinstance(raw_intents, list):
        kind = "trade" if raw_intents else "hold"
    if kind == "hold":
        return Decision.hold(reason or "model chose to hold")
    if kind != "trade":
        return Decision.hold("answer has no valid decision", error_type="schema_violation")
    if not isinstance(raw_intents, list) or not raw_intents:
        return Decision.hold(
            "model chose to trade but gave no intents", error_type="schema_violation"
        )
    intents: list[Intent] = []
    dropped: list[str] = []
    first_error: str | None = None
    seen: set[str] = set()
    for index, raw in enumerate(raw_intents[:50]):
        try:
            intent = normalize_intent(raw, inputs, options)
        except Invalid as exc:
            first_error = first_error or exc.error_type
            dropped.append(f"intents[{index}]: {exc.error_type}: {exc}")
            continue
        if intent.id in seen:
            dropped.append(f"intents[{index}]: duplicate")
            continue
        if len(intents) >= options.max_intents:
            dropped.append(f"intents[{index}]: over max_intents={options.max_intents}")
            continue
        seen.add(intent.id)
        intents.append(intent)
    detail = "; ".join(dropped)[:1000]
    if not intents:
        return Decision.hold(
            "no valid intent in the answer",
            error_type=first_error or "schema_violation",
            detail=detail,
        )
    return Decision(intents=tuple(intents), detail=detail)
