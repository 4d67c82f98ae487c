"""Cross-checking the store's tables against the journal (the second half of verify).

:class:`Replay` folds every journal row while :func:`journal.verify_chain` walks the chain
(one pass, no per-row queries): for each intent it rebuilds the columns the journal backs
(the proposal's payload, then each transition's ``set``), for each control key its last
value. :func:`cross_check` then reads the ``intents`` and ``control`` tables once each and
reports the first row that disagrees, naming the intent (or control key) and the column.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any, NamedTuple

from attrs import fields

from .. import quorum
from ..models import Intent, canonical_json
from ..models import digest as canonical_digest
from ..serde import structure
from .states import TRANSITIONS, IntentState

JOURNALED_COLUMNS = (
    "intent_json",
    "cycle_id",
    "broker",
    "symbol",
    "side",
    "client_order_id",
    "ref_price",
    "verdicts",
    "expires_at",
    "reason",
    "executing_since",
    "created_at",
    "updated_at",
)
"""Intent columns rebuilt from the journal and compared exactly (besides ``state`` and
``version``). In check order: the first mismatch is the one reported."""

ORDER_TRACKED_COLUMNS = ("broker_order_id", "order_status", "filled_quantity", "avg_fill_price")
"""Intent columns :meth:`Store.upsert_order` updates without a journal row: not checked."""

_CONTROL = "control:"
_CONFLICT = "conflict:"
_UNKNOWN = object()
"""``ref_price`` of an intent proposed before proposals journaled it: cannot be checked."""
_LEGAL = {s.value: frozenset(t.value for t in to) for s, to in TRANSITIONS.items()}
_INTENT_FIELDS = tuple(f.name for f in fields(Intent) if f.name != "id")


class Problem(NamedTuple):
    """The first disagreement found: journal row, intent id or ``control:<key>``, column."""

    seq: int | None
    entity: str | None
    column: str | None
    text: str


class _IntentFold:
    __slots__ = ("approvers", "cols", "count", "last_seq", "quorum", "state")

    def __init__(self, state: str, seq: int, cols: dict[str, tuple[Any, int]]) -> None:
        self.state = state
        self.last_seq = seq
        self.count = 1
        self.cols = cols
        self.quorum = 0
        self.approvers: list[str] = []


class _ControlFold(NamedTuple):
    text: str
    value: Any
    seq: int


def _show(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


class Replay:
    """The journal folded per entity; feed it every row with :meth:`add`, in seq order."""

    def __init__(self) -> None:
        self.intents: dict[str, _IntentFold] = {}
        self.controls: dict[str, _ControlFold] = {}
        self.shares: dict[tuple[str, str], tuple[str, str, int]] = {}
        """``(netted id, input id) -> (strategist, amount, seq)`` from conflict rows."""
        self.problem: Problem | None = None

    def _flag(self, seq: int, entity: str, column: str | None, text: str) -> None:
        if self.problem is None:
            self.problem = Problem(seq, entity, column, text)

    def add(self, raw: tuple, payload: Any) -> None:
        """Fold one journal row (``raw`` as :data:`journal.COLUMNS`, ``payload`` parsed)."""
        seq, entity, from_state, to_state, _actor, _reason, ts = raw[:7]
        if not isinstance(payload, dict):
            payload = {}
        if entity.startswith(_CONFLICT):  # a resolution: the netted intent's shares
            for row in payload.get("share_rows") or ():
                if isinstance(row, dict):
                    key = (str(row.get("intent_id")), str(row.get("source_intent_id")))
                    value = (str(row.get("strategist")), str(row.get("amount")))
                    self.shares.setdefault(key, (*value, seq))
            return
        if entity.startswith(_CONTROL):
            key = entity[len(_CONTROL) :]
            prev = self.controls.get(key)
            prev_text = prev.text if prev else None
            if from_state != prev_text:
                self._flag(
                    seq,
                    entity,
                    "value",
                    f"control {key}: journal row {seq} changes it from {_show(from_state)} "
                    f"but the journal last set it to {_show(prev_text)} (the control row was "
                    "edited or deleted behind the journal's back)",
                )
            self.controls[key] = _ControlFold(to_state, payload.get("value"), seq)
            return
        fold = self.intents.get(entity)
        if fold is None:
            self._propose(seq, entity, from_state, to_state, ts, payload)
            return
        if from_state != fold.state:
            self._flag(
                seq,
                entity,
                "state",
                f"intent {entity}: journal row {seq} moves it from {from_state} but it was "
                f"{fold.state}",
            )
        elif quorum.is_approval(from_state, to_state):
            self._approval(seq, entity, fold, raw[4], to_state, payload)
        elif not self._legal(fold.state, to_state):
            self._flag(
                seq,
                entity,
                "state",
                f"intent {entity}: journal row {seq} is an illegal transition "
                f"{fold.state} -> {to_state}",
            )
        fold.state = to_state
        fold.last_seq = seq
        fold.count += 1
        fold.cols["updated_at"] = (ts, seq)
        updates = payload.get("set")
        if isinstance(updates, dict):
            for column, value in updates.items():
                fold.cols[column] = (value, seq)
        if to_state == quorum.PENDING and from_state != quorum.PENDING:
            fold.quorum = quorum.as_count(payload.get(quorum.QUORUM_KEY))
            if fold.quorum == 0:
                fold.quorum = _verdict_quorum(fold.cols["verdicts"][0])

    def _approval(
        self, seq: int, entity: str, fold: _IntentFold, actor: str, to: str, payload: dict
    ) -> None:
        """An approval row: one below the quorum needs a quorum and its ``approval``
        payload, no actor counts twice, and the move to ``approved`` needs the quorum of
        valid approver names (:func:`~tradekernel.quorum.approver`)."""
        below = to == quorum.PENDING
        if below and (fold.quorum == 0 or not isinstance(payload.get(quorum.APPROVAL_KEY), dict)):
            problem = "is an illegal transition pending_approval -> pending_approval"
        elif fold.quorum == 0:
            return  # an ordinary approval (or auto): the approval mode decided
        elif quorum.approver(actor) and quorum.approver(actor) in fold.approvers:
            problem = f"counts the approval of {_show(actor)} twice"
        else:
            if quorum.approver(actor):  # a name approver_name refuses counts toward nothing
                fold.approvers.append(quorum.approver(actor))
            need = max(fold.quorum, _verdict_quorum(fold.cols["verdicts"][0]))
            if below or len(fold.approvers) >= need:
                return
            problem = f"approves it with {len(fold.approvers)} of the {need} approvals it needs"
        self._flag(seq, entity, "state", f"intent {entity}: journal row {seq} {problem}")

    @staticmethod
    def _legal(current: str, target: str) -> bool:
        return target in _LEGAL.get(current, ())

    def _propose(
        self,
        seq: int,
        entity: str,
        from_state: str | None,
        to_state: str,
        ts: str,
        payload: dict[str, Any],
    ) -> None:
        intent = payload.get("intent")
        if from_state is not None or to_state != IntentState.PROPOSED.value:
            self._flag(
                seq,
                entity,
                "state",
                f"intent {entity}: its first journal row ({seq}) is {from_state} -> "
                f"{to_state}, not its proposal",
            )
        if not isinstance(intent, dict):
            self._flag(seq, entity, "intent_json", f"intent {entity}: row {seq} has no intent")
            intent = {}
        derived = "tk-" + str(intent.get("id", "")).removeprefix("int_")
        values: dict[str, Any] = {
            "intent_json": canonical_json(intent),
            "cycle_id": payload.get("cycle_id"),
            "broker": payload.get("broker"),
            "symbol": intent.get("symbol"),
            "side": intent.get("side"),
            "client_order_id": payload.get("client_order_id", derived),
            "ref_price": payload.get("ref_price", _UNKNOWN),
            "verdicts": "[]",
            "expires_at": None,
            "reason": None,
            "executing_since": None,
            "created_at": ts,
            "updated_at": ts,
        }
        self.intents[entity] = _IntentFold(to_state, seq, {k: (v, seq) for k, v in values.items()})


def _verdict_quorum(verdicts: Any) -> int:
    """The largest ``approvals`` among journaled verdicts (JSON text), 0 when unreadable."""
    if isinstance(verdicts, str) and '"approvals"' not in verdicts:
        return 0  # stored verdicts leave out an unset approvals: nothing to parse
    try:
        items = json.loads(verdicts) if isinstance(verdicts, str) else verdicts
        return max((quorum.as_count(v.get("approvals")) for v in items), default=0)
    except (TypeError, ValueError, AttributeError):
        return 0


def content_id(intent: Intent) -> str:
    """The id :meth:`Intent.create` derives from ``intent``'s content."""
    return Intent.create(**{name: getattr(intent, name) for name in _INTENT_FIELDS}).id


