"""The answer schema the model is asked to follow (``intent.v1``)."""

from __future__ import annotations

from typing import Any

from tradekernel.api import INTENT_SCHEMA

SCHEMA_VERSION = INTENT_SCHEMA
SCHEMA_NAME = "trade_decision"


def _nullable(kind: str, **extra: Any) -> dict[str, Any]:
    return {"type": [kind, "null"], **extra}


INTENT_PROPERTIES: dict[str, Any] = {
    "symbol": {"type": "string", "description": "One of the candidate symbols"},
    "side": {"type": "string", "enum": ["buy", "sell"]},
    "quantity": _nullable("number", description="Units; set this or notional, not both"),
    "notional": _nullable("number", description="Amount in account currency"),
    "order_type": {"type": "string", "enum": ["market", "limit"]},
    "limit_price": _nullable("number", description="Required for limit orders"),
    "time_in_force": {"type": "string", "enum": ["day", "gtc", "ioc"]},
    "rationale": {"type": "string"},
    "confidence": {"type": "number", "minimum": 0, "maximum": 1},
}

DECISION_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "decision": {"type": "string", "enum": ["trade", "hold"]},
        "reason": {"type": "string"},
        "intents": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": INTENT_PROPERTIES,
                "required": list(INTENT_PROPERTIES),
                "additionalProperties": False,
            },
        },
    },
    "required": ["decision", "reason", "intents"],
    "additionalProperties": False,
}
"""JSON schema of the answer; every key is required (nullable where optional) so that
providers' strict structured-output modes accept it."""


INTENT_PROPERTIES_V2: dict[str, Any] = {
    **INTENT_PROPERTIES,
    "quantity": _nullable(
        "number", description="Units; set at most one of quantity, notional and weight"
    ),
    "weight": _nullable(
        "number",
        minimum=0,
        maximum=1,
        description="The position wanted in the symbol, as a fraction (0..1) of the "
        "strategy's budget; null: none. All three null: the sizer decides how much",
    ),
    "stop_price": _nullable("number", description="Where the trade would stop out, per unit"),
}

DECISION_SCHEMA_V2: dict[str, Any] = {
    **DECISION_SCHEMA,
    "properties": {
        **DECISION_SCHEMA["properties"],
        "intents": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": INTENT_PROPERTIES_V2,
                "required": list(INTENT_PROPERTIES_V2),
                "additionalProperties": False,
            },
        },
    },
}
"""The answer schema of prompt ``v2``: an intent may give a ``weight`` instead of an
amount, or no amount at all (a direction the strategy's sizer sizes), and a
``stop_price`` for sizers that risk a fraction of the budget over the stop."""

SCHEMAS: dict[str, dict[str, Any]] = {"v1": DECISION_SCHEMA, "v2": DECISION_SCHEMA_V2}
"""The answer schema of each prompt version."""
SIZING_PROMPTS = frozenset({"v2"})
"""Prompt versions whose answers may leave the amount to the kernel's sizing (a weight
or a direction); with the others such an intent is dropped (``missing_amount``)."""
