"""Typed configuration of the LLM strategist (``[strategist.llm]``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import attrs
from attrs import define, field
from tradekernel.api import Duration, positive

from .prompt import PROMPTS


def _known_prompt(_inst: Any, _attr: attrs.Attribute, value: str) -> None:
    if value not in PROMPTS:
        raise ValueError(f"prompt_version: unknown version {value!r} (known: {', '.join(PROMPTS)})")


def _temperature(_inst: Any, _attr: attrs.Attribute, value: float) -> None:
    if not 0 <= value <= 2:
        raise ValueError(f"temperature: expected a number from 0 to 2, got {value!r}")


@define(kw_only=True)
class LLMStrategistConfig:
    """``[strategist.llm]``. See docs/llm.md for every key."""

    model: str | None = None
    """Model to ask; empty means the provider's default ``model``."""
    prompt_version: str = field(default="v1", validator=_known_prompt)
    temperature: float = field(default=0.0, validator=_temperature)
    max_tokens: int = field(default=800, validator=positive)
    max_intents: int = field(default=3, validator=positive)
    log_prompts: bool = False
    """Include the full prompt in the telemetry event (off: prompts may be large)."""
    record_dir: Path | None = None
    replay_dir: Path | None = None
    cache_ttl: Duration = field(default=Duration(0))
    """Reuse the answer to an identical prompt for this long (0: no cache)."""
    budget_daily_tokens: int | None = field(default=None, validator=positive)
    budget_daily_usd: float | None = field(default=None, validator=positive)
    price_prompt_per_mtok: float | None = field(default=None, validator=positive)
    """USD per million prompt tokens, for cost estimates (``estimated_cost_usd``)."""
    price_completion_per_mtok: float | None = field(default=None, validator=positive)
    default_quantity: float | None = field(default=None, validator=positive)
    """Quantity for intents with neither quantity nor notional (unset: drop them)."""
    max_notional_hint: float | None = field(default=None, validator=positive)
    """Told to the model as the largest order notional; the guards enforce real limits."""

    def __attrs_post_init__(self) -> None:
        if self.record_dir is not None and self.replay_dir is not None:
            raise ValueError("replay_dir: record_dir and replay_dir are mutually exclusive")

    @property
    def priced(self) -> bool:
        return self.price_prompt_per_mtok is not None or self.price_completion_per_mtok is not None
