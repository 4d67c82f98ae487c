"""Exactly-once execution: claim an approved intent, submit it once, and resolve every
unknown outcome by asking the broker, never by guessing.

The rules (docs/state.md, "Execution"):

* an intent is claimed by a compare-and-set ``approved -> executing``; of many
  concurrent executors exactly one wins, the others get ``already_claimed``;
* the order's client order id is derived from the intent id, so every submit of one
  intent carries the same id and the broker can deduplicate it;
* a submit whose outcome is unknown (:class:`SubmitOutcomeUnknown`, a timeout, a dropped
  connection, any unexpected error) is never treated as failed: the intent stays
  ``executing`` and the executor looks the order up by client order id. Found: submitted.
  Confirmed absent: ONE resubmit with the same client order id (idempotent at the broker).
  Lookup failing: it stays ``executing`` for :meth:`Executor.reconcile`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from attrs import evolve, frozen

from . import quorum
from .approval import derive_quantity
from .components import BrokerRejected
from .constraints import constraints_or_default
from .errors import RefusedError
from .lease import LeaseLost
from .models import Order, OrderRequest, OrderStatus, utcnow
from .request_budget import RequestBudgetExhausted, order_admitted
from .store import CLAIMED, IntentRecord, IntentState, StateConflict, Store

Emit = Callable[..., Any]
Checkpoint = Callable[[str, str], None]

PREFLIGHT_CODES = (
    "live_not_acknowledged",
    "broker_not_live_capable",
    "kill_switch_on",
    "trading_halted",
    "credentials_missing",
    "not_approved",
    "approval_expired",
    "guard_denied",
    "live_broker_needs_live_mode",
    "broker_mismatch",
    "journal_mismatch",
    "quorum_missing",
)

RECENT_SENT = 50
"""Besides every open order, reconcile asks the broker about this many of the most
recently sent ones (a reset or replaced broker account forgets them too)."""


@frozen
class Denial:
    """One reason execution is refused; ``code`` is one of :data:`PREFLIGHT_CODES`."""

    code: str
    detail: str = ""


@frozen
class ExecutionResult:
    """``outcome``: ``submitted``, ``failed``, ``already_claimed`` or ``unknown`` (the
    intent stays ``executing`` until :meth:`Executor.reconcile` resolves it)."""

    intent_id: str
    outcome: str
    state: str
    client_order_id: str
    broker_order_id: str | None = None
    reason: str = ""
    answered: bool = True
    """``False``: the submit raised (its answer was lost), whatever the lookup after it
    found: a bad outcome for the broker's health."""
    refused: bool = False
    """``True``: nothing was asked because the broker's request budget is spent (the
    agent's own back-pressure, not the broker's health)."""


class _NotSent(Exception):
    """Nothing was sent; ``result`` says why (see :meth:`Executor._send`)."""

    def __init__(self, result: ExecutionResult) -> None:
        super().__init__(result.reason)
        self.result = result


@frozen
class ReconcileResult:
    """What :meth:`Executor.reconcile` did with one intent stuck in ``executing``:
    ``found`` (the broker had it), ``resubmitted`` (confirmed absent, sent once more with
    the same client order id), ``failed`` or ``still_unknown``."""

    intent_id: str
    client_order_id: str
    action: str
    state: str
    broker_order_id: str | None = None
    reason: str = ""
    refused: bool = False
    """``True``: left ``still_unknown`` only because the broker's request budget is spent
    (nothing was asked): not a bad outcome for the broker's health."""


