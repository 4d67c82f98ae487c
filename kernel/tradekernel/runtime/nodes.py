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
from ..components import DEFAULT_ORDER_CONSTRAINTS, GuardContext, SkillRequest, StrategyInput
from ..constraints import broker_constraints, fit
from ..errors import ConfigError, RefusedError
from ..execution import Executor
from ..kernel import Kernel
from ..models import Decision, GuardVerdict, Intent, Side, SkillResult
from ..plugins import ComponentSpec
from ..quality import DataQuality
from ..risk import evaluate, intent_quantity, signed
from ..settings import RuntimeSettings, Settings
from ..store import IntentState, SecretInIntent, Store
from .control import BREAKER_NON_FAILURES, CircuitBreaker, Control
from .ledger import Commitments, TradeLedger
from .routing import Router, aggregate, route_for
from .state import CycleState

OPEN_ORDER_STATES = ("working", "partial_fill", None)


class Nodes:
    """The eight nodes. The runtime sets every attribute annotated here."""

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
    _fills_due: set[str]
    """Intents whose order was first recorded already terminal (a submit answered filled,
    a reconcile found it done): the monitor, which polls open orders only, collects
    their fills once."""
    _none_since: dict[str, tuple[int, int]]
    _skill_specs: dict[str, ComponentSpec]
    mode: str

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
            )
        return executor

    def _route(self, symbol: str) -> tuple[str, str | None]:
        """``(broker recorded, broker to send to)`` for a new intent for ``symbol``: with
        one broker both are it; with several, the route's choice this cycle (the second
        is ``None`` when the intent is held: it is recorded for its route's primary)."""
        if self.router is None:
            return self.broker_name, self.broker_name
        chosen = self.router.choose(symbol)
        if chosen is not None:
            return chosen, chosen
        route = route_for(symbol, self.settings.routing)
        return (route.broker if route else self.broker_name), None

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
        results = self._call_skills(self.kernel.selected("skill"), request)
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
        account = state.skill_results.get("account.positions")
        if account is not None and account.ok:
            state.positions = dict(account.data["positions"])
            state.account = account.data["account"]
        if self.router is not None:  # every broker's account, not the skill's one
            state.account, state.positions = self.account_view()
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

    def _node_strategize(self, state: CycleState, *, gated: bool = True) -> None:
        # gated=False (decide_once): no cooldown/breaker gate and no breaker accounting.
        name = self.settings.components.strategist
        started = time.perf_counter()
        if not state.candidates:
            decision = Decision.hold("no_candidates")
        elif gated and self.control.in_cooldown():
            decision = Decision.hold("cooldown")
            self.kernel.emit(
                "commander",
                "route",
                node="strategize",
                action="cooldown_wait",
                until=self.control.store.get_control("cooldown_until"),
            )
        elif gated and not self.breaker.allow():
            decision = Decision.hold("breaker_open")
        else:
            decision = self._ask_strategist(name, state, count=gated)
        state.decision = decision
        state.intents = self._admissible(decision, state)
        self.kernel.emit(
            "strategist",
            "decision",
            severity="warning" if decision.error_type else "info",
            strategist=name,
            intents=len(state.intents),
            hold_reason=decision.hold_reason,
            error_type=decision.error_type,
            detail=decision.detail,
            latency_ms=round((time.perf_counter() - started) * 1000, 3),
        )

    def _ask_strategist(self, name: str, state: CycleState, *, count: bool = True) -> Decision:
        inputs = StrategyInput(
            cycle_id=state.cycle_id,
            as_of=state.as_of,
            candidates=list(state.candidates),
            skill_results=state.skill_results,
            quotes=state.quotes,
            bars=state.bars,
            positions=state.positions,
            account=state.account,
            limits=self._limits(),
        )
        try:
            decision = self.kernel.component("strategist").decide(inputs)
            if not isinstance(decision, Decision):
                raise TypeError(
                    f"strategist {name} returned {type(decision).__name__}, not Decision"
                )
        except Exception as exc:
            logger.opt(exception=exc).warning("strategist {} raised: {}", name, exc)
            decision = Decision.hold(
                "strategist_error", error_type=type(exc).__name__, detail=str(exc)
            )
        if not count:
            return decision
        if decision.error_type and decision.error_type not in BREAKER_NON_FAILURES:
            if self.breaker.record_failure(decision.error_type):
                self.control.enter_degrade(reason="breaker_open")
                self.control.record_incident(f"breaker opened: {decision.error_type}")
        elif decision.error_type is None:
            self.breaker.record_success()
        return decision

    def _limits(self) -> dict[str, Any]:
        limits: dict[str, Any] = {"guards": list(self.settings.components.guards)}
        for name in self.settings.components.guards:
            limits[name] = self.settings.component_sections.get("guard", {}).get(name, {})
        return limits

    def _admissible(self, decision: Decision, state: CycleState) -> list[Intent]:
        """Intents the graph may carry on: candidate symbols with a quote, scaled in degrade,
        fitted to the broker's order constraints."""
        out = []
        for intent in decision.intents:
            if intent.symbol not in state.candidates or intent.symbol not in state.quotes:
                self._drop(intent, "not_a_candidate")
                continue
            intent = _with(intent)  # the id is always the digest of the content (verify checks)
            if state.degraded and intent.sized:  # unsized: dropped by _constrain
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
        broker = self._route(intent.symbol)[0]
        try:
            constraints = broker_constraints(self.kernel.component("broker", broker), intent.symbol)
        except Exception as exc:  # a broken declaration must not let dust through
            logger.warning("broker {}: order_constraints failed: {}", self.broker_name, exc)
            constraints = DEFAULT_ORDER_CONSTRAINTS
        quote = state.quotes.get(intent.symbol)
        step = Decimal(str(self.policy.quantity_step))
        position = state.positions.get(intent.symbol)
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
        extra = {} if detail is None else {"detail": detail}
        self.kernel.emit(
            "strategist",
            "dropped_intent",
            severity="warning",
            intent_id=intent.id,
            symbol=intent.symbol,
            reason=reason,
            **extra,
        )

    def _node_guard(self, state: CycleState) -> None:
        guards = self.kernel.components("guard")
        self.ledger.roll(state.as_of, state.account, state.positions)
        committed = self._commitments() if state.intents else Commitments()
        for intent in state.intents:
            quote = state.quotes.get(intent.symbol)
            try:
                record = self.store.add_intent(
                    intent,
                    cycle_id=state.cycle_id,
                    broker=self._route(intent.symbol)[0],
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
            context = self._guard_context(state, intent, committed, record.broker)
            result = evaluate(guards, intent, context)
            verdicts = list(result.verdicts)
            if state.degraded and "allowlist" not in self.settings.components.guards:
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
                )
                if not v.allow:
                    state.denials[v.code] = state.denials.get(v.code, 0) + 1
            approval_mode = (
                "shadow" if self.mode == "shadow" else "manual" if state.degraded else None
            )
            record = self.approvals.submit(intent.id, verdicts, approval_mode=approval_mode)
            if record.state is not IntentState.BLOCKED:
                quantity = intent_quantity(intent, record.ref_price) or Decimal(0)
                committed.add(
                    intent.symbol, signed(intent, quantity), record.ref_price, state.as_of
                )
            bucket = {
                IntentState.BLOCKED: state.blocked,
                IntentState.PENDING_APPROVAL: state.pending,
                IntentState.APPROVED: state.approved,
            }.get(record.state)
            if bucket is not None:
                bucket.append(intent.id)

    def _commitments(self) -> Commitments:
        """Intents already on their way to the broker (see :class:`Commitments`)."""
        committed = Commitments()
        waiting = (IntentState.PENDING_APPROVAL, IntentState.APPROVED, IntentState.EXECUTING)
        for state in waiting:
            for r in self.store.list_intents(state=state):
                quantity = intent_quantity(r.intent, r.ref_price) or Decimal(0)
                committed.add(
                    r.intent.symbol, signed(r.intent, quantity), r.ref_price, r.intent.as_of
                )
        # Submitted and still working: already counted as orders by the trade ledger, and
        # only the unfilled rest is missing from the broker's positions.
        for r in self.store.list_intents(state=IntentState.SUBMITTED, open_orders=True):
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
        return GuardContext(
            as_of=state.as_of,
            quote=state.quotes.get(intent.symbol),
            positions=committed.positions(
                state.positions, intent.symbol, buying=intent.side is Side.BUY
            ),
            account=self._accounts.get(broker, (state.account,))[0]
            if self.router is not None
            else state.account,
            broker=broker,
            orders_today=self.ledger.orders_today + committed.orders_on(day),
            recent_order_times=(*self.ledger.order_times, *committed.times),
            last_trade_time=last,
            realized_pnl_today=realized,
            unrealized_pnl_today=unrealized,
            kill_switch=self.control.kill_switch,
            trading_state=self.control.trading_state,
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
                    result.outcome != "unknown", time.perf_counter() - started, "unknown_outcome"
                )
            if result.outcome == "submitted":
                self._fills_due.add(record.intent.id)
                state.submitted.append(record.intent.id)
                self.ledger.note_order(record.intent.symbol, state.as_of or self.clock())
            elif result.outcome == "failed":
                state.failed.append(record.intent.id)

    def _record_fills(self, broker: Any, record: Any, state: CycleState) -> None:
        cid = record.client_order_id
        for fill in broker.fills(cid):
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
        """Fills of orders recorded terminal before the monitor saw them fill (an open
        order's are read by the monitor loop): asked once, only when the store holds
        less than the order's filled quantity."""
        for intent_id in sorted(self._fills_due):
            record = self.store.get(intent_id)
            filled = record.filled_quantity or Decimal(0)
            if record.order_status not in OPEN_ORDER_STATES and filled > 0:
                recorded = sum(
                    (f.quantity for f in self.store.fills(record.client_order_id)), Decimal(0)
                )
                if recorded < filled:
                    broker = self._broker_of(record)
                    if broker is None:
                        continue  # its broker is unavailable this cycle: asked next cycle
                    self._record_fills(broker, record, state)
            self._fills_due.discard(intent_id)

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
                router.health[name].record(result.action != "still_unknown", what="lookup")

    def _broker_of(self, record: Any) -> Any | None:
        """The broker holding ``record``'s order (``None``: unavailable this cycle)."""
        if self.router is None:
            return self.kernel.component("broker")
        if not self.router.available.get(record.broker, record.broker not in self.router.health):
            return None
        return self.kernel.component("broker", self.executor_for(record.broker).broker_name)

    def _node_monitor(self, state: CycleState) -> None:
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
            health = self.router.health.get(record.broker) if self.router else None
            try:
                lookup = functools.partial(broker.get_order, cid)
                order = health.timed(lookup, "lookup") if health else lookup()
            except Exception:
                if health is None:
                    raise
                continue  # counted against the broker; asked again next cycle
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

    def _node_report(self, state: CycleState) -> None:
        if self.router is not None:
            state.account, state.positions = self.account_view()
        else:
            broker = self.kernel.component("broker")
            state.account = broker.account()
            state.positions = {p.symbol: p for p in broker.positions()}
        if self.kernel.wants_event("report", "cycle", "info"):
            self.kernel.emit("report", "cycle", **state.summary())

    def account_view(self) -> tuple[Any, dict[str, Any]]:
        """The account view across brokers (:func:`aggregate`); a broker unavailable or
        failing now counts with its last known account and positions."""
        router = self.router
        assert router is not None
        for name in router.names:
            if router.available.get(name) or name not in self._accounts:
                broker = self.kernel.component("broker", name)
                try:
                    self._accounts[name] = router.health[name].timed(
                        lambda b=broker: (b.account(), list(b.positions())), "account"
                    )
                except Exception:
                    if name not in self._accounts:
                        raise
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
