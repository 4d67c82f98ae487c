"""What the store hands back: intent records, journal rows and verification results."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from attrs import frozen

from ..models import GuardVerdict, Intent
from .states import IntentState


@frozen
class IntentRecord:
    """An intent with its current state, version and execution bookkeeping."""

    intent: Intent
    state: IntentState
    version: int
    cycle_id: str
    broker: str
    client_order_id: str
    created_at: datetime
    updated_at: datetime
    verdicts: list[GuardVerdict]
    ref_price: Decimal | None = None
    broker_order_id: str | None = None
    order_status: str | None = None
    filled_quantity: Decimal | None = None
    avg_fill_price: Decimal | None = None
    reason: str | None = None
    expires_at: datetime | None = None
    executing_since: datetime | None = None

    @property
    def id(self) -> str:
        return self.intent.id

    @property
    def all_allowed(self) -> bool:
        """True when no recorded guard verdict denies (vacuously true without guards)."""
        return all(v.allow for v in self.verdicts)

    @property
    def first_denial(self) -> GuardVerdict | None:
        return next((v for v in self.verdicts if not v.allow), None)


@frozen
class JournalRow:
    """One append-only journal entry. ``entity`` is an intent id or ``control:<key>``."""

    seq: int
    entity: str
    from_state: str | None
    to_state: str
    actor: str
    reason: str
    ts: str
    payload: dict[str, Any]
    payload_digest: str
    prev_hash: str
    hash: str


@frozen
class VerifyResult:
    """The outcome of :meth:`Store.verify_journal`. On a cross-check failure ``entity``
    names the intent id or ``control:<key>`` and ``column`` the disagreeing column."""

    ok: bool
    rows_checked: int
    first_bad_seq: int | None = None
    problem: str | None = None
    entity: str | None = None
    column: str | None = None
