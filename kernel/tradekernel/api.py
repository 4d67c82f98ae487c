"""The public plugin API of tradekernel: the one module a plugin imports.

Everything a plugin needs is a name here: the ``hookimpl`` marker, the models, the
component protocols and their contexts, errors, config validators, the outcome types,
the HTTP delivery helpers notifier plugins share, and the read access to state that
operator features (reports, audit archives, backtests) are built on. Tests import
:mod:`tradekernel.testing` as well. Every other ``tradekernel`` module is internal: it
may change in any release without notice.

Compatibility: :data:`API_VERSION` is ``"MAJOR.MINOR"``.

* A minor release (``1.0`` to ``1.1``) only adds: new names; new optional keyword
  arguments of functions and new hook arguments (a hook implementation receives only
  the arguments it names); new optional protocol members (the kernel works without
  them); new model and context fields, after the existing ones and with a default. It
  never removes or renames a name, makes an optional thing required, or changes the
  type or unit of a field, a stable reason code or an exit code. A plugin built for
  ``1.0`` works with every ``1.x``.
* A major release (``1.x`` to ``2.0``) may change any of that; its release notes list
  each change and how to adapt.

A plugin declares the range it was built for with ``TRADEKERNEL_API``, a version
specifier, on the module its entry point names::

    TRADEKERNEL_API = ">=1.0,<2"

Comparisons are ``>=``, ``>``, ``<=``, ``<``, ``==``, ``!=`` and ``~=`` on
``MAJOR.MINOR``; a bare ``MAJOR`` compares the major only (``<=1`` and ``==1`` are any
``1.x``), and ``~=1.2`` is ``1.2`` or a later ``1.x``.

A plugin whose range excludes the running :data:`API_VERSION` is listed by
``tradekernel plugins list`` as ``error`` with the reason, and never loaded.

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
        "AllocationRequest",
        "Allocator",
        "Broker",
        "BrokerRejected",
        "ComponentContext",
        "DeliveryResult",
        "Guard",
        "GuardContext",
        "LLMProvider",
        "MarketData",
        "MarketSession",
        "MetricsSink",
        "Notification",
        "Notifier",
        "OrderConstraints",
        "Scanner",
        "SizeRequest",
        "SizeResult",
        "Sizer",
        "Skill",
        "SkillRequest",
        "Strategist",
        "StrategyInput",
        "SubmitOutcomeUnknown",
        "SweepResult",
        "Sweeper",
        "GraphRuntime=Runtime",
        "GraphNode=Node",
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
        "ALERT_RULES",
        "AlertsSettings",
        "DeploySettings",
        "Duration",
        "SLO_INDICATORS",
        "SloObjective",
        "finite",
        "non_negative",
        "positive",
        "ratio",
    ),
    "tradekernel.serde": ("ValidationError", "structure", "unstructure"),
    "tradekernel.quality": (
        "MAX_PRICE",
        "MAX_QUANTITY",
        "band_problem",
        "bar_problem",
        "quote_problem",
    ),
    "tradekernel.display": ("inert", "inert_json"),
    "tradekernel.lazyload": ("lazy_exports",),
    "tradekernel.readable": ("decimal_or_none", "format_money", "format_quantity"),
    "tradekernel.files": ("RUN_LOCK", "LockHeld", "atomic_write", "exclusive", "make_dir"),
    "tradekernel.lease": (
        "LeaseFence",
        "LeaseHeld",
        "LeaseHolder",
        "LeaseInfo",
        "LeaseLost",
        "agent_lease",
        "hold_lease=hold",
        "namespace_for",
    ),
    "tradekernel.execution": ("Executor", "reconcile_brokers"),
    "tradekernel.risk": (
        "evaluate",
        "intent_notional",
        "intent_price",
        "intent_quantity",
        "reduces_position",
        "signed",
    ),
    "tradekernel.settings": ("Settings",),
    "tradekernel.kernel": ("Kernel", "NOTIFICATION_DISPATCHER"),
    "tradekernel.plugins": ("PluginRegistry",),
    "tradekernel.store": (
        "IntentState",
        "SchemaError",
        "Store",
        "VerifyResult",
        "ensure_state_db",
        "open_store",
        "DatabaseCorrupted",
        "DiskFull",
        "StateLost",
        "StateUnusable",
    ),
    "tradekernel.store.dialect": ("store_transaction=transaction",),
    "tradekernel.store.tables": (
        "Tables",
        "TableSpec",
        "open_tables",
        "store_table_catalogue=catalogue",
        "store_define_tables=define_on",
        "STORE_TABLES",
    ),
    "tradekernel.store.journal": (
        "JOURNAL_COLUMNS=COLUMNS",
        "journal_verify_chain=verify_chain",
        "JOURNAL_GENESIS=GENESIS",
        "journal_row_hash=row_hash",
    ),
    "tradekernel.store.db": (
        "DB_FILENAME",
        "immediate",
        "ts_text",
        "STORE_APP_ID=APP_ID",
        "OPEN_ORDERS_WHERE",
    ),
    "tradekernel.store.states": ("StateConflict", "StaleVersion"),
    "tradekernel.eventlog": (
        "EVENTS_COLUMNS",
        "EVENTS_TABLE",
        "JSONL_DEFAULT_DIR",
        "SQLITE_DEFAULT_PATH",
        "encode_line",
        "event_date",
        "event_log_source=source_for",
        "event_row",
        "events_jsonl_dir=jsonl_dir",
        "events_sqlite_path=sqlite_path",
        "iter_records",
        "read_events",
        "resolve",
    ),
    "tradekernel.constraints": ("ORDER_CONSTRAINT_CODES",),
    # per-strategy books, for reports
    "tradekernel.portfolio.ledger": (
        "Part",
        "StoreLedger",
        "StrategyBook",
        "StrategyLedger",
        "UNATTRIBUTED",
        "strategy_shares",
    ),
    "tradekernel.portfolio.shares": ("Share",),
    "tradekernel.portfolio.sizing": (
        "SIZING_CODES",
        "SizingContext",
        "SizingDenial=Denial",
        "size_intents",
    ),
    # the runtime a backtest drives, and the promotion stage it enforces
    "tradekernel.runtime": ("Runtime", "run_cycles"),
    # the cycle graph a runtime walks (docs/runtime.md)
    "tradekernel.runtime.graph": (
        "GRAPH_END=END",
        "Cycle",
        "GraphSpec",
        "NodeSpec",
        "Route",
        "NodeFailed",
        "NodeView",
        "error_text",
    ),
    "tradekernel.runtime.state": ("CycleState",),
    "tradekernel.runtime.loop": ("stop_on_signals",),
    "tradekernel.runtime.stage": (
        "RELEASE_KEY",
        "STAGES",
        "active_release",
        "check_stage",
        "check_stages",
        "config_digest",
        "current_digest",
        "get_stage",
        "release_id",
        "stage_key",
    ),
    "tradekernel.event_schema": ("validate_event",),
    "tradekernel.events": ("EventBus", "current_cycle_id"),
    "tradekernel.store_url": ("mask_store_url", "store_url_secrets"),
    "tradekernel.store.anchor": (
        "read_journal_anchor=read_anchor",
        "refuse_lost",
        "journal_disagreement=disagreement",
        "journal_anchor_path=anchor_path",
    ),
    "tradekernel.delivery.retry": (
        "DeliveryAttempt=Attempt",
        "RetryPolicy",
        "deliver",
        "parse_retry_after",
    ),
    "tradekernel.delivery.http": ("post",),
    "tradekernel.delivery.support": ("config_error", "require_http_url", "require_secret"),
    "tradekernel.cli.context": ("AppContext", "echo_json", "json_option", "pass_app"),
    "tradekernel.quorum": (
        "is_approval_row=is_approval",
        "recorded_quorum",
        "approver_name",
        "RESERVED_ACTORS",
    ),
    # the approval gate and operator control, for consoles (no second code path)
    "tradekernel.approval": ("ApprovalService", "ApprovalPreview=Preview"),
    "tradekernel.runtime.control": ("Control", "TRADING_STATES"),
    "tradekernel.runtime.mode": ("resolve_mode",),
    # broker request budgets, for the budget observer and reports
    "tradekernel.request_budget": (
        "RequestBudget",
        "RequestBudgetExhausted",
        "broker_budgets",
    ),
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


if TYPE_CHECKING:  # what static checkers and editors see, from _PUBLIC
    from . import __version__
    from .approval import ApprovalService
    from .approval import Preview as ApprovalPreview
    from .cli.context import AppContext
    from .cli.context import echo_json
    from .cli.context import json_option
    from .cli.context import pass_app
    from .components import AllocationRequest
    from .components import Allocator
    from .components import Broker
    from .components import BrokerRejected
    from .components import ComponentContext
    from .components import DeliveryResult
    from .components import Guard
    from .components import GuardContext
    from .components import KINDS
    from .components import LLMProvider
    from .components import MarketData
    from .components import MarketSession
    from .components import MetricsSink
    from .components import Node as GraphNode
    from .components import Notification
    from .components import Notifier
    from .components import OrderConstraints
    from .components import Runtime as GraphRuntime
    from .components import Scanner
    from .components import SizeRequest
    from .components import SizeResult
    from .components import Sizer
    from .components import Skill
    from .components import SkillRequest
    from .components import Strategist
    from .components import StrategyInput
    from .components import SubmitOutcomeUnknown
    from .components import SweepResult
    from .components import Sweeper
    from .constraints import ORDER_CONSTRAINT_CODES
    from .delivery.http import post
    from .delivery.retry import Attempt as DeliveryAttempt
    from .delivery.retry import RetryPolicy
    from .delivery.retry import deliver
    from .delivery.retry import parse_retry_after
    from .delivery.support import config_error
    from .delivery.support import require_http_url
    from .delivery.support import require_secret
    from .display import inert
    from .display import inert_json
    from .errors import ConfigError
    from .errors import EXIT_FAILED
    from .errors import EXIT_GATE
    from .errors import EXIT_OK
    from .errors import EXIT_REFUSED
    from .errors import EXIT_USAGE
    from .errors import GateFailed
    from .errors import NotFoundError
    from .errors import PluginError
    from .errors import RefusedError
    from .errors import TradekernelError
    from .event_schema import validate_event
    from .eventlog import EVENTS_COLUMNS
    from .eventlog import EVENTS_TABLE
    from .eventlog import JSONL_DEFAULT_DIR
    from .eventlog import SQLITE_DEFAULT_PATH
    from .eventlog import encode_line
    from .eventlog import event_date
    from .eventlog import event_row
    from .eventlog import iter_records
    from .eventlog import jsonl_dir as events_jsonl_dir
    from .eventlog import read_events
    from .eventlog import resolve
    from .eventlog import source_for as event_log_source
    from .eventlog import sqlite_path as events_sqlite_path
    from .events import EventBus
    from .events import current_cycle_id
    from .execution import Executor
    from .execution import reconcile_brokers
    from .files import LockHeld
    from .files import RUN_LOCK
    from .files import atomic_write
    from .files import exclusive
    from .files import make_dir
    from .hookspecs import hookimpl
    from .kernel import Kernel
    from .kernel import NOTIFICATION_DISPATCHER
    from .lazyload import lazy_exports
    from .lease import LeaseFence
    from .lease import LeaseHeld
    from .lease import LeaseHolder
    from .lease import LeaseInfo
    from .lease import LeaseLost
    from .lease import agent_lease
    from .lease import hold as hold_lease
    from .lease import namespace_for
    from .llm import Attempt as ChatAttempt
    from .llm import ChatMessage
    from .llm import ChatRequest
    from .llm import ChatResponse
    from .llm import FINISH_REASON_MISSING
    from .llm import NORMAL_FINISH_REASONS
    from .llm import ProviderError
    from .llm import Usage
    from .models import Account
    from .models import Bar
    from .models import CLIENT_ORDER_ID_PREFIX
    from .models import Decision
    from .models import EVENT_SCHEMA
    from .models import Event
    from .models import Fill
    from .models import GuardVerdict
    from .models import INTENT_SCHEMA
    from .models import Intent
    from .models import IntentTransition
    from .models import Order
    from .models import OrderRequest
    from .models import OrderStatus
    from .models import OrderType
    from .models import Position
    from .models import Quote
    from .models import SKILL_SCHEMA
    from .models import Severity
    from .models import Side
    from .models import SkillResult
    from .models import TimeInForce
    from .models import canonical_json
    from .models import digest
    from .models import to_decimal
    from .models import utcnow
    from .plugins import PluginRegistry
    from .portfolio.ledger import Part
    from .portfolio.ledger import StoreLedger
    from .portfolio.ledger import StrategyBook
    from .portfolio.ledger import StrategyLedger
    from .portfolio.ledger import UNATTRIBUTED
    from .portfolio.ledger import strategy_shares
    from .portfolio.shares import Share
    from .portfolio.sizing import Denial as SizingDenial
    from .portfolio.sizing import SIZING_CODES
    from .portfolio.sizing import SizingContext
    from .portfolio.sizing import size_intents
    from .quality import MAX_PRICE
    from .quality import MAX_QUANTITY
    from .quality import band_problem
    from .quality import bar_problem
    from .quality import quote_problem
    from .quorum import RESERVED_ACTORS
    from .quorum import approver_name
    from .quorum import is_approval as is_approval_row
    from .quorum import recorded_quorum
    from .readable import decimal_or_none
    from .readable import format_money
    from .readable import format_quantity
    from .request_budget import RequestBudget
    from .request_budget import RequestBudgetExhausted
    from .request_budget import broker_budgets
    from .risk import evaluate
    from .risk import intent_notional
    from .risk import intent_price
    from .risk import intent_quantity
    from .risk import reduces_position
    from .risk import signed
    from .runtime import Runtime
    from .runtime import run_cycles
    from .runtime.control import Control
    from .runtime.control import TRADING_STATES
    from .runtime.graph import Cycle
    from .runtime.graph import END as GRAPH_END
    from .runtime.graph import GraphSpec
    from .runtime.graph import NodeFailed
    from .runtime.graph import NodeSpec
    from .runtime.graph import NodeView
    from .runtime.graph import Route
    from .runtime.graph import error_text
    from .runtime.loop import stop_on_signals
    from .runtime.mode import resolve_mode
    from .runtime.stage import RELEASE_KEY
    from .runtime.stage import STAGES
    from .runtime.stage import active_release
    from .runtime.stage import check_stage
    from .runtime.stage import check_stages
    from .runtime.stage import config_digest
    from .runtime.stage import current_digest
    from .runtime.stage import get_stage
    from .runtime.stage import release_id
    from .runtime.stage import stage_key
    from .runtime.state import CycleState
    from .sections import ALERT_RULES
    from .sections import AlertsSettings
    from .sections import DeploySettings
    from .sections import Duration
    from .sections import SLO_INDICATORS
    from .sections import SloObjective
    from .sections import finite
    from .sections import non_negative
    from .sections import positive
    from .sections import ratio
    from .serde import ValidationError
    from .serde import structure
    from .serde import unstructure
    from .settings import Settings
    from .store import DatabaseCorrupted
    from .store import DiskFull
    from .store import IntentState
    from .store import SchemaError
    from .store import StateLost
    from .store import StateUnusable
    from .store import Store
    from .store import VerifyResult
    from .store import ensure_state_db
    from .store import open_store
    from .store.anchor import anchor_path as journal_anchor_path
    from .store.anchor import disagreement as journal_disagreement
    from .store.anchor import read_anchor as read_journal_anchor
    from .store.anchor import refuse_lost
    from .store.db import APP_ID as STORE_APP_ID
    from .store.db import DB_FILENAME
    from .store.db import OPEN_ORDERS_WHERE
    from .store.db import immediate
    from .store.db import ts_text
    from .store.dialect import transaction as store_transaction
    from .store.journal import COLUMNS as JOURNAL_COLUMNS
    from .store.journal import GENESIS as JOURNAL_GENESIS
    from .store.journal import row_hash as journal_row_hash
    from .store.journal import verify_chain as journal_verify_chain
    from .store.states import StaleVersion
    from .store.states import StateConflict
    from .store.tables import STORE_TABLES
    from .store.tables import TableSpec
    from .store.tables import Tables
    from .store.tables import catalogue as store_table_catalogue
    from .store.tables import define_on as store_define_tables
    from .store.tables import open_tables
    from .store_url import mask_store_url
    from .store_url import store_url_secrets
