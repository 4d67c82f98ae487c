"""tradekernel-llm: the ``llm`` strategist.

Asks the selected ``llm_provider`` for a decision in the ``intent.v1`` schema, parses
and normalizes the answer defensively (a bad answer is a hold, never an order), keeps
a daily token/USD budget and a decision cache in the store's database (``state.db``,
or the server of a server store), and can record and replay provider answers. See
docs/llm.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tradekernel import hookimpl
from tradekernel.api import lazy_exports

from .config import LLMStrategistConfig

# bound here, not lazily: importing the module later would leave the module itself
# under the name of its function
from .normalize import NormalizeOptions, normalize, normalize_intent

if TYPE_CHECKING:
    from tradekernel.api import ComponentContext

    from .strategist import LLMStrategist

_LAZY = {
    "decide_answer": ".answer",
    "interpret": ".answer",
    "redact_answer": ".answer",
    "ParseFailure": ".parse",
    "extract_answers": ".parse",
    "extract_json": ".parse",
    "PROMPTS": ".prompt",
    "build_messages": ".prompt",
    "ReplayMiss": ".recording",
    "request_digest": ".recording",
    "DECISION_SCHEMA": ".schema",
    "SCHEMA_VERSION": ".schema",
    "DailySpend": ".store",
    "LLMStore": ".store",
    "LLMStrategist": ".strategist",
}
"""Imported on first use: the strategist's parsing and normalising only when it is built."""

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
    from .store import LLMStore
    from .strategist import LLMStrategist

    # the store's database: shared by every process and host of the store; validating
    # only (check_only): private in-memory tables, nothing written
    store = LLMStore.open(ctx.settings, check_only=getattr(ctx, "check_only", False))
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
    "usd_left"}`` (limits ``None`` when not configured), from the configured store's
    ledger (``[components] store``): the spend of every process and host using it.
    Reads state only: a store or a ledger that does not exist yet is no spend (nothing
    is created)."""
    from tradekernel.api import NotFoundError, Tables, open_store, utcnow

    from .store import SPEND_TABLE, DailySpend, LLMStore

    config = settings.component_config("strategist", "llm", LLMStrategistConfig)
    limits = {"token_limit": config.budget_daily_tokens, "usd_limit": config.budget_daily_usd}
    try:
        state = open_store(settings, create=False)
    except NotFoundError:
        state = None
    if state is not None:
        tables = Tables(state.conn, state.dialect, owner=state)
        try:
            with tables.read() as conn:
                exists = SPEND_TABLE in set(state.dialect.tables(conn))
            if exists:
                return LLMStore(tables, define=False).spend(**limits).as_dict()
        finally:
            tables.close()
    return DailySpend(utcnow().date().isoformat(), 0, 0, 0.0, **limits).as_dict()


@hookimpl
def register_strategists(register):
    register(
        "llm",
        create,
        config=LLMStrategistConfig,
        version="1",
        description="Asks an LLM provider for intents (intent.v1); bad answers hold",
    )


__getattr__ = lazy_exports(__name__, _LAZY)
"""The names of :data:`__all__`, each imported on first use: registering this plugin
imports only what its registration needs."""
