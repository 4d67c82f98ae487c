"""The intent state machine and the store's error types."""

from __future__ import annotations

import enum
from collections.abc import Collection

from ..errors import ConfigError, NotFoundError, RefusedError, TradekernelError
from ..files import StateUnusable

__all__ = ["StateUnusable"]


class IntentState(enum.StrEnum):
    """Where an intent is in its life. See docs/state.md for the diagram."""

    PROPOSED = "proposed"
    BLOCKED = "blocked"
    PENDING_APPROVAL = "pending_approval"
    APPROVED = "approved"
    REJECTED = "rejected"
    EXPIRED = "expired"
    EXECUTING = "executing"
    SUBMITTED = "submitted"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def terminal(self) -> bool:
        return not TRANSITIONS[self]


S = IntentState
TRANSITIONS: dict[IntentState, frozenset[IntentState]] = {
    S.PROPOSED: frozenset({S.BLOCKED, S.PENDING_APPROVAL, S.CANCELLED}),
    S.PENDING_APPROVAL: frozenset({S.APPROVED, S.REJECTED, S.EXPIRED, S.CANCELLED}),
    S.APPROVED: frozenset({S.EXECUTING, S.CANCELLED}),
    S.EXECUTING: frozenset({S.SUBMITTED, S.FAILED}),
    S.BLOCKED: frozenset(),
    S.REJECTED: frozenset(),
    S.EXPIRED: frozenset(),
    S.SUBMITTED: frozenset(),
    S.FAILED: frozenset(),
    S.CANCELLED: frozenset(),
}
"""Legal moves: ``TRANSITIONS[from]`` is the set of states an intent may move to."""

CANCELLABLE = frozenset({S.PROPOSED, S.PENDING_APPROVAL, S.APPROVED})
CLAIMED = frozenset({S.EXECUTING, S.SUBMITTED, S.FAILED})
"""States an intent is in once an executor has claimed it."""


def parse_state(value: str | IntentState) -> IntentState:
    """``value`` as an :class:`IntentState`, or :class:`IllegalTransition` naming the choices."""
    try:
        return IntentState(value)
    except ValueError:
        choices = ", ".join(s.value for s in IntentState)
        raise IllegalTransition(f"unknown intent state {value!r} (one of: {choices})") from None


def as_states(value: str | Collection[str] | None) -> frozenset[IntentState] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return frozenset({parse_state(value)})
    return frozenset(parse_state(v) for v in value)


class IllegalTransition(RefusedError):
    """The state machine does not allow this move; nothing was written."""

    def __init__(self, message: str, *, current_state: str | None = None) -> None:
        super().__init__(message)
        self.current_state = current_state


class StateConflict(RefusedError):
    """The intent is not in the expected state (another actor got there first)."""

    def __init__(self, message: str, *, current_state: str | None = None) -> None:
        super().__init__(message)
        self.current_state = current_state


class StaleVersion(StateConflict):
    """The intent changed since the caller read it (its version moved on): a decision
    made on a stale view is refused and nothing is written."""


class ApprovalExpired(StateConflict):
    """The intent's approval window ended before the decision's write transaction began
    (its ``expires_at`` is not after the clock read under the write lock): nothing was
    written. ``expires_at`` is the window's end as journaled text."""

    def __init__(
        self, message: str, *, expires_at: str = "", current_state: str | None = None
    ) -> None:
        super().__init__(message, current_state=current_state)
        self.expires_at = expires_at


class DuplicateApproval(RefusedError):
    """The actor has approved this intent already: the same actor counts once toward its
    quorum; nothing was written."""


class SecretInIntent(RefusedError):
    """An intent's identifying field (symbol, strategist, prompt or schema version) holds
    a secret: masking it would make another intent, so the intent is refused and nothing
    is written. ``code`` is ``secret_in_intent``; the message names the field, never the
    value."""

    code = "secret_in_intent"

    def __init__(self, intent_id: str, field_name: str) -> None:
        super().__init__(f"intent {intent_id}: its {field_name} holds a configured secret")
        self.intent_id = intent_id
        self.field_name = field_name


class IntentNotFound(NotFoundError):
    """No intent has this id."""

    def __init__(self, intent_id: str) -> None:
        super().__init__(f"no intent with id {intent_id!r}")
        self.intent_id = intent_id


class SchemaError(ConfigError):
    """The state database is foreign, corrupted or written by a newer schema (exit 2)."""


class DatabaseCorrupted(SchemaError):
    """The state database is a SQLite file whose content is damaged (a malformed page):
    exit 2 for commands that use it; ``journal verify`` reports it as a failed
    verification (exit 4)."""


class StateLost(ConfigError):
    """The state database ends before the journal anchor says it does, or disagrees with
    it (lost, truncated or rolled back): refused, nothing changed (exit 2)."""


class DiskFull(TradekernelError):
    """SQLite reported ``SQLITE_FULL``: the disk (or the database's size limit) is full;
    the transaction was rolled back (exit 1)."""
