"""The intent store: intents, their journal, operator control state, orders and fills.

Every state change is one write transaction holding the store's single-writer lock
(SQLite's ``BEGIN IMMEDIATE``; a server store's dialect takes its own, see
:mod:`tradekernel.store.dialect`) that updates the intent with a compare-and-set
(``WHERE id = ? AND state = ? AND version = ?``) and appends the journal row, so a
transition and its journal entry are written together or not at all.
"""

from __future__ import annotations

import enum
import functools
import json
import sqlite3
from collections.abc import Callable, Collection, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs
from loguru import logger

from ..errors import RefusedError
from ..models import Fill, GuardVerdict, Intent, IntentTransition, Order, canonical_json, utcnow
from ..portfolio.shares import Share, exact_sum, split_fill
from ..quorum import approver, approver_name
from ..redaction import redact_deep
from ..serde import structure, unstructure
from . import anchor as anchors
from . import journal, verify
from .db import (
    DB_FILENAME,
    OPEN_ORDERS_WHERE,
    SYNCHRONOUS,
    SYNCHRONOUS_EPHEMERAL,
    TERMINAL_ORDER_STATUSES,
    open_state_db,
    parse_ts,
    ts_text,
)
from .dialect import SQLITE, Dialect
from .records import IntentRecord, JournalRow, VerifyResult
from .states import (
    TRANSITIONS,
    ApprovalExpired,
    DuplicateApproval,
    IllegalTransition,
    IntentNotFound,
    IntentState,
    SchemaError,
    SecretInIntent,
    StaleVersion,
    StateConflict,
    StateLost,
    as_states,
    parse_state,
)

if TYPE_CHECKING:
    import tempfile

    import sqlite_utils

_INTENT_COLUMNS = (
    "id",
    "state",
    "version",
    "cycle_id",
    "broker",
    "client_order_id",
    "broker_order_id",
    "ref_price",
    "intent_json",
    "verdicts",
    "order_status",
    "filled_quantity",
    "avg_fill_price",
    "reason",
    "created_at",
    "updated_at",
    "expires_at",
    "executing_since",
)
_SELECT_INTENT = f"SELECT {', '.join(_INTENT_COLUMNS)} FROM intents"
UPDATABLE = frozenset(
    {
        "verdicts",
        "ref_price",
        "client_order_id",
        "broker_order_id",
        "order_status",
        "filled_quantity",
        "avg_fill_price",
        "reason",
        "expires_at",
        "executing_since",
    }
)
"""Columns :meth:`Store.transition` may set alongside a state change."""
UNKNOWN_TO_BROKER = "unknown_to_broker"
"""The reason code of a sent order the broker does not know (recorded once, beside its
order status, in the ``unknown_orders`` table: see :meth:`Store.mark_order_unknown`)."""
_TERMINAL_ORDER = TERMINAL_ORDER_STATUSES
_DECODED_KEPT = 256
"""Decoded intents (with their verdicts) kept, keyed by their stored text."""
_READS_KEPT = 64
"""At most this many intent lists are kept between two changes of the database."""


def _column_value(name: str, value: Any) -> Any:
    if value is None:
        return None
    if name == "verdicts":
        return json.dumps([unstructure(v) for v in value], sort_keys=True)
    if isinstance(value, datetime):
        return ts_text(value)
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, Decimal | int | float):
        return str(value)
    return value


_CORRUPT = ("could not decode", "malformed", "file is not a database")


def corruption(exc: sqlite3.DatabaseError) -> bool:
    """Whether SQLite's error means the file's content is damaged (not a usage error)."""
    text = str(exc).lower()
    return any(marker in text for marker in _CORRUPT)


