"""The public plugin API of tradekernel: the one module a plugin imports.

Everything a plugin needs is a name here: the ``hookimpl`` marker, the models, the
component protocols and their contexts, errors, config validators, the outcome types,
the HTTP delivery helpers notifier plugins share, and the read access to state that
operator features (reports, audit archives, backtests) are built on. Tests import
:mod:`tradekernel.testing` as well. Every other ``tradekernel`` module is internal: it
may change in any release without notice.

Compatibility (see ``docs/api.md``): :data:`API_VERSION` is ``"MAJOR.MINOR"``. A minor
release may add names, optional hook arguments, optional protocol members and model
fields with defaults; it never removes or renames a name or changes a signature in a
way that breaks a caller. A major release may do any of that, and says what changed.
A plugin declares the range it was built for with ``TRADEKERNEL_API`` on its entry-point
module (``TRADEKERNEL_API = ">=1.0,<2"``); a plugin built for another major version is
listed as ``error`` with the reason, and never loaded.

Names are resolved on first use (:pep:`562`), so a guard plugin does not pay for the
HTTP client or SQLite just by importing this module.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# The version of this API, "MAJOR.MINOR" (see the compatibility policy above). Defined
# beside __version__: the kernel checks plugins against it and never imports this module.
from . import API_VERSION as API_VERSION

_PUBLIC: dict[str, tuple[str, ...]] = {
    "tradekernel": ("__version__",),
    "tradekernel.hookspecs": ("hookimpl",),
    "tradekernel.models": (
        "Account",
        "Bar",
        "CLIENT_ORDER_ID_PREFIX",
        "Decision",
        "EVENT_SCHEMA",
        "Event",
        "Fill",
        "GuardVerdict",
        "INTENT_SCHEMA",
        "Intent",
        "IntentTransition",
        "Order",
        "OrderRequest",
        "OrderStatus",
        "OrderType",
        "Position",
        "Quote",
        "SKILL_SCHEMA",
        "Severity",
        "Side",
        "SkillResult",
        "TimeInForce",
        "canonical_json",
        "digest",
        "to_decimal",
        "utcnow",
    ),
    "tradekernel.components": (
        "KINDS",
        "Broker",
        "BrokerRejected",
        "ComponentContext",
        "DeliveryResult",
        "Guard",
        "GuardContext",
        "LLMProvider",
        "MarketData",
        "MetricsSink",
        "Notification",
        "Notifier",
        "OrderConstraints",
        "Scanner",
        "Skill",
        "SkillRequest",
        "Strategist",
        "StrategyInput",
        "SubmitOutcomeUnknown",
    ),
    "tradekernel.llm": (
        "FINISH_REASON_MISSING",
        "NORMAL_FINISH_REASONS",
        "ChatAttempt=Attempt",
        "ChatMessage",
        "ChatRequest",
        "ChatResponse",
        "ProviderError",
        "Usage",
    ),
    "tradekernel.errors": (
        "EXIT_FAILED",
        "EXIT_GATE",
        "EXIT_OK",
        "EXIT_REFUSED",
        "EXIT_USAGE",
        "ConfigError",
        "GateFailed",
        "NotFoundError",
        "PluginError",
        "RefusedError",
        "TradekernelError",
    ),
    "tradekernel.sections": (
        "Duration",
        "finite",
        "non_negative",
        "positive",
        "ratio",
    ),
    "tradekernel.serde": ("ValidationError", "structure", "unstructure"),
    "tradekernel.quality": ("MAX_PRICE", "MAX_QUANTITY", "bar_problem", "quote_problem"),
    "tradekernel.display": ("inert", "inert_json"),
    "tradekernel.files": ("atomic_write",),
    "tradekernel.risk": ("evaluate",),
    "tradekernel.settings": ("Settings",),
    "tradekernel.kernel": ("Kernel",),
    "tradekernel.plugins": ("PluginRegistry",),
    "tradekernel.store": ("Store",),
    "tradekernel.eventlog": (
        "JSONL_DEFAULT_DIR",
        "encode_line",
        "event_date",
        "read_events",
        "resolve",
    ),
    "tradekernel.event_schema": ("validate_event",),
    "tradekernel.notify.retry": (
        "DeliveryAttempt=Attempt",
        "RetryPolicy",
        "deliver",
        "parse_retry_after",
    ),
    "tradekernel.notify.http": ("post",),
    "tradekernel.notify.support": ("config_error", "require_http_url", "require_secret"),
    "tradekernel.cli.context": ("AppContext", "echo_json", "json_option", "pass_app"),
}
"""Each public name and the internal module that defines it (an implementation detail:
import the name from here, never from there). ``"Public=internal"`` renames."""

_WHERE: dict[str, tuple[str, str]] = {
    entry.partition("=")[0]: (module, entry.partition("=")[2] or entry)
    for module, entries in _PUBLIC.items()
    for entry in entries
}

__all__ = ["API_VERSION", *sorted(_WHERE)]


def __getattr__(name: str) -> Any:
    where = _WHERE.get(name)
    if where is None:
        raise AttributeError(f"module 'tradekernel.api' has no attribute {name!r}")
    module, attr = where
    value = getattr(importlib.import_module(module), attr)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


if TYPE_CHECKING:  # what static checkers and editors see
    from . import __version__ as __version__
    from .cli.context import AppContext, echo_json, json_option, pass_app
    from .components import (
        KINDS,
        Broker,
        BrokerRejected,
        ComponentContext,
        DeliveryResult,
        Guard,
        GuardContext,
        LLMProvider,
        MarketData,
        MetricsSink,
        Notification,
        Notifier,
        OrderConstraints,
        Scanner,
        Skill,
        SkillRequest,
        Strategist,
        StrategyInput,
        SubmitOutcomeUnknown,
    )
    from .display import inert, inert_json
    from .errors import (
        EXIT_FAILED,
        EXIT_GATE,
        EXIT_OK,
        EXIT_REFUSED,
        EXIT_USAGE,
        ConfigError,
        GateFailed,
        NotFoundError,
        PluginError,
        RefusedError,
        TradekernelError,
    )
    from .event_schema import validate_event
    from .eventlog import JSONL_DEFAULT_DIR, encode_line, event_date, read_events, resolve
    from .files import atomic_write
    from .hookspecs import hookimpl
    from .kernel import Kernel
    from .llm import (
        FINISH_REASON_MISSING,
        NORMAL_FINISH_REASONS,
        ChatMessage,
        ChatRequest,
        ChatResponse,
        ProviderError,
        Usage,
    )
    from .llm import Attempt as ChatAttempt
    from .models import (
        CLIENT_ORDER_ID_PREFIX,
        EVENT_SCHEMA,
        INTENT_SCHEMA,
        SKILL_SCHEMA,
        Account,
        Bar,
        Decision,
        Event,
        Fill,
        GuardVerdict,
        Intent,
        IntentTransition,
        Order,
        OrderRequest,
        OrderStatus,
        OrderType,
        Position,
        Quote,
        Severity,
        Side,
        SkillResult,
        TimeInForce,
        canonical_json,
        digest,
        to_decimal,
        utcnow,
    )
    from .notify.http import post
    from .notify.retry import Attempt as DeliveryAttempt
    from .notify.retry import RetryPolicy, deliver, parse_retry_after
    from .notify.support import config_error, require_http_url, require_secret
    from .plugins import PluginRegistry
    from .quality import MAX_PRICE, MAX_QUANTITY, bar_problem, quote_problem
    from .risk import evaluate
    from .sections import Duration, finite, non_negative, positive, ratio
    from .serde import ValidationError, structure, unstructure
    from .settings import Settings
    from .store import Store
