"""tradekernel-llm: the ``llm`` strategist.

Asks the selected ``llm_provider`` for a decision in the ``intent.v1`` schema, parses
and normalizes the answer defensively (a bad answer is a hold, never an order), keeps
a daily token/USD budget and a decision cache in ``state.db``, and can record and
replay provider answers. See docs/llm.md.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tradekernel import hookimpl
from tradekernel.api import ComponentContext

from .answer import decide_answer, interpret, redact_answer
from .config import LLMStrategistConfig
from .normalize import NormalizeOptions, normalize, normalize_intent
from .parse import ParseFailure, extract_answers, extract_json
from .prompt import PROMPTS, build_messages
from .recording import ReplayMiss, request_digest
from .schema import DECISION_SCHEMA, SCHEMA_VERSION
from .store import DailySpend, LLMStore
from .strategist import LLMStrategist

STATE_DB = "state.db"

__all__ = [
    "DECISION_SCHEMA",
    "PROMPTS",
    "SCHEMA_VERSION",
    "DailySpend",
    "LLMStore",
    "LLMStrategist",
    "LLMStrategistConfig",
    "NormalizeOptions",
    "ParseFailure",
    "ReplayMiss",
    "budget_status",
    "build_messages",
    "create",
    "decide_answer",
    "extract_answers",
    "extract_json",
    "interpret",
    "normalize",
    "normalize_intent",
    "redact_answer",
    "request_digest",
]


def create(config: LLMStrategistConfig, ctx: ComponentContext) -> LLMStrategist:
    """Factory of ``strategist:llm``. Resolves the provider now (unless replaying), so a
    missing provider or API key is reported at start-up, not at the first cycle."""
    in_memory = getattr(ctx, "check_only", False)  # validating only: write nothing
    store = LLMStore(Path(":memory:") if in_memory else Path(ctx.state_dir) / STATE_DB)
    strategist = LLMStrategist(config, ctx, store)
    if config.replay_dir is None:
        try:
            _ = strategist.provider
        except BaseException:
            store.close()
            raise
    return strategist


def budget_status(settings: Any) -> dict[str, Any]:
    """Today's LLM spend against the budget of ``[strategist.llm]``, for reports.

    ``settings`` is a :class:`tradekernel.settings.Settings`; returns
    ``{"day", "calls", "tokens", "usd", "token_limit", "usd_limit", "tokens_left",
    "usd_left"}`` (limits ``None`` when not configured). Reads state only."""
    config = settings.component_config("strategist", "llm", LLMStrategistConfig)
    store = LLMStore(Path(settings.state_dir) / STATE_DB)
    try:
        return store.spend(
            token_limit=config.budget_daily_tokens, usd_limit=config.budget_daily_usd
        ).as_dict()
    finally:
        store.close()


@hookimpl
def register_strategists(register):
    register(
        "llm",
        create,
        config=LLMStrategistConfig,
        version="1",
        description="Asks an LLM provider for intents (intent.v1); bad answers hold",
    )
