"""The graph's nodes: what each role does in one cycle.

:class:`Nodes` is the work half of :class:`tradekernel.runtime.Runtime` (the commander is
the other half, in ``runtime.py``): one method per node of :data:`PLAN`, each reading and
writing the cycle's :class:`CycleState`, reaching plugins only through the kernel.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextvars
import functools
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import ROUND_DOWN, Decimal
from typing import Any

import attrs
from loguru import logger

from ..approval import ApprovalService
from ..components import DEFAULT_ORDER_CONSTRAINTS, GuardContext, SkillRequest
from ..constraints import broker_constraints, fit
from ..errors import ConfigError, RefusedError, TradekernelError
from ..execution import Executor
from ..kernel import Kernel
from ..lease import LeaseLost
from ..models import Decision, GuardVerdict, Intent, Side, SkillResult
from ..plugins import ComponentSpec
from ..quality import DataQuality
from ..request_budget import RequestBudgetExhausted
from ..risk import evaluate, intent_quantity, signed
from ..settings import RuntimeSettings, Settings
from ..store import IntentState, SecretInIntent, Store
from .control import CircuitBreaker, Control
from .ledger import Commitments, TradeLedger
from .routing import Router, aggregate, route_for, route_label
from .state import CycleState
from .strategies import Strategies

OPEN_ORDER_STATES = ("working", "partial_fill", None)
ACCOUNT_SKILL = "account.positions"
"""The built-in skill of the default broker's account; several brokers: the view's."""

FILLS_DUE_CYCLES = 10
"""Cycles the monitor keeps asking for the fills an order recorded done still lacks (a
venue's fill feed may lag its order status) before ``monitor.fills_missing`` names it."""

MONITOR_FAILURES = 3
"""Failed order reads after which the monitor stops asking that broker for the cycle."""
_FAILED = object()
"""What :meth:`Nodes._ask` returns when the broker's answer for one order was an error."""


class Nodes(Strategies):
    """The eight nodes (strategize: :class:`.strategies.Strategies`). The runtime sets
    every attribute annotated here."""

    kernel: Kernel
    settings: Settings
    policy: RuntimeSettings
    store: Store
    control: Control
    breaker: CircuitBreaker
    approvals: ApprovalService
    ledger: TradeLedger
    clock: Callable[[], datetime]
    stop_requested: bool
    exhausted: bool
    feed_failure: Exception | None
    """The market data feed failed for good (a bad replay row): the run ends with it."""
    _pool: cf.ThreadPoolExecutor
    _trace: bool
    _executors: dict[str, Executor]
    router: Router | None
    """Routes new intents across ``[components] brokers`` (``None``: one broker)."""
    _held: set[str]
    _accounts: dict[str, Any]
    _quality: DataQuality | None = None
    _unknown_orders: set[str]
    _fills_due: dict[str, int]
    """Intents whose order is recorded done (a submit answered filled, a reconcile found
    it done, the monitor saw it finish) with fills missing, and how many cycles they were
    asked for: the monitor polls open orders only, so it collects these separately."""
    _none_since: dict[str, tuple[int, int]]
    _asks_failed: dict[str, int]
    """Order reads that failed this cycle, by broker name."""
    _asks_refused: set[str]
    """Brokers whose request budget refused a monitor read this cycle."""
    _reported: tuple[Any, dict[str, Any]] | None = None
    """The report node's last account and positions (one broker): kept when a read is
    refused by the broker's request budget."""
    """The monitor's reads of one order that raised, this cycle."""
    _skill_specs: dict[str, ComponentSpec]
    mode: str
    fence: Callable[[], None] | None
    """The agent's lease (``None``: the store offers none), called before claims and orders."""
    lease_lost: LeaseLost | None
    """Why the lease was lost: the agent stopped before its next order."""

    def _lease_held(self) -> bool:
        """Whether this agent still holds its lease (always, without one); once it does
        not, the run stops: nothing more is claimed or sent."""
        if self.lease_lost is None and self.fence is not None:
            try:
                self.fence()
            except LeaseLost as exc:
                self.lease_lost = exc
        if self.lease_lost is not None:
            self.stop_requested = True
            return False
        return True

    @property
    def broker_name(self) -> str:
        return self.settings.components.broker

    @property
    def executor(self) -> Executor:
        """The executor on the selected (default) broker, built on first use."""
        return self.executor_for(self.broker_name)

    def executor_for(self, name: str) -> Executor:
        """The executor on broker ``name`` (the default broker's for a name this agent
        does not route to: its preflight refuses the intent with ``broker_mismatch``)."""
        names = self.kernel.selected("broker")
        if name not in names:
            name = self.broker_name
        executor = self._executors.get(name)
        if executor is None:
            executor = self._executors[name] = Executor(
                self.store,
                self.kernel.component("broker", name),
                broker_name=name,
                settings=self.settings,
                emit=self.kernel.emit,
                clock=self.clock,
                mode=self.mode,
                peers=frozenset(names) - {name},
                fence=self.fence,
            )
        return executor

    def _route(self, intent: Intent) -> tuple[str, str | None]:
        """``(broker recorded, broker to send to)`` for a new intent: with one broker both
        are it; with several, an intent that reduces a position goes to a broker holding
        it (never elsewhere: failed over, it would open the opposite position there),
        else the route's choice this cycle. The second is ``None`` when the intent is
        held: it is recorded for the holder, else its route's primary."""
        if self.router is None:
            return self.broker_name, self.broker_name
        route = route_for(intent.symbol, self.settings.routing)
        primary = route.broker if route else self.broker_name
        holders = [n for n in self.router.names if self._reduces_at(n, intent)]
        if holders:
            for name in sorted(holders, key=lambda n: n != primary):
                if self.router.usable(name):
                    return name, name
            return (primary if primary in holders else holders[0]), None
        chosen = self.router.choose(intent.symbol)
        return (chosen, chosen) if chosen is not None else (primary, None)

    def _held_at(self, broker: str) -> dict[str, Any]:
        """Broker ``broker``'s positions by symbol, as it last reported them."""
        return {p.symbol: p for p in self._accounts.get(broker, (None, []))[1]}

    def _reduces_at(self, broker: str, intent: Intent) -> bool:
        """Whether ``broker`` holds a position in the intent's symbol on the other side."""
        held = self._held_at(broker).get(intent.symbol)
        quantity = held.quantity if held is not None else Decimal(0)
        return quantity < 0 if intent.side is Side.BUY else quantity > 0

    def _listed(self, what: str, query: Callable[[], list[Any]]) -> list[Any]:
        """``query()``'s intents, or ``[]`` without asking when it found none at the
        store's current version (:meth:`Control.version`: nothing was written since, by
        this process or, as of the cycle's refresh, any other). An idle cycle thus reads
        no intent table; another process's change is seen from the next cycle on."""
        version = self.control.version()
        if self._none_since.get(what) == version:
            return []
        records = query()
        if records:
            self._none_since.pop(what, None)
        else:
            self._none_since[what] = version
        return records

    def _node_hydrate(self, state: CycleState) -> None:
        if not state.advanced:  # a retried hydrate must not skip a bar
            feed = self.kernel.component("market_data")
            try:
                state.as_of = feed.advance()
            except Exception as exc:
                # a configuration or data error, or one the feed says it keeps raising,
                # ends the run with that error; anything else is retried as a node failure
                if not (isinstance(exc, ConfigError) or getattr(feed, "failure", None) is exc):
                    raise
                self.feed_failure = exc
                state.stop_reason = "end"
                state.notes.append(f"market data failed: {type(exc).__name__}: {exc}")
                logger.debug("market data failed: {}", exc)
                return
            state.advanced = True
        if state.as_of is None:
            self.exhausted = True
            state.stop_reason = "end"
            where = getattr(self.kernel.component("market_data"), "resume_path", None)
            state.notes.append(
                "market data exhausted"
                + (f" (its clock continues from {where}; delete it to replay)" if where else "")
            )
            return
        request = SkillRequest(symbols=list(self.policy.watchlist), as_of=state.as_of)
        skills = self.kernel.selected("skill")
        view = self.router is not None and ACCOUNT_SKILL in skills
        if view:  # it asks the default broker only, disabled or not: the view replaces it
            skills = [n for n in skills if n != ACCOUNT_SKILL]
        results = self._call_skills(skills, request)
        state.skill_results = self._screen_market_data(results, state.as_of)
        trace = self._trace and self.kernel.wants_event("hydrate", "skill", "info")
        for name, result in state.skill_results.items():
            if result.ok and not trace:
                continue
            self.kernel.emit(
                "hydrate",
                "skill",
                severity="info" if result.ok else "warning",
                skill=name,
                ok=result.ok,
                latency_ms=round(result.latency_ms, 3),
                fallback_reason=result.fallback_reason,
                error=result.error,
                source=result.source,
                version=result.version,
            )
        quotes = state.skill_results.get("market.quote")
        if quotes is not None and quotes.ok:
            state.quotes = dict(quotes.data or {})
        bars = state.skill_results.get("market.bars")
        if bars is not None and bars.ok:
            state.bars = dict(bars.data or {})
        account = state.skill_results.get(ACCOUNT_SKILL)
        if account is not None and account.ok:
            state.positions = dict(account.data["positions"])
            state.account = account.data["account"]
        if self.router is not None:  # every broker's account, not the skill's one
            state.account, state.positions = self.account_view()
            if view:
                state.skill_results[ACCOUNT_SKILL] = SkillResult(
                    name=ACCOUNT_SKILL,
                    ok=True,
                    data={"account": state.account, "positions": dict(state.positions)},
                )
        for name in self.settings.components.required_skills:
            result = state.skill_results.get(name)
            if result is None or not result.ok:
                self.control.record_incident(f"required skill {name} fell back")

    @property
    def quality(self) -> DataQuality:
        """The market data screen of this runtime (one per process: it keeps history)."""
        if self._quality is None:
            feed = self.kernel.component("market_data")
            origin = getattr(feed, "bar_origin", None)
            self._quality = DataQuality(
                self.policy.max_price_move,
                origin if callable(origin) else None,
                float(self.policy.max_quote_age),
            )
        return self._quality

    def _screen_market_data(
        self, results: dict[str, SkillResult], as_of: datetime | None
    ) -> dict[str, SkillResult]:
        """Skill results with every bar and quote that fails the data-quality checks
        removed (docs/runtime.md, "Market data quality"); one event per rejection."""
        results, rejections = self.quality.screen(results, as_of)
        for r in rejections:
            self.kernel.emit(
                "hydrate",
                "data_quality",
                severity="warning",
                symbol=r.symbol,
                code=r.code,
                item=r.item,
                bar_ts=r.ts.isoformat() if r.ts else None,
                skill=r.skill,
                origin=r.origin,
                detail=r.detail,
            )
        return results

    def _call_skills(self, names: list[str], request: SkillRequest) -> dict[str, SkillResult]:
        """Every skill's result; in parallel under one ``skill_timeout`` deadline."""
        timeout = float(self.policy.skill_timeout)
        if not timeout:  # no timeout configured (e.g. local replay data): this thread
            return {name: self._fetch_skill(name, request) for name in names}
        # each skill runs in the cycle's context: its events and current_cycle_id() name the cycle
        run = self._fetch_skill
        futures = {
            name: self._pool.submit(contextvars.copy_context().run, run, name, request)
            for name in names
        }
        deadline = time.monotonic() + timeout
        results = {}
        for name, future in futures.items():
            try:
                results[name] = future.result(timeout=max(0.0, deadline - time.monotonic()))
            except cf.TimeoutError:
                future.cancel()
                results[name] = SkillResult(
                    name=name,
                    ok=False,
                    error="timeout",
                    fallback_reason=f"no answer within {self.policy.skill_timeout}",
                    latency_ms=timeout * 1000,
                )
        return results

    def _fetch_skill(self, name: str, request: SkillRequest) -> SkillResult:
        spec = self._skill_specs.get(name)
        if spec is None:
            spec = self._skill_specs[name] = self.kernel.spec("skill", name)
        return fetch_skill(self.kernel, name, request, spec=spec)

    def _node_scan(self, state: CycleState) -> None:
        scanner = self.kernel.component("scanner")
        candidates = scanner.scan(state.skill_results, list(self.policy.watchlist))
        # No quote for a symbol means no new intent for it, whatever the scanner says.
        state.candidates = [s for s in candidates if s in state.quotes]
        self.kernel.emit(
            "scan", "candidates", candidates=state.candidates, count=len(state.candidates)
        )

    def _limits(self) -> dict[str, Any]:
        limits: dict[str, Any] = {"guards": list(self.settings.components.guards)}
        for name in self.settings.components.guards:
            limits[name] = self.settings.component_sections.get("guard", {}).get(name, {})
        return limits

    def _admissible(
        self, decision: Decision, state: CycleState, *, degraded: bool | None = None
    ) -> list[Intent]:
        """Intents the graph may carry on: candidate symbols with a quote, scaled in degrade
        (``degraded``: the strategist's own state; default the cycle's), fitted to the
        broker's order constraints."""
        degraded = state.degraded if degraded is None else degraded
        out = []
        for intent in decision.intents:
            if intent.symbol not in state.candidates or intent.symbol not in state.quotes:
                self._drop(intent, "not_a_candidate")
                continue
            intent = _with(intent)  # the id is always the digest of the content (verify checks)
            if not intent.sized:  # sized, then scaled and fitted, by the sizing step
                out.append(intent)
                continue
            if degraded:
                intent = self._scale(intent)
                if intent is None:
                    continue
            intent = self._constrain(intent, state)
            if intent is None:
                continue
            out.append(intent)
        return out

    def _constrain(self, intent: Intent, state: CycleState) -> Intent | None:
        """The intent fitted to the broker's order constraints (``None``: dropped as too
        small). A kernel rule for every strategist, applied before the guards."""
        broker = self._route(intent)[0]
        try:
            constraints = broker_constraints(self.kernel.component("broker", broker), intent.symbol)
        except Exception as exc:  # a broken declaration must not let dust through
            logger.warning("broker {}: order_constraints failed: {}", self.broker_name, exc)
            constraints = DEFAULT_ORDER_CONSTRAINTS
        quote = state.quotes.get(intent.symbol)
        step = Decimal(str(self.policy.quantity_step))
        positions = state.positions if self.router is None else self._held_at(broker)
        position = positions.get(intent.symbol)
        held = position.quantity if position is not None else None
        result = fit(intent, constraints, quote.last if quote else None, step, held)
        if result.reason is not None:
            self._drop(intent, result.reason, result.detail)
            return None
        return _with(intent, **result.changes) if result.changes else intent

    def _scale(self, intent: Intent) -> Intent | None:
        """The intent sized by ``degrade_notional_ratio`` (``None``: nothing left)."""
        ratio = Decimal(str(self.policy.degrade_notional_ratio))
        if intent.notional is not None:
            notional = (intent.notional * ratio).quantize(Decimal("0.01"), ROUND_DOWN)
            scaled = {"notional": notional} if notional > 0 else None
        else:
            step = Decimal(str(self.policy.quantity_step))
            qty = (intent.quantity * ratio / step).to_integral_value(ROUND_DOWN) * step
            scaled = {"quantity": qty} if qty > 0 else None
        if scaled is None:
            self._drop(intent, "degrade_scaled_to_zero")
            return None
        return _with(intent, **scaled)

    def _drop(self, intent: Intent, reason: str, detail: str | None = None) -> None:
        """Leave ``intent`` out of the cycle, saying why (``strategist.dropped_intent``)."""
        extra: dict[str, Any] = {} if detail is None else {"detail": detail}
        if len(self.strategist_names()) > 1:
            extra["strategist"] = intent.strategist
        self.kernel.emit(
            "strategist",
            "dropped_intent",
            severity="warning",
            intent_id=intent.id,
            symbol=intent.symbol,
            reason=reason,
            **extra,
        )

    @property
    def _allowlisted(self) -> bool:
        """Whether a selected guard (by the component it uses) is the allowlist."""
        use = self.settings.component_use
        return any(use("guard", n) == "allowlist" for n in self.settings.components.guards)

    def _node_guard(self, state: CycleState) -> None:
        guards = self.kernel.components("guard")
        self.ledger.roll(state.as_of, state.account, state.positions)
        committed = self._commitments() if state.intents else Commitments()
        at_broker: dict[str, Commitments] = {}  # with several brokers: each broker's own
        for intent in state.intents:
            quote = state.quotes.get(intent.symbol)
            try:
                record = self.store.add_intent(
                    intent,
                    cycle_id=state.cycle_id,
                    broker=self._route(intent)[0],
                    ref_price=quote.last if quote else None,
                    actor="strategist",
                )
            except SecretInIntent as exc:
                self._drop(intent, exc.code, str(exc))  # the event bus scrubs events
                continue
            intent = record.intent  # the stored (secret-scrubbed) intent
            if record.state != IntentState.PROPOSED:
                continue  # the same cycle inputs were seen before: same id, already handled
            state.proposed.append(intent.id)
            degraded = state.degraded or intent.id in state.degraded_intents
            if self.router is not None and record.broker not in at_broker:
                at_broker[record.broker] = self._commitments(record.broker)
            context = self.own_degrade_context(
                state,
                intent,
                self._guard_context(
                    state, intent, at_broker.get(record.broker, committed), record.broker
                ),
            )
            result = evaluate(guards, intent, context)
            verdicts = [*result.verdicts, *self.input_denials(state, intent, guards, context)]
            if degraded and not self._allowlisted:
                verdicts.append(
                    GuardVerdict.denied(
                        "degrade",
                        "degrade_allowlist_required",
                        "degrade mode requires the allowlist guard to be configured",
                    )
                )
            for v in verdicts:
                self.kernel.emit(
                    "risk",
                    "verdict",
                    severity="info" if v.allow else "warning",
                    intent_id=intent.id,
                    symbol=intent.symbol,
                    guard=v.guard,
                    allow=v.allow,
                    code=v.code,
                    detail=v.detail,
                    **({"rule": v.rule, "version": v.version} if v.rule else {}),
                )
                if not v.allow:
                    state.denials[v.code] = state.denials.get(v.code, 0) + 1
            approval_mode = "shadow" if self.mode == "shadow" else "manual" if degraded else None
            record = self.approvals.submit(intent.id, verdicts, approval_mode=approval_mode)
            if record.state is not IntentState.BLOCKED:
                quantity = intent_quantity(intent, record.ref_price) or Decimal(0)
                for commitments in {committed, at_broker.get(record.broker, committed)}:
                    commitments.add(
                        intent.symbol, signed(intent, quantity), record.ref_price, state.as_of
                    )
            bucket = {
                IntentState.BLOCKED: state.blocked,
                IntentState.PENDING_APPROVAL: state.pending,
                IntentState.APPROVED: state.approved,
            }.get(record.state)
            if bucket is not None:
                bucket.append(intent.id)

    def _commitments(self, broker: str | None = None) -> Commitments:
        """Intents already on their way to the broker (see :class:`Commitments`); those
        of one ``broker`` only when given."""
        committed = Commitments()
        waiting = (IntentState.PENDING_APPROVAL, IntentState.APPROVED, IntentState.EXECUTING)
        for state in waiting:
            for r in self.store.list_intents(state=state):
                if broker is not None and r.broker != broker:
                    continue
                quantity = intent_quantity(r.intent, r.ref_price) or Decimal(0)
                committed.add(
                    r.intent.symbol, signed(r.intent, quantity), r.ref_price, r.intent.as_of
                )
        # Submitted and still working: already counted as orders by the trade ledger, and
        # only the unfilled rest is missing from the broker's positions.
        for r in self.store.list_intents(state=IntentState.SUBMITTED, open_orders=True):
            if broker is not None and r.broker != broker:
                continue
            quantity = intent_quantity(r.intent, r.ref_price) or Decimal(0)
            rest = quantity - (r.filled_quantity or Decimal(0))
            committed.add(
                r.intent.symbol, signed(r.intent, rest), r.ref_price, None, counts_as_order=False
            )
        return committed

    def _guard_context(
        self, state: CycleState, intent: Intent, committed: Commitments, broker: str
    ) -> GuardContext:
        realized, unrealized = self.ledger.pnl_today(state.account, state.positions)
        day = state.as_of.date() if state.as_of else None
        last = dict(self.ledger.last_trade)
        for symbol, ts in committed.last.items():
            last[symbol] = max(ts, last.get(symbol, ts))
        several = self.router is not None
        return GuardContext(
            as_of=state.as_of,
            quote=state.quotes.get(intent.symbol),
            positions=committed.positions(
                self._held_at(broker) if several else state.positions,
                intent.symbol,
                buying=intent.side is Side.BUY,
            ),
            account=self._accounts.get(broker, (state.account,))[0] if several else state.account,
            broker=broker,
            other_positions=[
                p for n, (_, held) in self._accounts.items() if n != broker for p in held
            ]
            if several
            else (),
            orders_today=self.ledger.orders_today + committed.orders_on(day),
            recent_order_times=(*self.ledger.order_times, *committed.times),
            last_trade_time=last,
            realized_pnl_today=realized,
            unrealized_pnl_today=unrealized,
            kill_switch=self.control.kill_switch,
            trading_state=self.control.trading_state,
            bars=tuple(state.bars.get(intent.symbol, ())),
        )

    def _node_approve(self, state: CycleState) -> None:
        pending = self._listed(
            "pending",
            lambda: self.store.list_intents(state=IntentState.PENDING_APPROVAL),
        )
        expired = self.approvals.expire_due(records=pending)
        if expired:
            state.notes.append(f"expired {len(expired)} approvals")

    def _node_execute(self, state: CycleState) -> None:
        def approved() -> list[Any]:
            return self.store.list_intents(state=IntentState.APPROVED)

        # Nothing approved and nothing written since: no order can go out, so the
        # refresh for an operator's last-moment switch is not needed either.
        idle = self._none_since.get("approved") == self.control.version()
        if not idle:
            self.control.refresh()  # an operator's kill switch or halt must count right now
        if self.control.kill_switch or self.control.trading_state == "halted":
            why = "kill switch on" if self.control.kill_switch else "trading halted"
            self.kernel.emit("executor", "skipped", severity="warning", reason=why)
            return
        if not self._lease_held():
            return
        if self.router is not None:
            self._resolve_unknown()
        ttl = timedelta(seconds=float(self.settings.kernel.approval_ttl))
        for record in [] if idle else self._listed("approved", approved):
            if self.stop_requested:
                break
            if self.router is not None and self._holds(record):
                continue
            if record.updated_at + ttl < self.clock():
                # Approved but not executed within approval_ttl (the agent was down, or
                # halted): the market has moved since the guards and the operator looked.
                self.approvals.cancel(
                    record.intent.id,
                    actor="executor",
                    reason=f"approval_stale: approved at {record.updated_at.isoformat()}, "
                    f"not executed within approval_ttl ({self.settings.kernel.approval_ttl})",
                )
                continue
            started = time.perf_counter()
            try:
                result = self.executor_for(record.broker).execute(record.intent.id)
            except LeaseLost as exc:  # nothing sent: the agent stops here
                self.lease_lost = exc
                self.stop_requested = True
                break
            except RefusedError as exc:  # a preflight denial: this intent waits, others go on
                self.kernel.emit(
                    "executor",
                    "refused",
                    severity="warning",
                    intent_id=record.intent.id,
                    reason=str(exc),
                )
                continue
            if self.router is not None and record.broker in self.router.health:
                self.router.health[record.broker].record(
                    result.answered, time.perf_counter() - started, "unknown_outcome"
                )
            if result.outcome == "submitted":
                self._fills_due.setdefault(record.intent.id, 0)
                state.submitted.append(record.intent.id)
                self.ledger.note_order(record.intent.symbol, state.as_of or self.clock())
            elif result.outcome == "failed":
                state.failed.append(record.intent.id)

    def _ask(self, record: Any, what: str, call: Callable[[], Any]) -> Any:
        """``call()``, a read of ``record``'s order, counted against its broker's health
        when several are routed. An error is this order's alone: ``monitor.order_failed``,
        and :data:`_FAILED` (asked again next cycle; the other orders go on). A broker
        that failed :data:`MONITOR_FAILURES` reads this cycle is not asked again in it, so
        a venue that times out costs a few timeouts a cycle, not one per open order. A
        read refused by the broker's request budget is no failure: one
        ``budget.read_skipped`` event, and that broker is not asked again this cycle."""
        if self._asks_failed.get(record.broker, 0) >= MONITOR_FAILURES:
            return _FAILED
        if record.broker in self._asks_refused:  # its budget is spent: not this cycle
            return _FAILED
        health = self.router.health.get(record.broker) if self.router else None
        try:
            return health.timed(call, what) if health else call()
        except RequestBudgetExhausted as exc:  # our own back-pressure, not a failed read
            self._asks_refused.add(record.broker)
            self.budget_skipped("monitor", exc)
            return _FAILED
        except Exception as exc:
            self._asks_failed[record.broker] = self._asks_failed.get(record.broker, 0) + 1
            self.kernel.emit(
                "monitor",
                "order_failed",
                severity="warning",
                intent_id=record.intent.id,
                client_order_id=record.client_order_id,
                broker=record.broker,
                call=what,
                error=f"{type(exc).__name__}: {exc}",
            )
            return _FAILED

    def _record_fills(self, broker: Any, record: Any, state: CycleState) -> None:
        cid = record.client_order_id
        fills = self._ask(record, "fills", functools.partial(broker.fills, cid))
        for fill in () if fills is _FAILED else fills:
            if self.store.record_fill(fill, intent_id=record.intent.id):
                state.fills += 1
                self.kernel.emit(
                    "monitor",
                    "fill",
                    intent_id=record.intent.id,
                    client_order_id=cid,
                    fill_id=fill.fill_id,
                    symbol=fill.symbol,
                    side=str(fill.side),
                    quantity=str(fill.quantity),
                    price=str(fill.price),
                    commission=str(fill.commission),
                )

    def _collect_due_fills(self, state: CycleState) -> None:
        """Fills of orders recorded done (an open order's are read by the monitor loop),
        asked each cycle while the store holds less than the order's filled quantity, at
        most :data:`FILLS_DUE_CYCLES` times; then ``monitor.fills_missing``."""
        for intent_id, asked in sorted(self._fills_due.items()):
            record = self.store.get(intent_id)
            filled = record.filled_quantity or Decimal(0)
            missing = Decimal(0)
            if record.order_status not in OPEN_ORDER_STATES and filled > 0:
                missing = filled - self._recorded(record.client_order_id)
            if missing > 0 and asked >= FILLS_DUE_CYCLES:
                self.kernel.emit(
                    "monitor",
                    "fills_missing",
                    severity="warning",
                    intent_id=intent_id,
                    client_order_id=record.client_order_id,
                    filled_quantity=str(filled),
                    missing=str(missing),
                    cycles=asked,
                )
            elif missing > 0:
                broker = self._broker_of(record)
                if broker is not None:  # else unavailable this cycle: asked next cycle
                    self._fills_due[intent_id] = asked + 1
                    self._record_fills(broker, record, state)
                continue
            del self._fills_due[intent_id]

    def _recorded(self, client_order_id: str) -> Decimal:
        """The quantity of the store's fills of one order."""
        return sum((f.quantity for f in self.store.fills(client_order_id)), Decimal(0))

    def _holds(self, record: Any) -> bool:
        """Whether an approved intent waits because its broker takes nothing now
        (disabled, or unhealthy this cycle or since): ``routing.held`` once per intent.
        It is never moved to another broker; it runs when its broker is back, or its
        approval goes stale."""
        router = self.router
        assert router is not None
        name = record.broker
        health = router.health.get(name)
        if health is None or (router.available.get(name) and health.state == "closed"):
            self._held.discard(record.intent.id)
            return False
        if record.intent.id not in self._held:
            self._held.add(record.intent.id)
            self.kernel.emit(
                "routing",
                "held",
                severity="warning",
                intent_id=record.intent.id,
                symbol=record.intent.symbol,
                route=route_label(route_for(record.intent.symbol, self.settings.routing)),
                broker=name,
                reason=f"broker_unavailable: {router.why(name)}",
            )
        return True

    def _resolve_unknown(self) -> None:
        """Resolve the intents left ``executing`` (an unknown outcome) each on the broker
        it was claimed on, once that broker is available again; never elsewhere."""
        router = self.router
        assert router is not None
        pending = self._listed(
            "executing", lambda: self.store.list_intents(state=IntentState.EXECUTING)
        )
        for name in {r.broker for r in pending}:
            if not router.available.get(name) or router.health[name].state != "closed":
                continue
            mine = [r for r in pending if r.broker == name]
            for result in self.executor_for(name).resolve_pending(records=mine):
                if not result.refused:  # our own budget said no: the broker is not unwell
                    router.health[name].record(result.action != "still_unknown", what="lookup")
                if result.state == "submitted":  # found, maybe done: its fills are due
                    self._fills_due.setdefault(result.intent_id, 0)

    def _broker_of(self, record: Any) -> Any | None:
        """The broker holding ``record``'s order (``None``: unavailable this cycle)."""
        if self.router is None:
            return self.kernel.component("broker")
        if not self.router.available.get(record.broker, record.broker not in self.router.health):
            return None
        return self.kernel.component("broker", self.executor_for(record.broker).broker_name)

    def budget_skipped(self, node: str, exc: RequestBudgetExhausted) -> None:
        """``node`` skipped a read because broker ``exc.broker``'s request budget is spent:
        the agent's own back-pressure, never an incident, a broker failure or a reason to
        cancel anything (``budget.read_skipped``; the read is asked again next cycle)."""
        self.kernel.emit(
            "budget",
            "read_skipped",
            severity="warning",
            node=node,
            broker=exc.broker,
            method=exc.method,
            reason=str(exc),
        )

    def _node_monitor(self, state: CycleState) -> None:
        self._asks_failed = {}
        self._asks_refused = set()
        if self._fills_due:
            self._collect_due_fills(state)
        working = self._listed(
            "working",
            lambda: self.store.list_intents(state=IntentState.SUBMITTED, open_orders=True),
        )
        for record in working:
            if record.order_status not in OPEN_ORDER_STATES:
                continue
            cid = record.client_order_id
            broker = self._broker_of(record)
            if broker is None:
                continue
            order = self._ask(record, "lookup", functools.partial(broker.get_order, cid))
            if order is _FAILED:
                continue
            if order is None:  # sent, yet unknown to the broker: halt, an operator must look
                if cid not in self._unknown_orders:
                    self._unknown_orders.add(cid)
                    self.executor_for(record.broker).order_unknown(record, actor="monitor")
                continue
            if cid in self._unknown_orders:  # known again: a later loss is reported anew
                self._unknown_orders.discard(cid)
                self.store.mark_order_known(cid)
            self._record_fills(broker, record, state)
            if order.status != record.order_status:
                self.store.upsert_order(order, intent_id=record.intent.id)
                if order.terminal and order.filled_quantity > self._recorded(cid):
                    self._fills_due.setdefault(record.intent.id, 0)  # the fill feed lags
                self.kernel.emit(
                    "monitor",
                    "order_status",
                    severity="warning" if str(order.status) == "rejected" else "info",
                    intent_id=record.intent.id,
                    client_order_id=cid,
                    status=str(order.status),
                    filled_quantity=str(order.filled_quantity),
                    progress=str(order.progress),
                    terminal=order.terminal,
                )
        if self._asks_failed and self.router is None:
            # one broker: its errors count as a failed node's would (cooldown, degrade)
            failed = sum(self._asks_failed.values())
            self.control.record_incident(f"monitor: {failed} order reads failed")

    def _node_report(self, state: CycleState) -> None:
        try:
            if self.router is not None:
                state.account, state.positions = self.account_view()
            else:
                broker = self.kernel.component("broker")
                account = broker.account()
                self._reported = (account, {p.symbol: p for p in broker.positions()})
                state.account, state.positions = self._reported
        except RequestBudgetExhausted as exc:  # the last account read stands
            self.budget_skipped("report", exc)
            if self.router is None and self._reported is not None:
                state.account, state.positions = self._reported
        if self.kernel.wants_event("report", "cycle", "info"):
            self.kernel.emit("report", "cycle", **state.summary())

    def account_view(self) -> tuple[Any, dict[str, Any]]:
        """The account view across brokers (:func:`aggregate`); a broker unavailable or
        failing now counts with its last known account and positions (one that never
        answered, not at all)."""
        router = self.router
        assert router is not None
        for name in router.names:
            if router.available.get(name):
                broker = self.kernel.component("broker", name)
                try:
                    self._accounts[name] = router.health[name].timed(
                        lambda b=broker: (b.account(), list(b.positions())), "account"
                    )
                except RequestBudgetExhausted as exc:  # its last known account, if any
                    self.budget_skipped("account", exc)
                except Exception:
                    if name not in self._accounts:
                        raise
        if not self._accounts:
            raise TradekernelError("no broker has answered yet: no account to show")
        accounts = {n: a for n, (a, _) in self._accounts.items()}
        positions = {n: p for n, (_, p) in self._accounts.items()}
        return aggregate(accounts, positions, self.settings.routing, self.broker_name)


def _with(intent: Intent, **changes: Any) -> Intent:
    """A copy of ``intent`` with ``changes``, under the id its new content derives."""
    fields = {a.name: getattr(intent, a.name) for a in attrs.fields(Intent)}
    fields.pop("id")
    fields.update(changes)
    return Intent.create(**fields)


def fetch_skill(
    kernel: Kernel, name: str, request: SkillRequest, *, spec: ComponentSpec | None = None
) -> SkillResult:
    """One call of skill ``name`` as the runtime makes it: its data in an ``ok`` result,
    or, when it raises, a fallback result with the error (never an exception). ``spec``:
    the skill's registration, when the caller has it already."""
    spec = spec or kernel.spec("skill", name)
    started = time.perf_counter()
    try:
        data = kernel.component("skill", name).fetch(request)
    except Exception as exc:
        return SkillResult(
            name=name,
            ok=False,
            error=f"{type(exc).__name__}: {exc}",
            fallback_reason="skill raised an error; its data is not used this cycle",
            latency_ms=(time.perf_counter() - started) * 1000,
            source=spec.distribution,
            version=spec.version,
        )
    return SkillResult(
        name=name,
        ok=True,
        data=data,
        latency_ms=(time.perf_counter() - started) * 1000,
        source=spec.distribution,
        version=spec.version,
    )