class Executor:
    """Executes approved intents through ``broker`` (a :class:`components.Broker`)."""

    def __init__(
        self,
        store: Store,
        broker: Any,
        *,
        broker_name: str,
        settings: Any,
        emit: Emit | None = None,
        clock: Callable[[], datetime] = utcnow,
        checkpoint: Checkpoint | None = None,
        mode: str | None = None,
        peers: frozenset[str] = frozenset(),
        fence: Callable[[], None] | None = None,
    ) -> None:
        self.store = store
        self.broker = broker
        self.broker_name = broker_name
        self.settings = settings
        self.emit = emit
        self.clock = clock
        self.mode = mode or store.get_control("mode", None) or settings.kernel.mode
        """The effective trading mode the preflight checks against: the runtime passes
        its resolved mode (a --mode flag counts); otherwise the operator's persisted
        mode, else Settings'."""
        self._mismatched: set[str] = set()
        self.peers = peers
        """The other brokers of this agent: their intents are theirs to reconcile."""
        self.fence = fence
        """The agent's lease (:class:`~tradekernel.lease.LeaseFence`), called before every
        claim and every order: it raises :class:`~tradekernel.lease.LeaseLost` once this
        agent may no longer trade, which passes through :meth:`execute` and the reconcile,
        leaving nothing written (an intent already claimed stays ``executing`` for the new
        holder's reconcile, as after a crash)."""
        self.checkpoint = checkpoint
        """Test hook: called as ``checkpoint(point, intent_id)`` at ``claimed``,
        ``before_submit``, ``after_submit`` and ``recorded`` (crash tests kill there)."""

    # -- helpers ---------------------------------------------------------------------

    def _point(self, point: str, intent_id: str) -> None:
        if self.checkpoint is not None:
            self.checkpoint(point, intent_id)

    def _emit(self, kind: str, record: IntentRecord, **fields: Any) -> None:
        if self.emit is not None:
            fields.setdefault("broker_order_id", record.broker_order_id)
            intent = record.intent
            self.emit(
                "executor",
                kind,
                intent_id=record.id,
                client_order_id=record.client_order_id,
                broker=self.broker_name,
                symbol=intent.symbol,
                side=str(intent.side),
                quantity=None if intent.quantity is None else str(intent.quantity),
                notional=None if intent.notional is None else str(intent.notional),
                **fields,
            )

    def _halts(self, record: IntentRecord) -> list[Denial]:
        """The operator's switches, read fresh from the store on every call (a switch
        thrown counts at once) and each checked against its last journal row: a row
        deleted or changed behind the journal halts (fail safe) with a critical
        ``executor.conflict``. Any truthy kill-switch value halts too."""
        out = []
        kill, problem = self.store.checked_control("kill_switch", False)
        if problem is not None:
            self._control_conflict(record, problem)
            out.append(Denial("kill_switch_on", f"journal_mismatch: {problem}; treated as on"))
        elif kill:
            out.append(Denial("kill_switch_on", "the kill switch is on"))
        trading, problem = self.store.checked_control("trading_state", "active")
        if problem is not None:
            self._control_conflict(record, problem)
            out.append(Denial("trading_halted", f"journal_mismatch: {problem}; treated as halted"))
        elif trading == "halted":
            out.append(Denial("trading_halted", "trading_state is halted"))
        return out

    def _control_conflict(self, record: IntentRecord, problem: str) -> None:
        if problem in self._mismatched:  # checked before every submit: report it once
            return
        self._mismatched.add(problem)
        self._emit(
            "conflict",
            record,
            severity="critical",
            reason=f"journal_mismatch: {problem}; the control row was changed behind the "
            "journal's back: nothing is sent until it agrees again (set it with `tradekernel "
            "control`), run `tradekernel journal verify`",
        )

    def _may_send(self, record: IntentRecord) -> list[Denial]:
        """Whether anything may be sent through this broker now, whatever the intent: the
        mode and its acknowledgement, the broker's kind, its credentials, the operator's
        switches. Checked before every submit, a reconcile's resubmit included."""
        kernel = self.settings.kernel
        out: list[Denial] = []
        live_broker = bool(getattr(self.broker, "live_capable", False))
        if self.mode == "live":
            if not kernel.live_acknowledged:
                out.append(Denial("live_not_acknowledged", "[kernel] live_acknowledged is false"))
            if not live_broker:
                out.append(
                    Denial("broker_not_live_capable", f"broker {self.broker_name} is paper-only")
                )
        elif live_broker:  # real money needs live mode and its acknowledgement, whatever else
            out.append(
                Denial(
                    "live_broker_needs_live_mode",
                    f"broker {self.broker_name} trades real money and the mode is {self.mode}",
                )
            )
        out.extend(self._halts(record))
        credentials_ok = getattr(self.broker, "credentials_ok", None)
        if callable(credentials_ok):
            try:
                ok = bool(credentials_ok())
            except Exception:
                ok = False
            if not ok:
                out.append(
                    Denial("credentials_missing", f"broker {self.broker_name} has no credentials")
                )
        return out

    def preflight(self, intent_id: str) -> list[Denial]:
        """Every reason ``intent_id`` may not execute now (empty: clear to execute)."""
        return self._preflight(self.store.get(intent_id))

    def _preflight(self, record: IntentRecord) -> list[Denial]:
        out = self._may_send(record)
        if record.broker != self.broker_name:
            out.append(
                Denial(
                    "broker_mismatch",
                    f"intent was proposed for broker {record.broker}, this is {self.broker_name}",
                )
            )
        now = self.clock()
        due = record.expires_at is not None and record.expires_at <= now
        if record.state is IntentState.EXPIRED or (
            record.state is IntentState.PENDING_APPROVAL and due
        ):
            out.append(Denial("approval_expired", f"approval window ended at {record.expires_at}"))
        elif record.state is not IntentState.APPROVED:
            out.append(Denial("not_approved", f"intent is {record.state.value}"))
        denial = record.first_denial
        if denial is not None:
            out.append(Denial("guard_denied", f"{denial.guard}: {denial.code}"))
        mismatch = self.store.journal_disagreement(record.id)
        if mismatch is not None:
            out.append(Denial("journal_mismatch", mismatch))
        if record.state is IntentState.APPROVED:  # defence in depth: verify checks it too
            short = quorum.shortfall(self.store.journal_rows(record.id), record.verdicts)
            if short is not None:
                out.append(Denial("quorum_missing", short))
        return out

    def _request(self, record: IntentRecord) -> OrderRequest | None:
        constraints = constraints_or_default(self.broker, record.intent.symbol)
        quantity = derive_quantity(record, self.settings.runtime.quantity_step, constraints)
        if quantity is None or quantity <= 0:
            return None
        intent = record.intent
        return OrderRequest(
            client_order_id=record.client_order_id,
            symbol=intent.symbol,
            side=intent.side,
            quantity=quantity,
            order_type=intent.order_type,
            limit_price=intent.limit_price,
            time_in_force=intent.time_in_force,
            intent_id=intent.id,
        )

    # -- execute ---------------------------------------------------------------------

    def execute(self, intent_id: str, *, actor: str = "executor") -> ExecutionResult:
        """Claim and submit one approved intent. Raises :class:`RefusedError` (nothing
        sent, nothing changed) when preflight denies it; returns ``already_claimed`` when
        another executor claimed it first."""
        record = self.store.get(intent_id)
        if record.state in CLAIMED:
            return self._claimed_elsewhere(record)
        if self.fence is not None:
            self.fence()
        denials = self._preflight(record)
        if denials:
            codes = ", ".join(d.code for d in denials)
            for d in denials:
                if d.code == "journal_mismatch":
                    self._journal_conflict(record, d.detail)
            raise RefusedError(
                f"refusing to execute intent {intent_id} ({record.state.value}): {codes}; "
                "nothing was sent"
            )
        spent = order_admitted(self.broker)
        if spent is not None:  # before the claim: the intent stays approved, untouched
            raise RefusedError(
                f"refusing to execute intent {intent_id}: request_budget_exhausted (broker "
                f"{spent.broker}: {spent.per_minute} calls per minute spent); nothing was "
                "sent, it stays approved"
            )
        try:
            record = self.store.transition(
                intent_id,
                IntentState.EXECUTING,
                expected_from=IntentState.APPROVED,
                actor=actor,
                payload={"broker": self.broker_name},
            )
        except StateConflict as exc:
            current = self.store.get(intent_id)
            if current.state in CLAIMED:
                return self._claimed_elsewhere(current)
            raise RefusedError(f"refusing to execute intent {intent_id}: {exc}") from None
        self._point("claimed", intent_id)
        self._point("before_submit", intent_id)
        halts = self._halts(record)  # an operator's switch thrown since preflight still counts
        if halts:
            detail = ", ".join(d.code for d in halts)
            return self._fail(record, f"halted_before_submit: {detail}", actor)
        try:
            record, order = self._send(record, actor)
        except _NotSent as exc:
            return exc.result
        except LeaseLost:
            raise
        except BrokerRejected as exc:
            return self._fail(record, f"broker_rejected: {exc.code}", actor, detail=exc.reason)
        except Exception as exc:  # SubmitOutcomeUnknown, timeouts, anything: outcome unknown
            self._emit("unknown_outcome", record, reason=type(exc).__name__)
            result, _ = self._resolve(record, actor)
            return evolve(result, answered=False)
        self._point("after_submit", intent_id)
        return self._submitted(record, order, actor)

    def _send(self, record: IntentRecord, actor: str) -> tuple[IntentRecord, Order]:
        """Submit a claimed intent as its journal tells it: the ONE way anything is sent.

        The row is re-read and checked against its journal rows in one snapshot right
        before the submit, and the request is built from that verified row, so a row
        edited behind the journal (a quantity, a state) is never sent, whether by the
        first submit or a reconcile's resubmit. Returns the verified record and the
        broker's order; raises :class:`_NotSent` (holding the result) when nothing was
        sent; the broker's exceptions pass through."""
        current, mismatch = self.store.verified(record.id)
        if current is None or mismatch is not None:
            problem = mismatch or f"intent {record.id} is missing"
            self._journal_conflict(record, problem)
            raise _NotSent(self._fail(record, f"journal_mismatch: {problem}", actor))
        if current.state is not IntentState.EXECUTING:  # settled meanwhile by another hand
            raise _NotSent(self._result(current, current.state.value, current.reason or ""))
        request = self._request(current)
        if request is None:
            reason = "quantity_rounds_to_zero" if current.ref_price else "no_reference_price"
            raise _NotSent(self._fail(current, reason, actor))
        if self.fence is not None:  # the last moment: the lease may have gone since the claim
            self.fence()
        return current, self.broker.submit(request)

    def _journal_conflict(self, record: IntentRecord, problem: str) -> None:
        if record.id in self._mismatched:  # a refused intent is retried every cycle
            return
        self._mismatched.add(record.id)
        self._emit(
            "conflict",
            record,
            severity="critical",
            reason=f"journal_mismatch: {problem}; the intent row was changed behind the "
            "journal's back: nothing was sent, run `tradekernel journal verify`",
        )

    def _claimed_elsewhere(self, record: IntentRecord) -> ExecutionResult:
        self._emit("claim_conflict", record, reason=f"already {record.state.value}")
        return ExecutionResult(
            record.id,
            "already_claimed",
            record.state.value,
            record.client_order_id,
            record.broker_order_id,
            reason=f"already claimed: intent is {record.state.value}",
        )

    def _submitted(
        self, record: IntentRecord, order: Order, actor: str, reason: str = ""
    ) -> ExecutionResult:
        if order.status is OrderStatus.REJECTED:
            self.store.upsert_order(order, intent_id=record.id)
            return self._fail(record, f"broker_rejected: {order.reason or 'rejected'}", actor)
        self.store.upsert_order(order, intent_id=record.id)
        try:
            record = self.store.transition(
                record.id,
                IntentState.SUBMITTED,
                expected_from=IntentState.EXECUTING,
                actor=actor,
                reason=reason,
                broker_order_id=order.broker_order_id,
                order_status=order.status.value,
            )
        except StateConflict:  # a concurrent reconcile recorded it first
            current = self.store.get(record.id)
            if current.state is not IntentState.SUBMITTED:
                # The broker holds an order the store says was not sent: an operator must
                # look before anything is re-proposed (it would double the position).
                self._emit(
                    "conflict",
                    current,
                    severity="critical",
                    reason=f"order_for_unsent_intent: broker accepted order "
                    f"{order.broker_order_id} but the intent "
                    f"is {current.state.value}",
                )
            return self._result(current, current.state.value, current.reason or "")
        self._point("recorded", record.id)
        self._emit("submitted", record, reason=reason)
        return self._result(record, "submitted", reason)

    def _fail(
        self, record: IntentRecord, reason: str, actor: str, detail: str = ""
    ) -> ExecutionResult:
        try:
            record = self.store.transition(
                record.id,
                IntentState.FAILED,
                expected_from=IntentState.EXECUTING,
                actor=actor,
                reason=reason,
                payload={"detail": detail} if detail else None,
            )
        except StateConflict:
            record = self.store.get(record.id)
            return self._result(record, record.state.value, record.reason or "")
        self._emit("failed", record, reason=reason)
        return self._result(record, "failed", reason)

    @staticmethod
    def _result(record: IntentRecord, outcome: str, reason: str) -> ExecutionResult:
        return ExecutionResult(
            record.id,
            outcome,
            record.state.value,
            record.client_order_id,
            record.broker_order_id,
            reason=reason,
        )

    def _unknown(self, record: IntentRecord, reason: str) -> ExecutionResult:
        return self._result(record, "unknown", reason)

    def _refused(self, record: IntentRecord, reason: str) -> tuple[ExecutionResult, str]:
        """Left ``executing``, nothing asked: the broker's request budget is spent."""
        return evolve(self._unknown(record, reason), refused=True), "still_unknown"

    def _resolve(self, record: IntentRecord, actor: str) -> tuple[ExecutionResult, str]:
        """Settle an intent in ``executing`` whose order may or may not exist at the broker.
        Returns the result and the action taken (found/resubmitted/failed/still_unknown)."""
        coid = record.client_order_id
        if record.broker != self.broker_name:  # the order, if any, is at the other broker
            reason = f"broker_mismatch: proposed for {record.broker}"
            return self._unknown(record, reason), "still_unknown"
        try:
            order = self.broker.get_order(coid)
        except RequestBudgetExhausted:
            return self._refused(record, "lookup_refused: request_budget_exhausted")
        except Exception as exc:
            return self._unknown(record, f"lookup_failed: {type(exc).__name__}"), "still_unknown"
        if order is not None:
            return self._submitted(record, order, actor, "found_at_broker"), "found"
        ttl = timedelta(seconds=float(self.settings.kernel.approval_ttl))
        since = record.executing_since or record.updated_at
        if since + ttl < self.clock():  # too late to send into today's market
            return self._fail(record, "not_received_by_broker: approval_stale", actor), "failed"
        # Confirmed absent. Resubmitting with the SAME client order id is safe (the broker
        # deduplicates it) and means a crash between claim and submit loses no intent, but
        # only when anything may be sent now at all.
        denials = self._may_send(record)
        if denials:
            detail = ", ".join(d.code for d in denials)
            return self._fail(record, "not_received_by_broker", actor, detail), "failed"
        if order_admitted(self.broker) is not None:  # nothing sent: the next reconcile
            return self._refused(record, "request_budget_exhausted")
        try:
            record, order = self._send(record, actor)
        except _NotSent as exc:
            return exc.result, "failed" if exc.result.state == "failed" else "still_unknown"
        except LeaseLost:
            raise
        except BrokerRejected as exc:
            try:  # a duplicate-id rejection means the first submit did arrive after all
                found = self.broker.get_order(coid)
            except RequestBudgetExhausted:  # not asked: it may have arrived, look again later
                return self._refused(record, "lookup_refused: request_budget_exhausted")
            except Exception:
                found = None
            # the broker may keep the order it just rejected: only a live one was a duplicate
            if found is not None and found.status is not OrderStatus.REJECTED:
                return self._submitted(record, found, actor, "found_at_broker"), "found"
            return self._fail(record, f"broker_rejected: {exc.code}", actor, exc.reason), "failed"
        except Exception as exc:
            self._emit("unknown_outcome", record, reason=type(exc).__name__)
            return self._unknown(record, f"resubmit_outcome_unknown: {type(exc).__name__}"), (
                "still_unknown"
            )
        return self._submitted(record, order, actor, "resubmitted_after_absent"), "resubmitted"

    # -- reconcile -------------------------------------------------------------------

    def check_sent(self, *, actor: str = "reconcile") -> list[str]:
        """Ask the broker about the orders the store says were sent through it (every
        open one and the :data:`RECENT_SENT` latest sent through it): one it does not know means the
        broker's account was reset or replaced, or the order was lost. Each is a critical
        ``executor.conflict`` and trading is halted. Returns the intents concerned."""
        records = {r.id: r for r in self.store.list_intents(state="submitted", open_orders=True)}
        for r in self.store.latest_intents("submitted", RECENT_SENT, broker=self.broker_name):
            records.setdefault(r.id, r)  # each broker's own latest, not a shared window
        unknown = []
        for record in records.values():
            if record.broker != self.broker_name:
                continue  # another broker's
            try:
                order = self.broker.get_order(record.client_order_id)
            except Exception:  # cannot tell now; the next reconcile asks again
                continue
            if order is None:
                self.order_unknown(record, actor=actor)
                unknown.append(record.id)
            else:  # known (again, e.g. a briefly missing account is back)
                self.store.mark_order_known(record.client_order_id)
        return unknown

    def order_unknown(self, record: IntentRecord, *, actor: str = "executor") -> None:
        """``record`` was sent (the store holds its acknowledgement) but the broker does
        not know its order: a critical ``executor.conflict``; trading is halted until an
        operator has looked (``tradekernel control trading-state active``).

        Reported once per order: the order is flagged unknown first
        (:meth:`Store.mark_order_unknown`, its status kept), and an order flagged so before
        (by an earlier start, a reconcile, the monitor) is not reported nor halted on
        again, so an operator's acknowledgement holds; the flag is cleared when the broker
        knows the order again."""
        if not self.store.mark_order_unknown(record.client_order_id):
            return
        reason = (
            f"unknown_to_broker: the store says order {record.client_order_id} "
            f"({record.broker_order_id}) was sent to {self.broker_name}, which does not know "
            "it (its account was reset or replaced, or the order was lost)"
        )
        self._emit("conflict", record, severity="critical", reason=reason)
        if self.store.get_control("trading_state", "active") != "halted":
            self.store.set_control("trading_state", "halted", actor=actor, reason=reason)

    def reconcile(self, *, actor: str = "reconcile") -> list[ReconcileResult]:
        """Resolve every intent stuck in ``executing`` by asking the broker first (run at
        start, before any new execution), then check the sent orders the broker should
        know (:meth:`check_sent`). Never resubmits an order the broker has."""
        results = self.resolve_pending(actor=actor)
        self.check_sent(actor=actor)
        return results

    def resolve_pending(
        self, *, actor: str = "reconcile", records: list[IntentRecord] | None = None
    ) -> list[ReconcileResult]:
        """Resolve the intents stuck in ``executing`` (``records``, else all of them) on
        this broker, skipping those claimed on one of its :attr:`peers` (never sent
        anywhere else than the broker they were claimed on)."""
        results = []
        if self.fence is not None:
            self.fence()
        if records is None:
            records = self.store.list_intents(state=IntentState.EXECUTING.value)
        for record in records:
            if record.broker in self.peers:
                continue
            result, action = self._resolve(record, actor)
            current = self.store.get(record.id)
            self._emit("reconciled", current, action=action, reason=result.reason)
            results.append(
                ReconcileResult(
                    record.id,
                    record.client_order_id,
                    action,
                    current.state.value,
                    current.broker_order_id,
                    result.reason,
                    refused=result.refused,
                )
            )
        return results