def _mapped(method: Callable[..., Any]) -> Callable[..., Any]:
    """Report a damaged database file as one line naming it (exit 2), not as a crash."""

    @functools.wraps(method)
    def wrapper(self: Store, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except sqlite3.DatabaseError as exc:
            if not corruption(exc):
                raise
            raise SchemaError(
                f"{self.path}: the database is corrupted ({_short(exc)}); restore it "
                "(`tradekernel audit restore BACKUP --state-dir NEW_DIR`) and run "
                "`tradekernel journal verify`"
            ) from None

    return wrapper


def _control_problem(key: str, stored: str | None, journaled: str | None) -> str:
    return (
        f"control {key} is {'missing' if stored is None else stored} but its last "
        f"journal row set {'nothing' if journaled is None else journaled}"
    )


def _short(exc: BaseException, limit: int = 120) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _dec(value: str | None) -> Decimal | None:
    return None if value is None else Decimal(value)


INTENT_FREE_TEXT = ("rationale",)
"""Intent fields an outsider writes as free text: the store masks secrets in them."""
INTENT_IDENTIFYING_TEXT = ("id", "symbol", "strategist", "prompt_version", "schema_version")
"""Intent text fields that identify it (its id is derived from them): a secret in one
refuses the intent (:class:`SecretInIntent`)."""


class Store:
    """The state store in ``<state_dir>/state.db``. Open it with :meth:`Store.open`."""

    def __init__(
        self,
        conn: sqlite3.Connection,
        path: Path,
        *,
        on_transition: Callable[[IntentTransition], None] | None = None,
        clock: Callable[[], datetime] = utcnow,
        redact: Callable[[str], str] | None = None,
        evidence_copy: tempfile.TemporaryDirectory[str] | None = None,
        dialect: Dialect = SQLITE,
        anchor_dir: Path | None = None,
    ) -> None:
        self._conn = conn
        self.dialect = dialect
        """Where this backend's SQL differs (:mod:`tradekernel.store.dialect`)."""
        self._sqlite = dialect is SQLITE
        self._anchor_dir = anchor_dir
        self._db: sqlite_utils.Database | None = None
        self._evidence_copy = evidence_copy
        """A read-only evidence copy's directory: removed with the store."""
        self.path = path
        self.on_transition = on_transition
        self.clock = clock
        self.redact = redact
        """Scrubs text from outside (broker messages, reasons, payloads) before it is
        written: the journal is append-only, so a secret in it could never be removed."""
        self._appended = False
        """A journal row was committed since the anchor was last written."""
        self._checked_controls: tuple[Any, dict[str, tuple[Any, str | None]]] | None = None
        """The last answer of :meth:`checked_controls` and what it was valid for."""
        self._read_only = False
        self._reads: dict[tuple[str, tuple[Any, ...]], list[IntentRecord]] = {}
        """Intent lists read since the database last changed (see :meth:`_generation`)."""
        self._reads_at: tuple[int, int] | None = None
        self._open_orders_index: bool | None = None
        self._decode_cache: dict[tuple[str, str | None], tuple[Intent, tuple[Any, ...]]] = {}
        self.durable = True
        """``False``: opened with ``synchronous=OFF`` (a backtest's own state); closing
        makes the file durable (``synchronous=FULL`` and a WAL checkpoint)."""

    @classmethod
    def open(
        cls,
        state_dir: str | Path,
        *,
        on_transition: Callable[[IntentTransition], None] | None = None,
        clock: Callable[[], datetime] = utcnow,
        create: bool = True,
        redact: Callable[[str], str] | None = None,
        check_anchor: bool = True,
        read_only: bool = False,
        durable: bool = True,
    ) -> Store:
        """Open (creating unless ``create`` is false) ``<state_dir>/state.db``.

        ``redact`` (``Settings.redact``) masks secrets in every reason, payload, column
        update, control value and broker order written.

        Raises :class:`SchemaError` for a foreign, corrupted or newer-schema file,
        :class:`StateLost` when the journal ends before ``<state_dir>/journal.anchor``
        or disagrees with it (a lost, truncated or rolled-back database: nothing is
        adopted or written; ``check_anchor=False`` opens it anyway, for reading), and
        :class:`tradekernel.errors.NotFoundError` when ``create`` is false and it is missing.
        ``read_only`` (implies ``check_anchor=False``) opens an existing file for reading
        only, in a read-only directory too (an evidence copy): what ``journal verify``
        uses; nothing, the journal anchor included, is written.
        ``durable=False`` is for a backtest's own state only: every commit skips the
        fsync (``synchronous=OFF``) while the SQL, the compare-and-set claims and the
        journal stay the same; :meth:`close` checkpoints the WAL with ``synchronous=FULL``
        so the file left behind is complete and on disk. Every other caller (``run``,
        the CLI) opens with the default ``synchronous=FULL``.
        """
        path = Path(state_dir) / DB_FILENAME
        anchor = anchors.read_anchor(state_dir)

        def check(conn: sqlite3.Connection | None) -> bool:
            problem = anchors.disagreement(conn, anchor) if anchor is not None else None
            if problem is None:
                return True
            if not check_anchor:
                return False  # read it as it is: adopting (migrating) it would write
            raise StateLost(anchors.lost_message(state_dir, problem))

        if read_only:
            check_anchor = False
        if anchor is not None and not path.exists() and check_anchor:
            check(None)
        synchronous = SYNCHRONOUS if durable or read_only else SYNCHRONOUS_EPHEMERAL
        conn, copy = open_state_db(
            path, create=create, check=check, read_only=read_only, synchronous=synchronous
        )
        store = cls(
            conn,
            path,
            on_transition=on_transition,
            clock=clock,
            redact=redact,
            evidence_copy=copy,
        )
        store._read_only = read_only
        store.durable = synchronous == SYNCHRONOUS
        return store

    def _scrub(self, value: Any) -> Any:
        return value if self.redact is None else redact_deep(value, self.redact)

    def _scrub_intent(self, intent: Intent) -> Intent:
        """``intent`` with every secret in its free text (:data:`INTENT_FREE_TEXT`) masked.

        Nothing else is scrubbed (timestamps, enums, numbers are never secrets, and
        masking one would corrupt it). A secret in an identifying text field raises
        :class:`SecretInIntent`: masking it would silently make another intent."""
        if self.redact is None:
            return intent
        for name in INTENT_IDENTIFYING_TEXT:
            value = getattr(intent, name)
            if isinstance(value, str) and self.redact(value) != value:
                raise SecretInIntent(intent.id, name)
        changes = {}
        for name in INTENT_FREE_TEXT:
            value = getattr(intent, name)
            clean = self.redact(value)
            if clean != value:
                changes[name] = clean
        return attrs.evolve(intent, **changes) if changes else intent

    @property
    def conn(self) -> sqlite3.Connection:
        return self._conn

    @property
    def db(self) -> sqlite_utils.Database:
        """The connection as a ``sqlite_utils.Database``, made on first use (SQLite
        only: a plugin's own tables use :func:`tradekernel.store.tables.open_tables`,
        which works on every store)."""
        if self._db is None:
            import sqlite_utils

            self._db = sqlite_utils.Database(self.conn, execute_plugins=False)
        return self._db

    def close(self) -> None:
        """Write the journal anchor (when this store appended) and close the database."""
        if getattr(self, "_discarded", False):
            return
        try:
            if not self.durable:
                self.make_durable()
            self.write_anchor()
        finally:
            self.conn.close()

    def make_durable(self) -> None:
        """Back to ``synchronous=FULL`` and every committed row written into the database
        file and synced (a WAL checkpoint): what a non-durable store does when closed."""
        self.conn.execute(f"PRAGMA synchronous = {SYNCHRONOUS}")
        self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
        self.durable = True

    # -- the journal anchor --------------------------------------------------------------

    @property
    def state_dir(self) -> Path:
        """The directory of the journal anchor (``journal.anchor``): the state directory
        for the SQLite store, a directory of the server store's own in it otherwise."""
        return self._anchor_dir or self.path.parent

    def journal_head(self) -> tuple[int, str | None]:
        """The journal's last ``(seq, hash)``; ``(0, None)`` when it is empty."""
        return anchors.head(self.conn)

    def unknown_client_order_ids(self, ids: list[str]) -> list[str]:
        """Those of ``ids`` (in their order) that no intent or order in the store has."""
        if not ids:
            return []
        marks = ",".join("?" * len(ids))
        sql = (
            f"SELECT client_order_id FROM intents WHERE client_order_id IN ({marks}) "
            f"UNION SELECT client_order_id FROM orders WHERE client_order_id IN ({marks})"
        )
        known = {r[0] for r in self.conn.execute(sql, [*ids, *ids])}
        return [i for i in ids if i not in known]

    def discard(self) -> None:
        """Close the store and delete its database files: for a store its opener has just
        created and refuses to adopt (nothing may be left that a later start takes for the
        state)."""
        self._discarded = True
        self.conn.close()
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(f"{self.path}{suffix}").unlink(missing_ok=True)

    def write_anchor(self, *, force: bool = False) -> anchors.Anchor | None:
        """Record the journal's committed head in ``<state_dir>/journal.anchor`` (fsynced)
        when this store appended since the last write (``force``: in any case). Never
        moves the anchor back: the journal may be ahead of the anchor, never behind."""
        if not (self._appended or force) or self._read_only:
            return None
        self._appended = False
        seq, hash_ = self.journal_head()
        if hash_ is None:
            return None
        current = anchors.read_anchor(self.state_dir)
        if current is not None and current.seq >= seq and not force:
            return current
        try:
            return anchors.write_anchor(self.state_dir, seq, hash_, now=self.clock())
        except OSError as exc:  # a full disk: the anchor lags (allowed), retried next time
            self._appended = True
            if force:
                raise
            path = anchors.anchor_path(self.state_dir)
            logger.warning("could not write the journal anchor {}: {}", path, exc)
            return None

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- intents ---------------------------------------------------------------------

    @_mapped
    def add_intent(
        self,
        intent: Intent,
        *,
        cycle_id: str,
        broker: str,
        ref_price: Decimal | None = None,
        actor: str = "runtime",
    ) -> IntentRecord:
        """Record a new intent as ``proposed`` (journaled). Idempotent on ``intent.id``:
        adding an id that exists returns the stored record and writes nothing.

        Secrets in the intent's free text (its rationale) are masked before it is stored;
        a secret in a field that identifies it raises :class:`SecretInIntent` and
        nothing is written."""
        intent = self._scrub_intent(intent)
        with self.dialect.write(self.conn) as conn:
            now = self._now(conn)
            ts = ts_text(now)
            if conn.execute("SELECT 1 FROM intents WHERE id = ?", (intent.id,)).fetchone():
                created = False
            else:
                created = True
                conn.execute(
                    "INSERT INTO intents (id, state, version, cycle_id, broker, symbol, side, "
                    "client_order_id, ref_price, intent_json, verdicts, created_at, updated_at) "
                    "VALUES (?, ?, 1, ?, ?, ?, ?, ?, ?, ?, '[]', ?, ?)",
                    (
                        intent.id,
                        IntentState.PROPOSED.value,
                        cycle_id,
                        broker,
                        intent.symbol,
                        intent.side.value,
                        intent.client_order_id,
                        _column_value("ref_price", ref_price),
                        canonical_json(unstructure(intent)),
                        ts,
                        ts,
                    ),
                )
                journal.append(
                    conn,
                    entity=intent.id,
                    from_state=None,
                    to_state=IntentState.PROPOSED.value,
                    actor=actor,
                    reason="",
                    ts=ts,
                    payload={
                        "cycle_id": cycle_id,
                        "broker": broker,
                        "intent": unstructure(intent),
                        "ref_price": _column_value("ref_price", ref_price),
                        "client_order_id": intent.client_order_id,
                    },
                )
        if created:
            self._appended = True
            self._notify(intent.id, None, IntentState.PROPOSED, actor, "", now, {})
        return self.get(intent.id)

    @_mapped
    def transition(
        self,
        intent_id: str,
        to_state: str | IntentState,
        *,
        expected_from: str | Collection[str] | None = None,
        expected_version: int | None = None,
        actor: str,
        reason: str = "",
        payload: dict[str, Any] | None = None,
        deadline_clock: Callable[[], datetime] | None = None,
        **column_updates: Any,
    ) -> IntentRecord:
        """Move an intent to ``to_state`` and journal it, in one transaction.

        ``expected_from`` makes it a compare-and-set: when the intent is in another state
        :class:`StateConflict` is raised (``.current_state`` says where it is). A move the
        state machine forbids raises :class:`IllegalTransition`. Either way nothing is
        written. ``column_updates`` may set any of :data:`UPDATABLE`; they are journaled
        under the payload key ``set`` (reserved: ``payload`` may not use it), which is how
        verify rebuilds the columns. ``expected_version`` also compares the row's version:
        an intent changed since the caller read it raises :class:`StaleVersion`.
        With ``deadline_clock`` (an approval decision) a pending intent whose
        ``expires_at`` is not after ``deadline_clock()``, read under the write lock, raises
        :class:`ApprovalExpired`. The row's time is the store clock read under the lock
        (:meth:`_now`).
        """
        target = parse_state(to_state)
        expected = as_states(expected_from)
        unknown = set(column_updates) - UPDATABLE
        if unknown:
            raise TypeError(f"transition: cannot set column(s) {', '.join(sorted(unknown))}")
        if payload and "set" in payload:
            raise TypeError("transition: payload key 'set' is reserved for the columns set")
        if self.redact is not None:
            actor, reason = self.redact(actor), self.redact(reason)
            payload = self._scrub(payload)
            if column_updates.get("verdicts") is not None:  # objects: scrub their text
                verdicts = [unstructure(v) for v in column_updates["verdicts"]]
                column_updates = {**column_updates, "verdicts": verdicts}
            column_updates = self._scrub(column_updates)
        with self.dialect.write(self.conn) as conn:
            row = conn.execute(
                "SELECT state, version, expires_at FROM intents WHERE id = ?", (intent_id,)
            ).fetchone()
            if row is None:
                raise IntentNotFound(intent_id)
            current, version = IntentState(row[0]), row[1]
            now = self._now(conn)
            ts = ts_text(now)
            updates = {k: _column_value(k, v) for k, v in column_updates.items()}
            if target is IntentState.EXECUTING:
                updates.setdefault("executing_since", ts)
            if reason:
                updates.setdefault("reason", reason)
            body = dict(payload or {})
            if updates:
                body["set"] = updates
            if expected_version is not None and version != expected_version:
                raise StaleVersion(
                    f"intent {intent_id} changed since it was read (version {version}, "
                    f"not {expected_version}); nothing was written",
                    current_state=current.value,
                )
            if expected is not None and current not in expected:
                wanted = "/".join(sorted(s.value for s in expected))
                claimed = " (already claimed)" if target is IntentState.EXECUTING else ""
                raise StateConflict(
                    f"intent {intent_id} is {current.value}, not {wanted}{claimed}; "
                    "nothing was written",
                    current_state=current.value,
                )
            if deadline_clock is not None and current is IntentState.PENDING_APPROVAL:
                _refuse_expired(intent_id, row[2], deadline_clock())
            if target not in TRANSITIONS[current]:
                allowed = ", ".join(sorted(s.value for s in TRANSITIONS[current])) or "none"
                raise IllegalTransition(
                    f"intent {intent_id}: illegal transition {current.value} -> {target.value} "
                    f"(allowed from {current.value}: {allowed}); nothing was written",
                    current_state=current.value,
                )
            sets = "".join(f", {k} = ?" for k in updates)
            cur = conn.execute(
                f"UPDATE intents SET state = ?, version = version + 1, updated_at = ?{sets} "
                "WHERE id = ? AND state = ? AND version = ?",
                (target.value, ts, *updates.values(), intent_id, current.value, version),
            )
            if cur.rowcount != 1:  # cannot happen under BEGIN IMMEDIATE; kept as the CAS proof
                raise StateConflict(
                    f"intent {intent_id} changed concurrently; nothing was written",
                    current_state=current.value,
                )
            journal.append(
                conn,
                entity=intent_id,
                from_state=current.value,
                to_state=target.value,
                actor=actor,
                reason=reason,
                ts=ts,
                payload=body,
            )
            # as committed: a read after the commit may see another writer's next change
            written = conn.execute(f"{_SELECT_INTENT} WHERE id = ?", (intent_id,)).fetchone()
        self._appended = True
        self._notify(intent_id, current, target, actor, reason, now, body)
        return self._record(written)

    @_mapped
    def record_approval(
        self,
        intent_id: str,
        *,
        actor: str,
        required: int,
        reason: str = "",
        expected_version: int | None = None,
        deadline_clock: Callable[[], datetime] | None = None,
    ) -> tuple[IntentRecord, int]:
        """Record ``actor``'s approval of a pending intent that needs ``required`` distinct
        approvers, in one transaction, and return the record and the approval's number.

        Below the quorum it is a ``pending_approval -> pending_approval`` journal row
        (payload ``approval``: ``{"n": k, "of": required}``) and the intent's version
        moves on; the ``required``-th distinct approval is the move to ``approved``.
        Refused, nothing written: :class:`StateConflict` for an intent no longer pending,
        :class:`StaleVersion` as in :meth:`transition`, :class:`DuplicateApproval` for an
        actor who approved it already (compared with
        :func:`~tradekernel.quorum.approver`: case and spacing do not make another),
        :class:`ApprovalExpired` when its ``expires_at`` is not after ``deadline_clock()``
        (default: the store clock) read under the write lock. ``actor`` must pass
        :func:`~tradekernel.quorum.approver_name` (it is journaled in that form) and hold
        no secret; else a RefusedError."""
        actor = approver_name(actor)
        if self.redact is not None:
            if self.redact(actor) != actor:
                raise RefusedError("approver name contains a secret value; nothing was changed")
            reason = self.redact(reason)
        pending = IntentState.PENDING_APPROVAL
        with self.dialect.write(self.conn) as conn:
            row = conn.execute(
                "SELECT state, version, expires_at FROM intents WHERE id = ?", (intent_id,)
            ).fetchone()
            if row is None:
                raise IntentNotFound(intent_id)
            current, version = row[0], row[1]
            now = self._now(conn)
            ts = ts_text(now)
            if expected_version is not None and version != expected_version:
                raise StaleVersion(
                    f"intent {intent_id} changed since it was read (version {version}, "
                    f"not {expected_version}); nothing was written",
                    current_state=current,
                )
            if current != pending.value:
                raise StateConflict(
                    f"intent {intent_id} is {current}, not pending_approval; nothing was written",
                    current_state=current,
                )
            _refuse_expired(intent_id, row[2], (deadline_clock or self.clock)())
            given = [
                r[0]
                for r in conn.execute(
                    "SELECT actor FROM journal WHERE entity = ? AND from_state = ? AND "
                    "to_state = ? ORDER BY seq",
                    (intent_id, pending.value, pending.value),
                )
            ]
            who = [approver(a) for a in given]
            if approver(actor) in who:
                raise DuplicateApproval(
                    f"intent {intent_id}: {actor} has approved it already (approval "
                    f"{who.index(approver(actor)) + 1} of {required}); the same actor counts "
                    "once; nothing was changed"
                )
            count = len(given) + 1
            target = IntentState.APPROVED if count >= required else pending
            body: dict[str, Any] = {"approval": {"n": count, "of": required}}
            if reason:
                body["set"] = {"reason": reason}
            cur = conn.execute(
                "UPDATE intents SET state = ?, version = version + 1, updated_at = ?"
                f"{', reason = ?' if reason else ''} WHERE id = ? AND version = ?",
                (target.value, ts, *([reason] if reason else []), intent_id, version),
            )
            if cur.rowcount != 1:  # cannot happen under BEGIN IMMEDIATE; kept as the CAS proof
                raise StateConflict(f"intent {intent_id} changed concurrently; nothing was written")
            journal.append(
                conn,
                entity=intent_id,
                from_state=pending.value,
                to_state=target.value,
                actor=actor,
                reason=reason,
                ts=ts,
                payload=body,
            )
            written = conn.execute(f"{_SELECT_INTENT} WHERE id = ?", (intent_id,)).fetchone()
        self._appended = True
        if target is IntentState.APPROVED:
            self._notify(intent_id, pending, target, actor, reason, now, body)
        return self._record(written), count

    def _now(self, conn: sqlite3.Connection) -> datetime:
        """The time of a row about to be journaled: the store clock read while ``conn``
        holds the write lock, so rows of writers sharing a clock are in time order with
        ``seq`` (read before the lock, a writer that waited would journal the time it
        started waiting, before rows committed meanwhile)."""
        return self.clock()

    def _notify(
        self,
        intent_id: str,
        from_state: IntentState | None,
        to_state: IntentState,
        actor: str,
        reason: str,
        ts: datetime,
        payload: dict[str, Any],
    ) -> None:
        if self.on_transition is None:
            return
        transition = IntentTransition(
            intent_id=intent_id,
            from_state=from_state.value if from_state else None,
            to_state=to_state.value,
            actor=actor,
            reason=reason,
            ts=ts,
            payload=payload,
        )
        try:
            self.on_transition(transition)
        except Exception as exc:  # an observer must never undo or block a committed change
            logger.warning("on_transition observer raised {}: {}", type(exc).__name__, exc)

    @_mapped
    def get(self, intent_id: str) -> IntentRecord:
        """The intent's current record, or :class:`IntentNotFound`."""
        row = self.conn.execute(f"{_SELECT_INTENT} WHERE id = ?", (intent_id,)).fetchone()
        if row is None:
            raise IntentNotFound(intent_id)
        return self._record(row)

    def find(self, intent_id: str) -> IntentRecord | None:
        """Like :meth:`get`, but ``None`` for an unknown id."""
        try:
            return self.get(intent_id)
        except IntentNotFound:
            return None

    @_mapped
    def list_intents(
        self,
        *,
        state: str | None = None,
        cycle_id: str | None = None,
        limit: int | None = None,
        open_orders: bool = False,
    ) -> list[IntentRecord]:
        """Intents, oldest first, optionally filtered by state and cycle. ``open_orders``
        keeps only intents whose order is not known to be terminal (the monitor's work:
        filtering in SQL keeps it flat as filled orders accumulate)."""
        where: list[str] = []
        args: list[Any] = []
        wanted = parse_state(state) if state is not None else None
        select = _SELECT_INTENT
        if open_orders and wanted is IntentState.SUBMITTED:
            # the partial index holds exactly these rows, in this order: the query costs
            # the number of open orders, however many intents were ever submitted
            if self._has_open_orders_index():
                select += " INDEXED BY intents_open_orders"
            where.append(OPEN_ORDERS_WHERE)
        else:
            if open_orders:
                marks = ", ".join("?" * len(_TERMINAL_ORDER))
                where.append(f"(order_status IS NULL OR order_status NOT IN ({marks}))")
                args.extend(_TERMINAL_ORDER)
            if wanted is not None:
                where.append("state = ?")
                args.append(wanted.value)
        if cycle_id is not None:
            where.append("cycle_id = ?")
            args.append(cycle_id)
        sql = select + (" WHERE " + " AND ".join(where) if where else "")
        sql += " ORDER BY created_at, id"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        try:
            return self._cached_read(sql, tuple(args))
        except sqlite3.OperationalError as exc:
            if " INDEXED BY " not in sql or "no such index" not in str(exc):
                raise
            # The index went missing under this connection (a schema edited by hand): the
            # query is slower without it, never wrong, and the monitor keeps working.
            logger.warning("state.db lacks the index intents_open_orders: {}", exc)
            self._open_orders_index = False
            plain = sql.replace(" INDEXED BY intents_open_orders", "")
            return self._cached_read(plain, tuple(args))

    def _has_open_orders_index(self) -> bool:
        """Schema 3's partial index exists (a file opened as it is, unmigrated, lacks it)."""
        if self._open_orders_index is None:
            self._open_orders_index = self.dialect.open_orders_index and (
                self.conn.execute(
                    "SELECT 1 FROM sqlite_master WHERE type = 'index' "
                    "AND name = 'intents_open_orders'"
                ).fetchone()
                is not None
            )
        return self._open_orders_index

    def _generation(self) -> tuple[int, int]:
        """Changes whenever the database may have: ``PRAGMA data_version`` moves when
        another connection (another process too) commits, ``total_changes`` when this
        connection writes a row (committed or not)."""
        conn = self._conn
        if self._sqlite:  # inline: every read of an idle cycle asks
            return conn.execute("PRAGMA data_version").fetchone()[0], conn.total_changes
        return self.dialect.data_version(conn), conn.total_changes

    def _cached_read(self, sql: str, args: tuple[Any, ...]) -> list[IntentRecord]:
        """The intents ``sql`` selects, reused while the database did not change: a cycle
        in which nothing happened re-reads nothing (one ``PRAGMA data_version``) and does
        not decode the same stored intents again. Inside an open transaction (a snapshot
        a caller holds) it always reads."""
        if self.conn.in_transaction:
            return [self._record(r) for r in self.conn.execute(sql, args)]
        generation = self._generation()
        if generation != self._reads_at or len(self._reads) >= _READS_KEPT:
            self._reads.clear()
            self._reads_at = generation
        key = (sql, args)
        records = self._reads.get(key)
        if records is None:
            records = [self._record(r) for r in self.conn.execute(sql, args)]
            if self._generation() == generation:  # nothing changed while reading
                self._reads[key] = records
            return list(records)
        # A record is frozen but its verdicts are a list: a caller that changes it must
        # not change what later callers read.
        return [attrs.evolve(r, verdicts=list(r.verdicts)) if r.verdicts else r for r in records]

    def _decoded(self, intent_json: str, verdicts_json: str | None) -> tuple[Intent, list]:
        """The stored intent and verdicts as objects, decoded once per distinct text (both
        are immutable: frozen classes, a fresh list each time)."""
        key = (intent_json, verdicts_json)
        hit = self._decode_cache.get(key)
        if hit is None:
            intent = structure(json.loads(intent_json), Intent, what="stored intent")
            verdicts = tuple(structure(v, GuardVerdict) for v in json.loads(verdicts_json or "[]"))
            if len(self._decode_cache) >= _DECODED_KEPT:
                self._decode_cache.clear()
            hit = self._decode_cache[key] = (intent, verdicts)
        return hit[0], list(hit[1])

    def _record(self, row: tuple) -> IntentRecord:
        r = dict(zip(_INTENT_COLUMNS, row, strict=True))
        intent, verdicts = self._decoded(r["intent_json"], r["verdicts"])
        return IntentRecord(
            intent=intent,
            state=IntentState(r["state"]),
            version=r["version"],
            cycle_id=r["cycle_id"] or "",
            broker=r["broker"] or "",
            client_order_id=r["client_order_id"],
            created_at=parse_ts(r["created_at"]),
            updated_at=parse_ts(r["updated_at"]),
            verdicts=verdicts,
            ref_price=_dec(r["ref_price"]),
            broker_order_id=r["broker_order_id"],
            order_status=r["order_status"],
            filled_quantity=_dec(r["filled_quantity"]),
            avg_fill_price=_dec(r["avg_fill_price"]),
            reason=r["reason"],
            expires_at=parse_ts(r["expires_at"]),
            executing_since=parse_ts(r["executing_since"]),
        )

    # -- journal ---------------------------------------------------------------------

    @_mapped
    def journal_rows(self, entity: str | None = None) -> list[JournalRow]:
        """Journal rows in order, all of them or those of one entity."""
        return [journal.to_row(r) for r in journal.iter_raw(self.conn, entity)]

    def verify_journal(self) -> VerifyResult:
        """See :meth:`_verify_journal`; a row SQLite cannot read (damaged file) fails it.
        Called inside an open transaction, it checks what that transaction sees (its own
        uncommitted writes included) and leaves it open."""
        try:
            return self._verify_journal()
        except sqlite3.DatabaseError as exc:
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
            if not corruption(exc):
                raise
            return VerifyResult(False, 0, problem=f"the database is corrupted ({_short(exc)})")

    def _verify_journal(self) -> VerifyResult:
        """Check the hash chain, then that every intent's journal-backed columns
        (:data:`verify.JOURNALED_COLUMNS`, state, version, a content-derived id) and every
        control value agree with what the journal rebuilds. One pass over the journal."""
        conn = self.conn
        replay = verify.Replay()
        anchor = anchors.read_anchor(self.state_dir)
        if anchor is not None and anchors.head(conn)[1] is None:  # no journal at all
            problem = anchors.disagreement(conn, anchor)
            if problem is not None:
                return VerifyResult(False, 0, first_bad_seq=1, problem=problem, entity="journal")
        own = not conn.in_transaction  # inside a caller's transaction: check what it sees
        if own:
            conn.execute("BEGIN")  # one consistent snapshot for all checks
        try:
            result, _ = journal.verify_chain(journal.iter_raw(conn), on_row=replay.add)
            if not result.ok:
                return result
            lost = anchors.disagreement(conn, anchor) if anchor is not None else None
            if lost is not None:
                seq = min(anchor.seq, result.rows_checked + 1)  # type: ignore[union-attr]
                return VerifyResult(
                    False, result.rows_checked, first_bad_seq=seq, problem=lost, entity="journal"
                )
            problem = verify.cross_check(conn, replay)
        finally:
            if own:
                conn.execute("COMMIT")
        if problem is None:
            return result
        return VerifyResult(
            False,
            result.rows_checked,
            first_bad_seq=problem.seq,
            problem=problem.text,
            entity=problem.entity,
            column=problem.column,
        )

    def journal_disagreement(self, intent_id: str) -> str | None:
        """Why ``intent_id``'s row disagrees with its journal rows (state, version, the
        journal-backed columns, each row's hash), or ``None`` when it agrees."""
        self.conn.execute("BEGIN")  # one snapshot: the rows and the intent read together
        try:
            problem = verify.check_one(self.conn, intent_id)
        finally:
            self.conn.execute("COMMIT")
        return None if problem is None else problem.text

    @_mapped
    def verified(self, intent_id: str) -> tuple[IntentRecord | None, str | None]:
        """``intent_id``'s record (``None``: missing) and why it disagrees with its journal
        rows (``None``: it agrees), read in one snapshot: a caller that sends the record
        sends exactly the row that was checked."""
        self.conn.execute("BEGIN")  # one snapshot: the rows and the intent read together
        try:
            problem = verify.check_one(self.conn, intent_id)
            record = self.find(intent_id)
        finally:
            self.conn.execute("COMMIT")
        return record, None if problem is None else problem.text

    @_mapped
    def latest_intents(
        self, state: str | IntentState, limit: int, *, broker: str | None = None
    ) -> list[IntentRecord]:
        """The ``limit`` intents in ``state`` changed most recently, newest first (those
        recorded for ``broker`` only, when given)."""
        mine = "" if broker is None else " AND broker = ?"
        sql = f"{_SELECT_INTENT} WHERE state = ?{mine} ORDER BY updated_at DESC, id LIMIT ?"
        args = (parse_state(state).value, *(() if broker is None else (broker,)), int(limit))
        return [self._record(r) for r in self.conn.execute(sql, args)]

    # -- operator control state --------------------------------------------------------

    @_mapped
    def get_control(self, key: str, default: Any = None) -> Any:
        """The control value under ``key`` (JSON), or ``default``."""
        row = self.conn.execute("SELECT value FROM control WHERE key = ?", (key,)).fetchone()
        return default if row is None else json.loads(row[0])

    @_mapped
    def checked_control(self, key: str, default: Any = None) -> tuple[Any, str | None]:
        """Control ``key`` compared with its last journal row, in one indexed query:
        ``(value, None)`` when they agree (``default`` when neither has one), else
        ``(None, problem)``: the row was deleted or changed behind the journal's back
        and the caller must fail safe (the executor treats it as halted)."""
        stored, journaled = self.conn.execute(
            "SELECT (SELECT value FROM control WHERE key = ?), (SELECT to_state FROM journal "
            "WHERE entity = ? ORDER BY seq DESC LIMIT 1)",
            (key, f"control:{key}"),
        ).fetchone()
        if stored == journaled or (stored is None and journaled in (None, "null")):
            return (default if stored is None else json.loads(stored)), None
        return None, _control_problem(key, stored, journaled)

    @_mapped
    def data_version(self) -> int:
        """A number that changes whenever another connection commits to this database:
        SQLite's ``PRAGMA data_version`` (one cheap read, no table touched); a server
        store's changes on every call (nothing read is reused)."""
        return self.dialect.data_version(self.conn)

    @property
    def own_changes(self) -> int:
        """Rows this store's connection has inserted, updated or deleted so far (never
        decreases; no SQL). With :meth:`data_version` it tells whether anything changed."""
        return self.conn.total_changes

    @_mapped
    def checked_controls(self, keys: Sequence[str] = ()) -> dict[str, tuple[Any, str | None]]:
        """Every control (and each of ``keys``, present or not) compared with its last
        journal row, in one query (one indexed journal lookup per key): ``key -> (value,
        None)`` when they agree, ``(value as stored, problem)`` when the row was deleted
        or changed behind the journal's back (see :meth:`checked_control`).

        The answer is reused while no other connection committed anything (``PRAGMA
        data_version``) and this store wrote no control: a row changed behind the journal
        is changed by some connection, so nothing can be missed, and a backtest's cycles
        do not pay for the query."""
        if self._sqlite:
            version = self._conn.execute("PRAGMA data_version").fetchone()[0]
        else:
            version = self.dialect.data_version(self._conn)
        memo = (version, tuple(keys))
        if self._checked_controls is not None and self._checked_controls[0] == memo:
            return dict(self._checked_controls[1])
        out = self._check_controls(keys)
        self._checked_controls = (memo, out)
        return dict(out)

    def _check_controls(self, keys: Sequence[str]) -> dict[str, tuple[Any, str | None]]:
        rows = self.conn.execute(
            "SELECT k.key, c.value, (SELECT to_state FROM journal WHERE entity = 'control:' "
            "|| k.key ORDER BY seq DESC LIMIT 1) FROM (SELECT key FROM control UNION "
            f"{self.dialect.control_keys_sql}) k LEFT JOIN control c ON c.key = k.key",
            (json.dumps(list(keys)),),
        )
        out: dict[str, tuple[Any, str | None]] = {}
        for key, stored, journaled in rows:
            value = None if stored is None else json.loads(stored)
            if stored == journaled or (stored is None and journaled in (None, "null")):
                out[key] = (value, None)
            else:
                out[key] = (value, _control_problem(key, stored, journaled))
        return out

    @_mapped
    def controls(self) -> dict[str, Any]:
        """Every control value, by key."""
        return {k: json.loads(v) for k, v in self.conn.execute("SELECT key, value FROM control")}

    def set_control(self, key: str, value: Any, *, actor: str, reason: str = "") -> None:
        """Set a control value (kill switch, trading state ...), journaled as ``control:<key>``."""
        self.set_controls([(key, value, reason)], actor=actor)

    @_mapped
    def control_text(self, key: str) -> str | None:
        """The stored (canonical JSON) text of control ``key``: what ``expect`` compares."""
        row = self.conn.execute("SELECT value FROM control WHERE key = ?", (key,)).fetchone()
        return None if row is None else row[0]

    @_mapped
    def set_controls(
        self,
        writes: Sequence[tuple[str, Any, str]],
        *,
        actor: str,
        expect: Mapping[str, str | None] | None = None,
    ) -> None:
        """Set several ``(key, value, reason)`` controls in one transaction, each journaled.

        ``expect`` makes it a compare-and-set: every named key must still hold that stored
        text (:meth:`control_text`; ``None``: no row), else :class:`StateConflict` is
        raised and nothing is written."""
        self._checked_controls = None
        actor = actor if self.redact is None else self.redact(actor)
        with self.dialect.write(self.conn) as conn:
            ts = ts_text(self._now(conn))
            for key, wanted in (expect or {}).items():
                row = conn.execute("SELECT value FROM control WHERE key = ?", (key,)).fetchone()
                current = None if row is None else row[0]
                if current != wanted:
                    raise StateConflict(
                        f"control {key} changed since it was read; nothing was changed",
                        current_state=current,
                    )
            for key, value, reason in self._scrub(list(writes)):
                text = canonical_json(value)
                row = conn.execute("SELECT value FROM control WHERE key = ?", (key,)).fetchone()
                conn.execute(
                    "INSERT INTO control (key, value, actor, updated_at) VALUES (?, ?, ?, ?) "
                    "ON CONFLICT(key) DO UPDATE SET value = excluded.value, "
                    "actor = excluded.actor, updated_at = excluded.updated_at",
                    (key, text, actor, ts),
                )
                journal.append(
                    conn,
                    entity=f"control:{key}",
                    from_state=row[0] if row else None,
                    to_state=text,
                    actor=actor,
                    reason=reason,
                    ts=ts,
                    payload={"key": key, "value": json.loads(text)},
                )
        self._appended = bool(writes) or self._appended

    # -- orders and fills --------------------------------------------------------------

    @_mapped
    def upsert_order(self, order: Order, *, intent_id: str | None = None) -> None:
        """Record the broker's view of an order (keyed by client order id) and copy its
        status onto the intent. A terminal status is never overwritten by a stale one,
        nor a filled quantity by a lower one (what executed stays executed)."""
        if self.redact is not None and order.reason:
            order = attrs.evolve(order, reason=self.redact(order.reason))
        ts = ts_text(self.clock())
        with self.dialect.write(self.conn) as conn:
            old = conn.execute(
                "SELECT status, intent_id, filled_quantity FROM orders WHERE client_order_id = ?",
                (order.client_order_id,),
            ).fetchone()
            if old and old[0] in _TERMINAL_ORDER and order.status.value != old[0]:
                return
            if old and old[2] is not None and Decimal(old[2]) > order.filled_quantity:
                order = attrs.evolve(order, filled_quantity=Decimal(old[2]))
            intent_id = intent_id or (old[1] if old else None) or self._intent_for(order)
            values = (
                order.client_order_id,
                intent_id,
                order.broker_order_id,
                order.symbol,
                order.side.value,
                str(order.quantity),
                order.status.value,
                str(order.filled_quantity),
                _column_value("avg_fill_price", order.avg_fill_price),
                canonical_json(unstructure(order)),
                ts,
            )
            conn.execute(
                "INSERT INTO orders (client_order_id, intent_id, broker_order_id, "
                "symbol, side, quantity, status, filled_quantity, avg_fill_price, order_json, "
                "updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (client_order_id) DO UPDATE SET intent_id = excluded.intent_id, "
                "broker_order_id = excluded.broker_order_id, symbol = excluded.symbol, "
                "side = excluded.side, quantity = excluded.quantity, status = excluded.status, "
                "filled_quantity = excluded.filled_quantity, "
                "avg_fill_price = excluded.avg_fill_price, order_json = excluded.order_json, "
                "updated_at = excluded.updated_at",
                values,
            )
            conn.execute(
                "UPDATE intents SET order_status = ?, filled_quantity = ?, avg_fill_price = ?, "
                "broker_order_id = COALESCE(?, broker_order_id) WHERE client_order_id = ?",
                (values[6], values[7], values[8], order.broker_order_id, order.client_order_id),
            )

    @_mapped
    def mark_order_unknown(self, client_order_id: str) -> bool:
        """Record that the broker does not know the sent order ``client_order_id`` (a row
        in ``unknown_orders``, an order-tracked table the journal does not back); its
        order status is kept and it is still asked about. ``False`` when it was already
        recorded (another process or an earlier start found it first): it is reported
        once until the broker knows it again (:meth:`mark_order_known`)."""
        with self.dialect.write(self.conn) as conn:
            cur = conn.execute(
                "INSERT INTO unknown_orders (client_order_id, since) VALUES (?, ?) "
                "ON CONFLICT DO NOTHING",
                (client_order_id, ts_text(self.clock())),
            )
        return cur.rowcount > 0

    @_mapped
    def mark_order_known(self, client_order_id: str) -> bool:
        """The broker knows ``client_order_id`` (again): clear its unknown flag. ``True``
        when there was one."""
        with self.dialect.write(self.conn) as conn:
            cur = conn.execute(
                "DELETE FROM unknown_orders WHERE client_order_id = ?", (client_order_id,)
            )
        return cur.rowcount > 0

    def unknown_orders(self) -> list[str]:
        """Client order ids of the sent orders the broker did not know when last asked."""
        sql = "SELECT client_order_id FROM unknown_orders ORDER BY since, client_order_id"
        return [r[0] for r in self.conn.execute(sql)]

    def _intent_for(self, order: Order) -> str | None:
        row = self.conn.execute(
            "SELECT id FROM intents WHERE client_order_id = ?", (order.client_order_id,)
        ).fetchone()
        return row[0] if row else None

    @_mapped
    def get_order(self, client_order_id: str) -> Order | None:
        row = self.conn.execute(
            "SELECT order_json FROM orders WHERE client_order_id = ?", (client_order_id,)
        ).fetchone()
        return None if row is None else structure(json.loads(row[0]), Order)

    @_mapped
    def orders(self, *, intent_id: str | None = None) -> list[Order]:
        sql, args = "SELECT order_json FROM orders", ()
        if intent_id is not None:
            sql, args = sql + " WHERE intent_id = ?", (intent_id,)
        return [structure(json.loads(r[0]), Order) for r in self.conn.execute(sql, args)]

    @_mapped
    def record_fill(self, fill: Fill, *, intent_id: str | None = None) -> bool:
        """Record a fill once: ``False`` when this ``fill_id`` was already recorded."""
        if intent_id is None:
            row = self.conn.execute(
                "SELECT id FROM intents WHERE client_order_id = ?", (fill.client_order_id,)
            ).fetchone()
            intent_id = row[0] if row else None
        with self.dialect.write(self.conn) as conn:
            cur = conn.execute(
                "INSERT INTO fills (fill_id, client_order_id, intent_id, symbol, side, "
                "quantity, price, commission, ts, fill_json, recorded_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                (
                    fill.fill_id,
                    fill.client_order_id,
                    intent_id,
                    fill.symbol,
                    fill.side.value,
                    str(fill.quantity),
                    str(fill.price),
                    str(fill.commission),
                    ts_text(fill.ts),
                    canonical_json(unstructure(fill)),
                    ts_text(self.clock()),
                ),
            )
        return cur.rowcount == 1

    @_mapped
    def fills(self, client_order_id: str | None = None) -> list[Fill]:
        """Recorded fills in time order, all of them or one order's."""
        sql, args = "SELECT fill_json FROM fills", ()
        if client_order_id is not None:
            sql, args = sql + " WHERE client_order_id = ?", (client_order_id,)
        sql += " ORDER BY ts, fill_id"
        return [structure(json.loads(r[0]), Fill) for r in self.conn.execute(sql, args)]

    # -- several strategies -------------------------------------------------------------

    @_mapped
    def record_conflict(
        self,
        conflict_id: str,
        *,
        cycle_id: str,
        payload: dict[str, Any],
        shares: Sequence[Share] = (),
        netted_id: str | None = None,
        actor: str = "portfolio",
    ) -> bool:
        """Journal one conflict resolution (entity ``conflict:<conflict_id>``: every
        strategy's original intent, the policy and the result, in ``payload``) and, for a
        netted intent ``netted_id``, each strategy's share (also journaled, as the payload's
        ``share_rows``), in one transaction. Idempotent on ``conflict_id``: ``False``
        when it was recorded already (nothing written)."""
        entity = f"conflict:{conflict_id}"
        rows = [  # journaled as written, so `journal verify` checks the table against them
            {
                "intent_id": netted_id,
                "source_intent_id": s.intent_id,
                "strategist": s.strategist,
                "amount": str(s.amount),
            }
            for s in shares
        ]
        if rows:
            payload = {**payload, "share_rows": rows}
        with self.dialect.write(self.conn) as conn:
            if conn.execute("SELECT 1 FROM journal WHERE entity = ?", (entity,)).fetchone():
                return False
            ts = ts_text(self._now(conn))
            for share in shares:
                conn.execute(
                    "INSERT INTO strategy_shares (intent_id, source_intent_id, strategist, "
                    "amount, cycle_id, created_at) VALUES (?, ?, ?, ?, ?, ?) "
                    "ON CONFLICT DO NOTHING",
                    (netted_id, share.intent_id, share.strategist, str(share.amount), cycle_id, ts),
                )
            journal.append(
                conn,
                entity=entity,
                from_state=None,
                to_state=str(payload.get("policy", "resolved")),
                actor=actor,
                reason=str(payload.get("result", "")),
                ts=ts,
                payload=self._scrub(payload),
            )
        self._appended = True
        return True

    @_mapped
    def shares(self, intent_id: str) -> list[Share]:
        """The strategies' shares of netted intent ``intent_id`` (``[]``: not netted)."""
        rows = self.conn.execute(
            "SELECT strategist, source_intent_id, amount FROM strategy_shares "
            "WHERE intent_id = ? ORDER BY rowid",
            (intent_id,),
        )
        return [Share(r[0], r[1], Decimal(r[2])) for r in rows]

    @_mapped
    def input_history(self, ids: Sequence[str]) -> tuple[dict[str, str], set[str]]:
        """What the store knows of would-be inputs ``ids`` of a net: the ones that are a
        share of a netted intent already (input id -> netted intent id) and the ones
        stored as intents of their own (proposed, hence possibly sent, alone)."""
        netted: dict[str, str] = {}
        alone: set[str] = set()
        for start in range(0, len(ids), 500):
            chunk = list(ids[start : start + 500])
            marks = ", ".join("?" * len(chunk))
            for source, intent_id in self.conn.execute(
                "SELECT source_intent_id, intent_id FROM strategy_shares "
                f"WHERE source_intent_id IN ({marks})",
                chunk,
            ):
                netted[source] = intent_id
            rows = self.conn.execute(f"SELECT id FROM intents WHERE id IN ({marks})", chunk)
            alone.update(r[0] for r in rows)
        return netted, alone

    @_mapped
    def netted_intents(self, strategist: str) -> list[str]:
        """Ids of the netted intents ``strategist`` has a share of."""
        rows = self.conn.execute(
            "SELECT DISTINCT intent_id FROM strategy_shares WHERE strategist = ?", (strategist,)
        )
        return [r[0] for r in rows]

    def strategy_fills(self, intent_id: str) -> dict[str, Decimal]:
        """Each strategy's signed filled quantity (buy positive) of intent ``intent_id``,
        derived from the fills of its one order: all of it for a strategy's own intent,
        split by :func:`split_fill` for a netted one (the parts sum to the fills exactly)."""
        record = self.get(intent_id)
        fills = self.fills(record.client_order_id) if record.client_order_id else []
        shares = self.shares(intent_id)
        out: dict[str, Decimal] = {}
        filled = Decimal(0)
        for fill in fills:
            if shares:  # parts of what is filled so far, so each strategy's sum is exact
                parts = split_fill(fill.quantity, shares, filled)
                filled = exact_sum(filled, fill.quantity)
            else:
                sign = 1 if fill.side.value == "buy" else -1
                parts = {record.intent.strategist: sign * fill.quantity}
            for name, part in parts.items():
                out[name] = out.get(name, Decimal(0)) + part
        return out

    # -- maintenance -------------------------------------------------------------------

    def backup(self, dest: str | Path) -> Path:
        """Copy the whole database to ``dest`` with SQLite's online backup API."""
        dest = Path(dest)
        target = sqlite3.connect(str(dest))
        try:
            self.conn.backup(target)
        finally:
            target.close()
        return dest


def _refuse_expired(intent_id: str, expires_at: str | None, now: datetime) -> None:
    """Raise :class:`ApprovalExpired` when a pending intent's window (``expires_at``, the
    column's text) is not after ``now``."""
    if expires_at is not None and expires_at <= ts_text(now):
        raise ApprovalExpired(
            f"intent {intent_id} expired at {expires_at} (its approval window ended before "
            "this decision was written); nothing was written",
            expires_at=expires_at,
            current_state="expired",
        )
