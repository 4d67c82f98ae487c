"""The state store: intents and their state machine, the hash-chained journal, operator
control state, orders and fills, in one SQLite file (``<state_dir>/state.db``).

See docs/state.md. Other modules that keep state in the same file open it with
:func:`tradekernel.store.db.connect` and use their own prefixed tables.
"""

from __future__ import annotations

from .db import DB_FILENAME, SCHEMA_VERSION, connect, ensure_state_db
from .records import IntentRecord, JournalRow, VerifyResult
from .select import open_store
from .states import (
    CANCELLABLE,
    CLAIMED,
    TRANSITIONS,
    ApprovalExpired,
    DatabaseCorrupted,
    DiskFull,
    DuplicateApproval,
    IllegalTransition,
    IntentNotFound,
    IntentState,
    SchemaError,
    SecretInIntent,
    StaleVersion,
    StateConflict,
    StateLost,
    StateUnusable,
)
from .store import Store

__all__ = [
    "CANCELLABLE",
    "CLAIMED",
    "DB_FILENAME",
    "SCHEMA_VERSION",
    "TRANSITIONS",
    "ApprovalExpired",
    "DatabaseCorrupted",
    "DiskFull",
    "DuplicateApproval",
    "IllegalTransition",
    "IntentNotFound",
    "IntentRecord",
    "IntentState",
    "JournalRow",
    "SchemaError",
    "SecretInIntent",
    "StaleVersion",
    "StateConflict",
    "StateLost",
    "StateUnusable",
    "Store",
    "VerifyResult",
    "connect",
    "ensure_state_db",
    "open_store",
]
