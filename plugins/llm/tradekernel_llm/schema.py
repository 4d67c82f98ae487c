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