def reconcile_brokers(
    kernel: Any,
    store: Store,
    *,
    actor: str = "reconcile",
    emit: Callable[..., Any] | None = None,
    settings: Any = None,
    fence: Callable[[], None] | None = None,
) -> tuple[list[ReconcileResult], list[str]]:
    """Reconcile every configured broker on its own executor (``intents reconcile``,
    ``ops batch``): each resolves only the intents claimed on it. A broker the operator
    disabled is sent nothing, a resubmit included: it is skipped. Returns the results
    and the names of the brokers skipped. ``settings``: the kernel's when not given.
    ``fence``: the agent's lease, checked before each broker's reconcile and each resend."""
    from .runtime.routing import DISABLED_KEY

    settings = settings or kernel.settings
    sel = settings.components
    names = list(sel.brokers) or [sel.broker]
    results: list[ReconcileResult] = []
    skipped = []
    for name in names:
        if sel.brokers and store.get_control(DISABLED_KEY + name, None):
            skipped.append(name)
            continue
        broker = kernel.component("broker") if name == sel.broker else None
        executor = Executor(
            store,
            broker or kernel.component("broker", name),
            broker_name=name,
            settings=settings,
            emit=emit or kernel.emit,
            peers=frozenset(names) - {name},
            fence=fence,
        )
        results += executor.reconcile(actor=actor)
    return results, skipped