_INTENT_SELECT = (
    "SELECT id, state, version, " + ", ".join(JOURNALED_COLUMNS) + " FROM intents "
    "ORDER BY created_at, id"
)


def _check_intent(row: tuple, fold: _IntentFold | None) -> Problem | None:
    intent_id, state, version = row[:3]
    if fold is None:
        return Problem(None, intent_id, None, f"intent {intent_id} has no journal rows")
    if state != fold.state:
        return Problem(
            fold.last_seq,
            intent_id,
            "state",
            f"intent {intent_id} is {state} but its last journal row (seq {fold.last_seq}) "
            f"says {fold.state}",
        )
    if version != fold.count:
        return Problem(
            fold.last_seq,
            intent_id,
            "version",
            f"intent {intent_id} is at version {version} but the journal holds "
            f"{fold.count} rows for it",
        )
    for column, actual in zip(JOURNALED_COLUMNS, row[3:], strict=True):
        expected, seq = fold.cols[column]
        if expected is not _UNKNOWN and actual != expected:
            return Problem(
                seq,
                intent_id,
                column,
                f"intent {intent_id}: column {column} is {_show(actual)} but the journal "
                f"(seq {seq}) says {_show(expected)}",
            )
    first = fold.cols["created_at"][1]
    try:
        intent = structure(json.loads(row[3]), Intent, what="stored intent")
    except Exception as exc:  # any unreadable content is a verification failure, not a crash
        return Problem(
            first, intent_id, "intent_json", f"intent {intent_id}: unreadable intent ({exc})"
        )
    if intent.id != intent_id:
        return Problem(
            first, intent_id, "id", f"intent {intent_id}: its intent JSON names id {intent.id}"
        )
    recomputed = content_id(intent)
    if recomputed != intent_id:
        return Problem(
            first,
            intent_id,
            "id",
            f"intent {intent_id}: the id is not the digest of its content "
            f"(the content gives {recomputed})",
        )
    if row[3 + JOURNALED_COLUMNS.index("client_order_id")] != intent.client_order_id:
        return Problem(
            first,
            intent_id,
            "client_order_id",
            f"intent {intent_id}: client_order_id is not {intent.client_order_id}, "
            "the one derived from its id",
        )
    return None


