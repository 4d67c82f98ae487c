"""Versioned prompts built from a cycle's :class:`~tradekernel.components.StrategyInput`.

A prompt version is a pure function of the inputs: the same inputs always give the
same messages (and so the same request digest, which record/replay and the cache use).
Changing a prompt's text means adding a new version, never editing an old one.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any

from tradekernel.api import Bar, ChatMessage, StrategyInput

from .schema import DECISION_SCHEMA, DECISION_SCHEMA_V2, SCHEMA_VERSION

SYSTEM_V1 = """\
You are the strategist of a paper-first trading agent. Each cycle you receive the
market state as JSON and answer with ONE JSON object, nothing else:
{{"decision": "trade" | "hold", "reason": str, "intents": [intent, ...]}}
Each intent: {{"symbol", "side": "buy"|"sell", "quantity": number|null,
"notional": number|null, "order_type": "market"|"limit", "limit_price": number|null,
"time_in_force": "day"|"gtc"|"ioc", "rationale": str, "confidence": 0..1}}.
Rules:
- Only trade symbols listed in "candidates". At most {max_intents} intents.
- Set exactly one of quantity and notional. A limit order needs a limit_price.
- To close a position, sell its held quantity.
- Respect the limits given; every intent is checked by risk guards and may need
  human approval. When unsure, answer {{"decision": "hold", "reason": "...", "intents": []}}.
- Schema version: {schema_version}. The JSON schema follows.
{schema}"""


SYSTEM_V2 = """\
You are the strategist of a paper-first trading agent. Each cycle you receive the
market state as JSON and answer with ONE JSON object, nothing else:
{{"decision": "trade" | "hold", "reason": str, "intents": [intent, ...]}}
Each intent: {{"symbol", "side": "buy"|"sell", "quantity": number|null,
"notional": number|null, "weight": number|null, "stop_price": number|null,
"order_type": "market"|"limit", "limit_price": number|null,
"time_in_force": "day"|"gtc"|"ioc", "rationale": str, "confidence": 0..1}}.
Rules:
- Only trade symbols listed in "candidates". At most {max_intents} intents.
- Say how much with AT MOST ONE of quantity (units), notional (account currency) and
  weight (the position you want in the symbol, as a fraction 0..1 of the strategy's
  budget: buy grows the position up to it, sell shrinks it down to it). Leave all three
  null to give only a direction: the portfolio's sizer then decides how much, from your
  confidence, your stop_price and recent volatility.
- stop_price, when you have one: below the price for a buy, above it for a sell.
- A limit order needs a limit_price. To close a position, sell with weight 0.
- Respect the limits given; every intent is checked by risk guards and may need
  human approval. When unsure, answer {{"decision": "hold", "reason": "...", "intents": []}}.
- Schema version: {schema_version}. The JSON schema follows.
{schema}"""


def _num(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def summarize_bars(bars: Sequence[Bar]) -> dict[str, Any]:
    """A compact summary of recent bars: count, first/last close, change, range, SMA."""
    if not bars:
        return {"count": 0}
    closes = [b.close for b in bars]
    first, last = closes[0], closes[-1]
    change = (last - first) / first * 100 if first else Decimal(0)
    tail = closes[-10:]
    return {
        "count": len(bars),
        "from": bars[0].ts.isoformat(),
        "to": bars[-1].ts.isoformat(),
        "first_close": str(first),
        "last_close": str(last),
        "change_pct": str(round(change, 3)),
        "high": str(max(b.high for b in bars)),
        "low": str(min(b.low for b in bars)),
        "sma10": str(round(sum(tail) / len(tail), 6)),
        "last_closes": [str(c) for c in closes[-5:]],
    }


def state_document(
    inputs: StrategyInput, *, max_intents: int, max_notional_hint: float | None
) -> dict[str, Any]:
    """The market state the model sees, as plain JSON-able data."""
    quotes = {
        s: {"last": _num(q.last), "bid": _num(q.bid), "ask": _num(q.ask), "ts": q.ts.isoformat()}
        for s, q in sorted(inputs.quotes.items())
    }
    positions = {
        s: {
            "quantity": str(p.quantity),
            "avg_price": str(p.avg_price),
            "market_price": _num(p.market_price),
        }
        for s, p in sorted(inputs.positions.items())
    }
    account = None
    if inputs.account is not None:
        a = inputs.account
        account = {
            "cash": str(a.cash),
            "equity": str(a.equity),
            "currency": a.currency,
            "realized_pnl": str(a.realized_pnl),
        }
    doc: dict[str, Any] = {
        "as_of": inputs.as_of.isoformat() if inputs.as_of else None,
        "candidates": list(inputs.candidates),
        "quotes": quotes,
        "bars": {
            s: summarize_bars(b) for s, b in sorted(inputs.bars.items()) if s in inputs.candidates
        },
        "positions": positions,
        "account": account,
        "limits": dict(inputs.limits),
        "max_intents": max_intents,
    }
    if max_notional_hint is not None:
        doc["max_notional_per_order"] = max_notional_hint
    return doc


def prompt_v1(
    inputs: StrategyInput, *, max_intents: int, max_notional_hint: float | None
) -> list[ChatMessage]:
    """Prompt ``v1``: a system message with rules and schema, a user message with state."""
    system = SYSTEM_V1.format(
        max_intents=max_intents,
        schema_version=SCHEMA_VERSION,
        schema=json.dumps(DECISION_SCHEMA, sort_keys=True),
    )
    state = state_document(inputs, max_intents=max_intents, max_notional_hint=max_notional_hint)
    user = "Market state:\n" + json.dumps(state, sort_keys=True, default=str, indent=1)
    return [ChatMessage("system", system), ChatMessage("user", user)]


def prompt_v2(
    inputs: StrategyInput, *, max_intents: int, max_notional_hint: float | None
) -> list[ChatMessage]:
    """Prompt ``v2``: ``v1`` whose answers may give a weight, a stop price, or only a
    direction (the kernel's sizing decides how much; docs/llm.md)."""
    system = SYSTEM_V2.format(
        max_intents=max_intents,
        schema_version=SCHEMA_VERSION,
        schema=json.dumps(DECISION_SCHEMA_V2, sort_keys=True),
    )
    state = state_document(inputs, max_intents=max_intents, max_notional_hint=max_notional_hint)
    user = "Market state:\n" + json.dumps(state, sort_keys=True, default=str, indent=1)
    return [ChatMessage("system", system), ChatMessage("user", user)]


PROMPTS: dict[str, Callable[..., list[ChatMessage]]] = {"v1": prompt_v1, "v2": prompt_v2}
"""Every prompt version, by name (``prompt_version`` in the config)."""


def build_messages(
    inputs: StrategyInput,
    version: str,
    *,
    max_intents: int,
    max_notional_hint: float | None = None,
) -> list[ChatMessage]:
    """The messages of prompt ``version`` for ``inputs``."""
    return PROMPTS[version](inputs, max_intents=max_intents, max_notional_hint=max_notional_hint)
