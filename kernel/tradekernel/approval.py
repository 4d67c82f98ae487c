"""The approval gate: guard verdicts in, pending/approved/rejected/expired out.

``approval_mode`` comes from Settings only (``[kernel] approval_mode``): in ``manual``
mode an operator approves each intent (``tradekernel intents approve ID``) before it
expires after ``[kernel] approval_ttl``; in ``auto`` mode an intent that every guard
allowed is approved by the actor ``auto``. An intent that needs a quorum (its verdicts'
``approvals`` or an ``[[approval.quorum]]`` rule: :mod:`tradekernel.quorum`) waits for
that many distinct approvers in either mode.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from attrs import asdict, field, frozen

from .components import DEFAULT_ORDER_CONSTRAINTS, OrderConstraints
from .constraints import constraints_or_default, order_quantity
from .errors import RefusedError
from .models import GuardVerdict, utcnow
from .quorum import approvals as journal_approvals
from .quorum import approver_name, recorded_quorum, required_approvals
from .store import (
    ApprovalExpired,
    IntentRecord,
    IntentState,
    StaleVersion,
    StateConflict,
    Store,
)

Emit = Callable[..., Any]


def derive_quantity(
    record: IntentRecord,
    step: float | Decimal,
    constraints: OrderConstraints = DEFAULT_ORDER_CONSTRAINTS,
) -> Decimal | None:
    """The order quantity of ``record`` (:func:`~tradekernel.constraints.order_quantity` at
    its reference price, with the broker's ``constraints``). ``None`` when a notional
    intent has no reference price."""
    return order_quantity(record.intent, record.ref_price, step, constraints)


@frozen
class Preview:
    """What an operator sees before approving. Everything but the timing fields (``age_s``,
    ``created_at``, ``expires_at``, ``expires_in_s``) is a function of the cycle's inputs."""

    intent_id: str
    state: str
    broker: str
    symbol: str
    side: str
    order_type: str
    limit_price: str | None
    quantity: str | None
    notional: str | None
    estimated_notional: str | None
    ref_price: str | None
    client_order_id: str
    verdicts: list[dict[str, Any]]
    """Each verdict's guard, allow, code and detail, and its ``rule``, ``version`` and
    ``approvals`` when it names them (a rule-based guard such as ``policy``)."""
    rationale: str
    confidence: float
    strategist: str
    prompt_version: str | None
    schema_version: str
    cycle_id: str
    expired: bool
    created_at: str
    expires_at: str | None
    expires_in_s: float | None
    age_s: float
    journal_mismatch: str | None = None
    """Why the intent row disagrees with its journal rows (edited behind the journal's
    back), or ``None``: such an intent cannot be approved or executed."""
    budget: dict[str, Any] | None = None
    """The strategy's budget use and the budget step's answer now (docs/portfolio.md), or
    ``None`` when its strategy has no budget and is active."""
    sizing: dict[str, str] | None = None
    """How a sizer chose the quantity of an intent its strategist left unsized (the
    sizer, the method and every input: ``Intent.sizing``); ``None`` otherwise."""
    approvals_required: int = 0
    """Distinct approvals the intent needs (its quorum; 0: the approval mode decides)."""
    approvals: list[dict[str, str]] = field(factory=list)
    """Who has approved it so far: ``{"actor", "ts"}`` in order."""

    TIMING = ("created_at", "expires_at", "expires_in_s", "age_s")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def stable(self) -> dict[str, Any]:
        """The reproducible part: :meth:`to_dict` without the timing fields."""
        return {k: v for k, v in self.to_dict().items() if k not in self.TIMING}


def _text(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


class ApprovalService:
    """Moves intents through the approval gate and emits ``approval`` events."""

    def __init__(
        self,
        store: Store,
        settings: Any,
        *,
        emit: Emit | None = None,
        clock: Callable[[], datetime] = utcnow,
        broker: Callable[[str], Any] | None = None,
        mode: str | None = None,
    ) -> None:
        """``broker(name)`` returns the broker an intent is recorded for (called with the
        record's broker when a preview needs its order constraints); without it the
        preview sizes with the default constraints. ``mode``: the trading mode quorum
        rules are matched against (default: the operator's persisted mode, else
        Settings')."""
        self.store = store
        self.settings = settings
        self.emit = emit
        self.clock = clock
        self.broker = broker
        self.mode = mode

    def _emit(self, kind: str, record: IntentRecord, **fields: Any) -> None:
        if self.emit is None:
            return
        intent = record.intent
        self.emit(
            "approval",
            kind,
            intent_id=intent.id,
            symbol=intent.symbol,
            side=str(intent.side),
            quantity=_text(intent.quantity),
            notional=_text(intent.notional),
            **fields,
        )

    def submit(
        self,
        intent_id: str,
        verdicts: Sequence[GuardVerdict],
        *,
        approval_mode: str | None = None,
    ) -> IntentRecord:
        """Record the guards' verdicts on a proposed intent: ``blocked`` when any denies
        (reason = the first deny's code), else ``pending_approval`` (and, in auto mode,
        ``approved`` by ``auto``).

        ``approval_mode`` may only tighten Settings' mode: the runtime passes ``"manual"``
        in degrade mode, and ``"shadow"`` in shadow mode, where an intent that passed the
        guards is recorded as pending and cancelled at once (no approval request goes
        out, and it can never execute later); anything else means Settings decides."""
        verdicts = list(verdicts)
        denial = next((v for v in verdicts if not v.allow), None)
        if denial is not None:
            return self.store.transition(
                intent_id,
                IntentState.BLOCKED,
                expected_from=IntentState.PROPOSED,
                actor="guards",
                reason=denial.code,
                payload={"guard": denial.guard, "detail": denial.detail},
                verdicts=verdicts,
            )
        ttl = timedelta(seconds=float(self.settings.kernel.approval_ttl))
        need = self._required(intent_id, verdicts)
        record = self.store.transition(
            intent_id,
            IntentState.PENDING_APPROVAL,
            expected_from=IntentState.PROPOSED,
            actor="guards",
            payload={"quorum": need} if need else None,
            verdicts=verdicts,
            expires_at=self.clock() + ttl,
        )
        if approval_mode == "shadow":
            return self.cancel(
                intent_id, actor="shadow", reason="shadow mode: recorded, never executed"
            )
        auto = self.settings.kernel.approval_mode == "auto" and approval_mode is None
        if auto and not need:  # a quorum is never bypassed: it waits for its approvers
            record = self.store.transition(
                intent_id,
                IntentState.APPROVED,
                expected_from=IntentState.PENDING_APPROVAL,
                actor="auto",
                reason="approval_mode=auto",
            )
            self._emit("auto_approved", record, actor="auto")
            return record
        quoted = shlex.quote(intent_id)
        config = getattr(self.settings, "config_path", None)
        tk = (
            f"tradekernel --config {shlex.quote(str(config.resolve()))}"
            if config
            else "tradekernel"
        )
        self._emit(
            "pending",
            record,
            actor="guards",
            expires_at=record.expires_at.isoformat() if record.expires_at else None,
            estimated_notional=self.preview(intent_id).estimated_notional,
            required=need or None,
            approve_cmd=f"{tk} intents approve {quoted}",
            reject_cmd=f"{tk} intents reject {quoted}",
        )
        return record

    def _required(self, intent_id: str, verdicts: Sequence[GuardVerdict]) -> int:
        """The quorum of ``intent_id`` judged by ``verdicts`` (see :mod:`tradekernel.quorum`)."""
        rules = getattr(getattr(self.settings, "approval", None), "quorum", ())
        if not rules and not any(v.approvals for v in verdicts):
            return 0
        record = self.store.get(intent_id)
        mode = self.mode or self.store.get_control("mode", None) or self.settings.kernel.mode
        return required_approvals(
            verdicts,
            rules,
            notional=self._estimate(record)[1],
            mode=mode,
            symbol=record.intent.symbol,
        )

    def quorum(self, intent_id: str) -> tuple[int, list[tuple[str, str]]]:
        """``(required, approvals)``: the distinct approvals ``intent_id`` needs (0: the
        approval mode decides) and every ``(actor, ts)`` that approved it so far."""
        record = self.store.get(intent_id)
        rows = self.store.journal_rows(intent_id)
        return recorded_quorum(rows, record.verdicts), journal_approvals(rows)

    def approvals(self, intent_id: str) -> list[tuple[str, str]]:
        """Who approved ``intent_id`` and when, in order: ``[(actor, ts), ...]``."""
        return self.quorum(intent_id)[1]

    def _expire_if_due(self, record: IntentRecord, now: datetime) -> IntentRecord:
        if (
            record.state is IntentState.PENDING_APPROVAL
            and record.expires_at is not None
            and record.expires_at <= now
        ):
            try:
                record = self.store.transition(
                    record.id,
                    IntentState.EXPIRED,
                    expected_from=IntentState.PENDING_APPROVAL,
                    actor="system",
                    reason="approval_ttl_elapsed",
                )
            except StateConflict:
                return self.store.get(record.id)
            self._emit("expired", record, actor="system")
        return record

    def _refuse(self, record: IntentRecord, action: str) -> RefusedError:
        extra = f" ({record.reason})" if record.reason else ""
        return RefusedError(
            f"cannot {action} intent {record.id}: it is {record.state.value}{extra}, "
            f"not pending_approval; nothing was changed"
        )

    def approve(
        self,
        intent_id: str,
        actor: str,
        reason: str = "",
        *,
        expected_version: int | None = None,
    ) -> IntentRecord:
        """Approve a pending intent. Refuses (nothing changed, exit 3) an intent that is
        expired (marking a due one expired first), rejected, blocked or already executed,
        and one whose recorded verdicts do not all allow, or whose row disagrees with its
        journal rows (``journal_mismatch``: it was edited behind the journal's back).
        With ``expected_version`` (the version the approver saw) an intent changed since
        is refused with :class:`~tradekernel.store.StaleVersion`. ``actor`` must be an
        approver name (:meth:`approver`); it is journaled in its normalised form."""
        actor = self.approver(actor)
        record, problem = self.store.verified(intent_id)
        if record is None:
            self.store.get(intent_id)  # IntentNotFound, exit 1
        if problem is not None:
            raise RefusedError(
                f"cannot approve intent {intent_id}: journal_mismatch: {problem}; the intent "
                "row was changed behind the journal's back: run `tradekernel journal verify`; "
                "nothing was changed"
            )
        record = self._pending(intent_id, "approve")
        denial = record.first_denial
        if denial is not None:
            raise RefusedError(
                f"cannot approve intent {intent_id}: guard {denial.guard} denied it "
                f"({denial.code}); nothing was changed"
            )
        need = recorded_quorum(self.store.journal_rows(intent_id), record.verdicts)
        if not need:
            return self._decide(
                record, IntentState.APPROVED, "approve", actor, reason, expected_version
            )
        try:
            record, count = self.store.record_approval(
                intent_id,
                actor=actor,
                required=need,
                reason=reason,
                expected_version=expected_version,
                deadline_clock=self.clock,
            )
        except StaleVersion as exc:
            raise StaleVersion(
                f"cannot approve intent {intent_id}: {exc}", current_state=exc.current_state
            ) from None
        except ApprovalExpired as exc:
            raise self._expired(intent_id, "approve", exc) from None
        except StateConflict as exc:
            raise RefusedError(f"cannot approve intent {intent_id}: {exc}") from None
        kind = "approved" if record.state is IntentState.APPROVED else "recorded"
        self._emit(kind, record, actor=actor, reason=reason, approvals=count, required=need)
        return record

    def reject(
        self,
        intent_id: str,
        actor: str,
        reason: str = "",
        *,
        expected_version: int | None = None,
    ) -> IntentRecord:
        """Reject a pending intent (refused with its state when it is not pending, and,
        with ``expected_version``, when it changed since that version was read).
        ``actor`` must be an approver name (:meth:`approver`)."""
        actor = self.approver(actor)
        record = self._pending(intent_id, "reject")
        return self._decide(record, IntentState.REJECTED, "reject", actor, reason, expected_version)

    def approver(self, actor: str) -> str:
        """``actor`` as the approver name a decision is made and journaled under
        (:func:`~tradekernel.quorum.approver_name`). Refused (RefusedError, exit 3, nothing
        changed) when it is malformed or reserved, holds a secret value (masked it could
        collide with another approver's name), or ``[approval] approvers`` is set and does
        not list it."""
        name = approver_name(actor)
        redact = getattr(self.settings, "redact", None)
        if redact is not None and redact(name) != name:
            raise RefusedError("approver name contains a secret value; nothing was changed")
        allowed = getattr(getattr(self.settings, "approval", None), "approvers", None)
        if allowed is not None and name not in {approver_name(a) for a in allowed}:
            raise RefusedError(
                f"{name!r} is not listed in [approval] approvers; only they may approve or "
                "reject; nothing was changed"
            )
        return name

    def _expired(self, intent_id: str, verb: str, exc: ApprovalExpired) -> RefusedError:
        """Mark an intent whose window ended under the write lock expired; the refusal."""
        record = self.store.get(intent_id)
        if record.state is IntentState.PENDING_APPROVAL:
            try:
                record = self.store.transition(
                    intent_id,
                    IntentState.EXPIRED,
                    expected_from=IntentState.PENDING_APPROVAL,
                    actor="system",
                    reason="approval_ttl_elapsed",
                )
                self._emit("expired", record, actor="system")
            except StateConflict:
                pass
        return RefusedError(
            f"cannot {verb} intent {intent_id}: its approval window ended at {exc.expires_at}, "
            "before this decision was written (it is expired now); nothing was changed"
        )

    def _pending(self, intent_id: str, verb: str) -> IntentRecord:
        """The intent, if it is still pending approval (a due one is expired first)."""
        record = self._expire_if_due(self.store.get(intent_id), self.clock())
        if record.state is not IntentState.PENDING_APPROVAL:
            raise self._refuse(record, verb)
        return record

    def _decide(
        self,
        record: IntentRecord,
        to: IntentState,
        verb: str,
        actor: str,
        reason: str,
        expected_version: int | None = None,
    ) -> IntentRecord:
        """Move a pending intent to ``to`` by compare-and-set and emit the decision."""
        intent_id = record.intent.id
        try:
            record = self.store.transition(
                intent_id,
                to,
                expected_from=IntentState.PENDING_APPROVAL,
                expected_version=expected_version,
                actor=actor,
                reason=reason,
                deadline_clock=self.clock,
            )
        except StaleVersion as exc:
            raise StaleVersion(
                f"cannot {verb} intent {intent_id}: {exc}", current_state=exc.current_state
            ) from None
        except ApprovalExpired as exc:
            raise self._expired(intent_id, verb, exc) from None
        except StateConflict as exc:
            raise RefusedError(f"cannot {verb} intent {intent_id}: {exc}") from None
        self._emit(to.value, record, actor=actor, reason=reason)
        return record

    def cancel(self, intent_id: str, actor: str, reason: str = "") -> IntentRecord:
        """Cancel an intent that has not started executing."""
        cancellable = (IntentState.PROPOSED, IntentState.PENDING_APPROVAL, IntentState.APPROVED)
        record = self.store.get(intent_id)
        if record.state not in cancellable:
            raise RefusedError(
                f"cannot cancel intent {intent_id}: it is {record.state.value} (only proposed, "
                "pending_approval or approved intents can be cancelled); nothing was changed"
            )
        try:
            record = self.store.transition(
                intent_id,
                IntentState.CANCELLED,
                expected_from=cancellable,
                actor=actor,
                reason=reason,
            )
        except StateConflict as exc:
            raise RefusedError(f"cannot cancel intent {intent_id}: {exc}") from None
        self._emit("cancelled", record, actor=actor, reason=reason)
        return record

    def expire_due(
        self, now: datetime | None = None, *, records: Iterable[IntentRecord] | None = None
    ) -> list[str]:
        """Mark every pending intent whose approval window has passed as expired
        (``records``: the pending intents, when the caller has just listed them)."""
        now = now or self.clock()
        expired = []
        if records is None:
            records = self.store.list_intents(state=IntentState.PENDING_APPROVAL.value)
        for record in records:
            if self._expire_if_due(record, now).state is IntentState.EXPIRED:
                expired.append(record.id)
        return expired

    def preview(self, intent_id: str) -> Preview:
        """What the operator approves: the order, its estimated notional, every verdict,
        the strategist's rationale and versions, age and expiry, and whether the row
        agrees with its journal rows (read together, in one snapshot)."""
        record, problem = self.store.verified(intent_id)
        if record is None:
            record = self.store.get(intent_id)  # IntentNotFound
        intent = record.intent
        now = self.clock()
        quantity, estimate = self._estimate(record)
        need, given = self.quorum(intent_id)
        expires_in = (record.expires_at - now).total_seconds() if record.expires_at else None
        expired = record.state is IntentState.EXPIRED or (
            record.state is IntentState.PENDING_APPROVAL
            and expires_in is not None
            and expires_in <= 0
        )
        return Preview(
            intent_id=intent.id,
            state=record.state.value,
            broker=record.broker,
            symbol=intent.symbol,
            side=str(intent.side),
            order_type=str(intent.order_type),
            limit_price=_text(intent.limit_price),
            quantity=_text(quantity),
            notional=_text(intent.notional),
            estimated_notional=_text(estimate),
            ref_price=_text(record.ref_price),
            client_order_id=record.client_order_id,
            verdicts=[
                {
                    "guard": v.guard,
                    "allow": v.allow,
                    "code": v.code,
                    "detail": v.detail,
                    **{k: getattr(v, k) for k in ("rule", "version", "approvals") if getattr(v, k)},
                }
                for v in record.verdicts
            ],
            rationale=intent.rationale,
            confidence=intent.confidence,
            strategist=intent.strategist,
            prompt_version=intent.prompt_version,
            schema_version=intent.schema_version,
            cycle_id=record.cycle_id,
            expired=expired,
            created_at=record.created_at.isoformat(),
            expires_at=record.expires_at.isoformat() if record.expires_at else None,
            expires_in_s=expires_in,
            age_s=(now - record.created_at).total_seconds(),
            journal_mismatch=problem,
            budget=self._budget(intent, record.ref_price, record.broker),
            sizing=dict(intent.sizing) if intent.sizing is not None else None,
            approvals_required=need,
            approvals=[{"actor": actor, "ts": ts} for actor, ts in given],
        )

    def _estimate(self, record: IntentRecord) -> tuple[Decimal | None, Decimal | None]:
        """The order quantity of ``record`` with its broker's constraints, and its
        estimated notional (quantity x reference price, else the intent's notional)."""
        constraints = DEFAULT_ORDER_CONSTRAINTS
        if self.broker is not None:
            constraints = constraints_or_default(self.broker(record.broker), record.intent.symbol)
        quantity = derive_quantity(record, self.settings.runtime.quantity_step, constraints)
        if quantity is not None and record.ref_price is not None:
            return quantity, quantity * record.ref_price
        return quantity, record.intent.notional

    def _budget(self, intent: Any, ref_price: Decimal | None, broker: str) -> dict[str, Any] | None:
        from .portfolio.preview import budget_preview

        if not self.settings.portfolio.budgets and not intent.strategist:
            return None
        equity = None
        if self.broker is not None and any(
            b.fraction is not None for b in self.settings.portfolio.budgets.values()
        ):
            try:
                equity = self.broker(broker).account().equity
            except Exception:  # a preview never fails for the broker: capital stays unknown
                equity = None
        return budget_preview(self.store, self.settings.portfolio, intent, ref_price, equity)