def check_one(conn: sqlite3.Connection, intent_id: str) -> Problem | None:
    """Whether one intent's row agrees with its own journal rows: each row's hash
    matches its content, the rows tell a legal story, and the folded columns, state and
    version equal the row's. Cheap (the entity's rows only): the executor runs it right
    before a submit, so a row edited behind the journal's back is never sent."""
    from .journal import iter_raw, raw_row_hash

    replay = Replay()
    for raw in iter_raw(conn, intent_id):
        seq, payload, p_digest, prev, h = raw[0], raw[7], raw[8], raw[9], raw[10]
        expected = raw_row_hash(raw, prev)
        try:
            data = json.loads(payload) if payload else {}
        except ValueError:
            data = None
        if h != expected or data is None or canonical_digest(data) != p_digest:
            return Problem(seq, intent_id, None, f"journal row {seq} was altered")
        replay.add(raw, data)
    if replay.problem is not None:
        return replay.problem
    row = conn.execute(
        "SELECT id, state, version, " + ", ".join(JOURNALED_COLUMNS) + " FROM intents WHERE id = ?",
        (intent_id,),
    ).fetchone()
    if row is None:
        return Problem(None, intent_id, None, f"intent {intent_id} is missing")
    return _check_intent(row, replay.intents.get(intent_id))


