"""Turn a model's JSON answer into a valid :class:`~tradekernel.models.Decision`.

Nothing here raises: anything unusable becomes a hold with an ``error_type``.
Rules (see docs/llm.md, "Normalization"):

* ``decision`` is the string ``trade`` or ``hold`` (case-insensitive); any other value,
  of any type, is a ``schema_violation``; ``hold`` wins over intents. Without a
  ``decision``, a non-empty ``intents`` list means trade.
* keys of the answer object are compared after NFKC, strip and casefold
  (``"DECISION "`` is ``decision``); two keys that fold alike with different values, a
  near-miss of ``decision`` (one or two edits: ``decision`` spelt with a Cyrillic i,
  ``decisions``) or any other key whose value is ``hold`` or ``trade`` (``action``,
  ``verdict``) is ``ambiguous_answer``: a hold is never overlooked for a trade.
* a bare intent object (``symbol``, no decision-like key) or a non-empty bare list of
  bare intent objects is read as ``{"decision": "trade", "intents": [...]}``; a list
  with anything else in it holds (``ambiguous_answer`` when an item is decision-like,
  else ``schema_violation``).
* an intent object (bare or in ``intents``) with a boolean under a decision-like key
  (``hold``, ``trade``, ``execute``, ``approved``...), a hold-like text outside its
  intent fields and prose keys (``"status": "HOLD - do not execute"``,
  ``"action": "no_trade"``) or a ``decision`` key at any depth, and a trade answer with
  such a text, a "do not trade" flag (``"execute": false``) or a nested ``decision``
  outside ``intents`` (``"final": {"decision": "hold"}``), is ``ambiguous_answer``.
* symbols are stripped and upper-cased and must be among ``inputs.candidates``.
* sides: ``buy``/``long`` → buy; ``sell``/``short`` → sell; ``close`` → sell the held
  quantity (an intent to close a symbol that is not held is dropped).
* amounts: numbers or numeric strings, positive and finite. Exactly one of
  ``quantity`` and ``notional``; when both are given, ``quantity`` wins. When neither
  is given, ``default_quantity`` is used if configured, else the intent is dropped.
* sizing (prompt ``v2``, :data:`~.schema.SIZING_PROMPTS`): ``weight`` (a number or
  numeric string from 0 to 1, never clamped: anything else drops the intent) is the
  position wanted as a fraction of the strategy's budget, and an intent with no
  quantity, notional or weight (and no ``default_quantity``) is a direction; both are
  sized by the kernel's sizing step. ``stop_price`` is a positive amount. With any
  prompt, an intent giving a ``weight`` together with a ``quantity`` or ``notional``,
  or a ``weight`` with side ``close``, is ``ambiguous_answer`` (two sizes: hold).
* ``confidence`` is clamped to 0..1 (missing: 0.5; not a number: dropped).
* invalid intents are dropped with a recorded reason; if none remain, the decision is
  a hold whose ``error_type`` is the first intent's failure.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from attrs import frozen
from tradekernel.api import Decision, Intent, OrderType, StrategyInput, TimeInForce

from .schema import SCHEMA_VERSION

STRATEGIST = "llm"
SIDES = {"buy": "buy", "long": "buy", "sell": "sell", "short": "sell", "close": "close"}
MAX_RATIONALE = 500
DEFAULT_CONFIDENCE = 0.5
DECISIONS = ("trade", "hold")
DECISION_KEYS = {"decision", "intents"}
"""Keys of a full answer: an object with any of them is not a bare intent."""
INTENT_FIELDS = frozenset(
    {"symbol", "side", "quantity", "notional", "order_type", "limit_price", "time_in_force"}
    | {"confidence", "weight", "stop_price"}
)
"""Keys an intent object is read from (validated by :func:`normalize_intent`)."""
FREE_TEXT_KEYS = frozenset(
    {"rationale", "reason", "reasoning", "explanation", "notes", "note", "comment"}
    | {"comments", "summary", "analysis", "thesis", "justification", "description"}
)
"""Keys holding prose: a rationale that mentions "hold" says nothing about the decision."""
FLAG_WORDS = ("hold", "trade", "execut", "approv", "confirm", "submit", "place")
"""A key containing one of these with a boolean value (``"execute": false``) is a
decision the schema does not read."""
_HOLD_LIKE = re.compile(
    r"^[\W_]*(hold|no[\W_]*trade|do[\W_]*not|don'?t|skip|wait|pass|abort|cancel|reject|halt"
    r"|avoid)\b"
)
"""A (folded) value that says not to trade: ``"HOLD - do not execute"``, ``"no_trade"``."""
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
    sizing: bool = False
    """Whether a weight or a bare direction may be passed on for the kernel to size."""


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


def _given(value: Any) -> bool:
    return value is not None and not (isinstance(value, str) and not value.strip())


def to_weight(value: Any) -> Decimal | None:
    """A weight from 0 to 1 from a number or numeric string; ``None`` if absent. Out of
    range, percent signs, grouping, NaN: :class:`Invalid` (a weight is never clamped)."""
    if not _given(value):
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise Invalid("schema_violation", f"weight: expected a number, got {type(value).__name__}")
    try:
        weight = Decimal(repr(value)) if isinstance(value, float) else Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise Invalid("schema_violation", f"weight: {str(value)[:40]!r} is not a number") from None
    if not weight.is_finite() or not 0 <= weight <= 1:
        raise Invalid("schema_violation", f"weight: must be from 0 to 1, got {str(value)[:40]}")
    return weight


def _two_sizes(raw: Mapping) -> str | None:
    """Why an intent object gives two sizes at once (``ambiguous_answer``), or ``None``."""
    keys = {fold(k): v for k, v in raw.items() if isinstance(k, str)}
    if not _given(keys.get("weight")):
        return None
    if _given(keys.get("quantity")) or _given(keys.get("notional")):
        return "an intent gives a weight and an amount"
    side = keys.get("side")
    if isinstance(side, str) and fold(side) == "close":
        return "an intent closes and gives a weight"
    return None


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
    weight = to_weight(raw.get("weight")) if options.sizing else None
    stop_price = to_amount(raw.get("stop_price"), "stop_price") if options.sizing else None
    if side == "close":
        position = inputs.positions.get(symbol)
        held = position.quantity if position is not None else Decimal(0)
        if held <= 0:
            raise Invalid("schema_violation", f"close {symbol}: no long position to close")
        side, quantity, notional = "sell", held, None
    if quantity is not None:
        notional = None  # both given: quantity wins (documented)
    elif notional is None and weight is None:
        if options.default_quantity is not None:
            quantity = options.default_quantity
        elif not options.sizing:  # a direction is for the kernel's sizer (prompt v2)
            raise Invalid("missing_amount", "neither quantity nor notional given")
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
            target_weight=weight,
            stop_price=stop_price,
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


class _Ambiguous(Exception):
    """The answer may say hold in a way the schema does not read."""


def fold(text: str) -> str:
    """``text`` as keys and decisions are compared: NFKC, stripped, casefolded."""
    return unicodedata.normalize("NFKC", text).strip().casefold()


def _edits(a: str, b: str) -> int:
    """The Levenshtein distance between ``a`` and ``b`` (short strings)."""
    previous = list(range(len(b) + 1))
    for i, char_a in enumerate(a, 1):
        current = [i]
        for j, char_b in enumerate(b, 1):
            current.append(
                min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (char_a != char_b))
            )
        previous = current
    return previous[-1]


def _near_miss(key: str) -> bool:
    """A folded key that is not ``decision`` but one or two edits away from it."""
    return key != "decision" and abs(len(key) - 8) <= 2 and _edits(key, "decision") <= 2


def _folded_keys(obj: Mapping, *, values: bool = True) -> dict[Any, Any]:
    """``obj`` with its string keys folded (:func:`fold`). Raises :class:`_Ambiguous`
    when two keys fold alike with different values, a key is a near-miss of
    ``decision``, or (``values``) a key other than ``decision`` holds hold or trade."""
    folded: dict[Any, Any] = {}
    for key, value in obj.items():
        name = fold(key) if isinstance(key, str) else key
        if name in folded and folded[name] != value:
            raise _Ambiguous(f"keys {str(key)[:20]!r} and {str(name)[:20]!r} differ")
        if isinstance(name, str) and _near_miss(name):
            raise _Ambiguous(f"key {str(key)[:20]!r} is not 'decision'")
        if values and name != "decision" and isinstance(value, str) and fold(value) in DECISIONS:
            raise _Ambiguous(f"key {str(key)[:20]!r} holds {value[:10]!r}")
        folded[name] = value
    return folded


def _has_decision_key(value: Any, depth: int = 0) -> bool:
    """A ``decision`` key (or a near-miss of it) anywhere in ``value``."""
    if depth > 20:
        return True  # nesting this deep is not an answer to read
    if isinstance(value, Mapping):
        for key, inner in value.items():
            name = fold(key) if isinstance(key, str) else key
            if name == "decision" or (isinstance(name, str) and _near_miss(name)):
                return True
            if _has_decision_key(inner, depth + 1):
                return True
    elif isinstance(value, list):
        return any(_has_decision_key(item, depth + 1) for item in value)
    return False


def _no_trade_flag(name: str, value: Any) -> bool:
    """``"hold": true``, ``"trade": false``, ``"execute": false``...: a boolean under a
    key that names the decision, meaning "do not trade"."""
    if not isinstance(value, bool) or not any(word in name for word in FLAG_WORDS):
        return False
    return value if "hold" in name else not value


def _says_hold(obj: Mapping, *, intent: bool) -> str | None:
    """Why ``obj`` may say "do not trade" in a way the schema does not read, or ``None``:
    a boolean under a decision-like key (an ``intent`` object: any boolean value; a full
    answer: one meaning "do not trade"), a hold-like text outside prose keys and intent
    fields, or a ``decision`` key nested at any depth (a full answer's ``intents`` items
    are checked on their own)."""
    for key, value in obj.items():
        name = fold(key) if isinstance(key, str) else key
        if not isinstance(name, str) or (intent and name in INTENT_FIELDS):
            continue
        if not intent and name in ("decision", "intents"):
            continue
        flag = isinstance(value, bool) and any(word in name for word in FLAG_WORDS)
        if flag and (intent or _no_trade_flag(name, value)):
            return f"key {str(key)[:20]!r} is {str(value).lower()}"
        if isinstance(value, str) and name not in FREE_TEXT_KEYS and _HOLD_LIKE.match(fold(value)):
            return f"key {str(key)[:20]!r} holds {value[:20]!r}"
        if _has_decision_key(value):
            return f"key {str(key)[:20]!r} holds a decision"
    return None


def _mappings(items: list[Any]) -> list[Mapping]:
    return [item for item in items if isinstance(item, Mapping)]


def _bare_intent(obj: Mapping) -> bool:
    """An intent object given on its own: a ``symbol`` and nothing decision-like. Raises
    :class:`_Ambiguous` when it may say "do not trade" (:func:`_says_hold`)."""
    keys = _folded_keys(obj)
    if "symbol" not in keys or DECISION_KEYS & keys.keys():
        return False
    problem = _says_hold(obj, intent=True)
    if problem is not None:
        raise _Ambiguous(f"an intent object may say hold: {problem}")
    return True


def _canonical_answer(answer: Any) -> Any:
    """The answer object with folded keys; a bare intent object or a list of bare intent
    objects as ``decision = trade``. Raises :class:`_Ambiguous` (see
    :func:`_folded_keys`; a list item that is decision-like counts too)."""
    if isinstance(answer, list) and answer and all(isinstance(i, Mapping) for i in answer):
        if not all(_bare_intent(item) for item in answer):
            if any(DECISION_KEYS & _folded_keys(item).keys() for item in answer):
                raise _Ambiguous("a list of intents holds a decision")
            return answer  # not a list of intents: a schema violation
        return {"decision": "trade", "intents": answer}
    if isinstance(answer, Mapping):
        if _bare_intent(answer):
            return {"decision": "trade", "intents": [answer]}
        return _folded_keys(answer)
    return answer


def _normalize(answer: Any, inputs: StrategyInput, options: NormalizeOptions) -> Decision:
    try:
        answer = _canonical_answer(answer)
    except _Ambiguous as exc:
        return Decision.hold(
            "the answer may hold a decision the schema does not read",
            error_type="ambiguous_answer",
            detail=str(exc),
        )
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
    try:
        problem = _says_hold(answer, intent=False)
        if problem is not None:
            raise _Ambiguous(f"a trade answer may say hold: {problem}")
        # an item that is an answer of its own (not a side "hold": that intent is dropped)
        for raw in _mappings(raw_intents):
            if DECISION_KEYS & _folded_keys(raw, values=False).keys():
                raise _Ambiguous("an item of intents holds a decision")
            problem = _says_hold(raw, intent=True) or _two_sizes(raw)
            if problem is not None:
                raise _Ambiguous(f"an item of intents may say hold: {problem}")
    except _Ambiguous as exc:
        return Decision.hold(
            "an intent may hold a decision", error_type="ambiguous_answer", detail=str(exc)
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