def cross_check(conn: sqlite3.Connection, replay: Replay) -> Problem | None:
    """The first disagreement between the tables and the folded journal, or ``None``.

    Order: the journal's own structure, intents (oldest first), control rows, control
    keys whose row is missing, intents the journal names but the table lacks."""
    if replay.problem is not None:
        return replay.problem
    known: set[str] = set()
    for row in conn.execute(_INTENT_SELECT):
        known.add(row[0])
        problem = _check_intent(row, replay.intents.get(row[0]))
        if problem is not None:
            return problem
    present: set[str] = set()
    for key, value in conn.execute("SELECT key, value FROM control ORDER BY key"):
        present.add(key)
        fold = replay.controls.get(key)
        if fold is None:
            return Problem(None, _CONTROL + key, "value", f"control {key} has no journal rows")
        if canonical_json(fold.value) != value:
            return Problem(
                fold.seq,
                _CONTROL + key,
                "value",
                f"control {key} is {_show(value)} but its last journal row (seq {fold.seq}) "
                f"says {_show(canonical_json(fold.value))}",
            )
    for key in sorted(replay.controls.keys() - present):
        fold = replay.controls[key]
        if fold.value is not None:
            return Problem(
                fold.seq,
                _CONTROL + key,
                "value",
                f"control {key} is missing but its last journal row (seq {fold.seq}) sets it "
                f"to {_show(canonical_json(fold.value))} (the control row was deleted)",
            )
    problem = _check_shares(conn, replay)
    if problem is not None:
        return problem
    missing = replay.intents.keys() - known
    if missing:
        entity = min(missing, key=lambda e: replay.intents[e].last_seq)
        seq = replay.intents[entity].last_seq
        return Problem(seq, entity, None, f"the journal names intent {entity}, which is missing")
    return None


def _check_shares(conn: sqlite3.Connection, replay: Replay) -> Problem | None:
    """Every ``strategy_shares`` row against the conflict row that journaled it: a row
    rewritten, added or deleted behind the journal's back is reported by its keys."""
    seen: set[tuple[str, str]] = set()
    rows = conn.execute(
        "SELECT intent_id, source_intent_id, strategist, amount FROM strategy_shares "
        "ORDER BY intent_id, source_intent_id"
    )
    for intent_id, source, strategist, amount in rows:
        key = (intent_id, source)
        seen.add(key)
        entity = f"share:{intent_id}/{source}"
        expected = replay.shares.get(key)
        if expected is None:
            return Problem(None, entity, None, f"share {intent_id}/{source} has no journal row")
        if (strategist, amount) != expected[:2]:
            return Problem(
                expected[2],
                entity,
                "amount" if strategist == expected[0] else "strategist",
                f"share {intent_id}/{source} is {strategist} {amount} but the journal "
                f"(seq {expected[2]}) says {expected[0]} {expected[1]}",
            )
    for key in sorted(replay.shares.keys() - seen):
        seq = replay.shares[key][2]
        return Problem(
            seq,
            f"share:{key[0]}/{key[1]}",
            None,
            f"share {key[0]}/{key[1]} is missing but the journal (seq {seq}) records it",
        )
    return None
