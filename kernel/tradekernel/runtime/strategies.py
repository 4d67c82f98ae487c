"""The strategize node: every strategist, then the portfolio pipeline.

Each configured strategist (``[components] strategists``, or the one ``strategist``) is
asked in turn, behind its own circuit breaker; its intents are stamped with its name.
With several strategists each has its own degrade state (control ``degrade:<name>``):
its breaker opening holds that strategy only, the others trade on. Then the cycle's
intents go through size (:mod:`..portfolio.sizing`) -> resolve conflicts
(:mod:`..portfolio.conflicts`) -> budgets (:mod:`..portfolio.budgets`); the guard node
takes what is left. See docs/portfolio.md and docs/runtime.md.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import attrs
from loguru import logger

from ..components import DEFAULT_ORDER_CONSTRAINTS
from ..constraints import broker_constraints
from ..models import Decision, GuardVerdict, Intent, digest
from ..portfolio.allocation import Allocation
from ..portfolio.budgets import BudgetContext, check_budgets
from ..portfolio.conflicts import Conflict, ConflictPolicy, resolve_conflicts
from ..portfolio.ledger import UNATTRIBUTED, StoreLedger
from ..portfolio.sizing import SizingContext, size_intents
from ..risk import evaluate
from ..serde import unstructure
from .control import BREAKER_NON_FAILURES, CircuitBreaker
from .routing import route_for
from .state import CycleState


def degrade_key(name: str) -> str:
    """The control key of strategist ``name``'s own degrade state (several strategists)."""
    return f"degrade:{name}"


def breaker_key(name: str) -> str:
    """The control key of strategist ``name``'s breaker (several strategists; one
    strategist keeps the key ``breaker``)."""
    return f"breaker:{name}"


class Strategies:
    """The strategize node of :class:`~.nodes.Nodes` (a mixin: it uses the node's
    kernel, control, breaker, store and helpers)."""

    _breakers: dict[str, CircuitBreaker]

    def strategist_names(self) -> list[str]:
        """The configured strategists, in order."""
        return self.kernel.selected("strategist")  # type: ignore[attr-defined]

    def breaker_for(self, name: str) -> CircuitBreaker:
        """Strategist ``name``'s circuit breaker (the runtime's own with one strategist)."""
        names = self.strategist_names()
        if len(names) < 2:
            return self.breaker  # type: ignore[attr-defined]
        breakers = self.__dict__.setdefault("_breakers", {})
        if name not in breakers:
            kernel = self.kernel  # type: ignore[attr-defined]

            def emit(stage: str, kind: str, **fields: Any) -> Any:
                return kernel.emit(stage, kind, strategist=name, **fields)

            breakers[name] = CircuitBreaker(
                self.control,  # type: ignore[attr-defined]
                emit=emit,
                key=breaker_key(name),
            )
        return breakers[name]

    def strategist_degraded(self, name: str, state: CycleState) -> bool:
        """Whether ``name``'s intents are handled as in degrade (global or its own)."""
        if state.degraded:
            return True
        if len(self.strategist_names()) < 2:
            return False
        return self.control.get(degrade_key(name), None) is not None  # type: ignore[attr-defined]

    def _node_strategize(self, state: CycleState, *, gated: bool = True) -> None:
        # gated=False (decide_once): no cooldown/breaker gate and no breaker accounting.
        names = self.strategist_names()
        if gated and len(names) == 1:
            self._carry_own_state(names[0])
        cooldown = bool(state.candidates) and gated and self.control.in_cooldown()  # type: ignore[attr-defined]
        if cooldown:
            self.kernel.emit(  # type: ignore[attr-defined]
                "commander",
                "route",
                node="strategize",
                action="cooldown_wait",
                until=self.control.store.get_control("cooldown_until"),  # type: ignore[attr-defined]
            )
        proposed: list[Intent] = []
        degraded: set[str] = set()
        for name in names:
            started = time.perf_counter()
            breaker = self.breaker_for(name)
            if not state.candidates:
                decision = Decision.hold("no_candidates")
            elif cooldown:
                decision = Decision.hold("cooldown")
            elif gated and not breaker.allow():
                decision = Decision.hold("breaker_open")
            else:
                decision = self._ask_strategist(name, state, count=gated)
            state.decisions[name] = decision
            is_degraded = self.strategist_degraded(name, state)
            intents = [i if i.strategist == name else _stamp(i, name) for i in decision.intents]
            admitted = self._admissible(  # type: ignore[attr-defined]
                Decision(intents=intents), state, degraded=is_degraded
            )
            if is_degraded:
                degraded.add(name)
            proposed.extend(admitted)
            self.kernel.emit(  # type: ignore[attr-defined]
                "strategist",
                "decision",
                severity="warning" if decision.error_type else "info",
                strategist=name,
                intents=len(admitted),
                hold_reason=decision.hold_reason,
                error_type=decision.error_type,
                detail=decision.detail,
                latency_ms=round((time.perf_counter() - started) * 1000, 3),
            )
        state.decision = _combined(state.decisions, names)
        state.intents = self._portfolio(proposed, state, degraded, record=gated)

    def _ask_strategist(self, name: str, state: CycleState, *, count: bool = True) -> Decision:
        from ..components import StrategyInput

        inputs = StrategyInput(
            cycle_id=state.cycle_id,
            as_of=state.as_of,
            candidates=list(state.candidates),
            skill_results=state.skill_results,
            quotes=state.quotes,
            bars=state.bars,
            positions=state.positions,
            account=state.account,
            limits=self._limits(),  # type: ignore[attr-defined]
            strategy=name,
            strategy_positions=self._own_positions(name),
        )
        try:
            decision = self.kernel.component("strategist", name).decide(inputs)  # type: ignore[attr-defined]
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
        breaker = self.breaker_for(name)
        control = self.control  # type: ignore[attr-defined]
        if decision.error_type and decision.error_type not in BREAKER_NON_FAILURES:
            if breaker.record_failure(decision.error_type):
                if len(self.strategist_names()) < 2:
                    control.enter_degrade(reason="breaker_open")
                    control.record_incident(f"breaker opened: {decision.error_type}")
                else:  # not an agent incident: its cooldown would hold every strategy
                    self._enter_own_degrade(name)
        elif decision.error_type is None:
            breaker.record_success()
        return decision

    def _own_positions(self, name: str) -> dict[str, Decimal] | None:
        """Strategy ``name``'s own positions (its sub-ledger) with several strategists, or
        with one while another strategy (one taken out of the configuration) still holds
        positions (looked up once per run: nothing trades them); ``None`` otherwise: its
        position is the account's, and the ledger is not read."""
        if len(self.strategist_names()) < 2:
            orphans = self.__dict__.get("_orphans")
            if orphans is None:
                books = self._allocation()[1].current().books
                orphans = self.__dict__["_orphans"] = any(
                    book.positions()
                    for other, book in books.items()
                    if other not in (name, UNATTRIBUTED)
                )
            if not orphans:
                return None
        book = self._allocation()[1].current().books.get(name)
        return book.positions() if book is not None else {}

    def _strategy_positions(self) -> dict[str, dict[str, Decimal]] | None:
        """Each strategy's own positions when they are not the account's (sizing)."""
        own = {n: p for n in self.strategist_names() if (p := self._own_positions(n)) is not None}
        return own or None

    def _carry_own_state(self, name: str) -> None:
        """Back to one strategist: ``name``'s own breaker (``breaker:<name>``) and degrade
        (``degrade:<name>``), kept while several were configured, become the agent's
        (``breaker`` when it is not open already, and the agent's degrade), never dropped."""
        control = self.control  # type: ignore[attr-defined]
        own = control.get(breaker_key(name), None)
        if own is not None:
            if own.get("state", "closed") != "closed" and self.breaker.state == "closed":  # type: ignore[attr-defined]
                control.set("breaker", own, actor="runtime", reason=f"carried from {name}")
            control.set(breaker_key(name), None, actor="runtime", reason="one strategist")
        degrade = control.get(degrade_key(name), None)
        if degrade is not None:
            control.enter_degrade(reason=f"{name}: {degrade.get('reason', 'degraded')}")
            control.set(degrade_key(name), None, actor="runtime", reason="one strategist")

    def _enter_own_degrade(self, name: str) -> None:
        """Strategist ``name`` (one of several) enters its own degrade state."""
        control = self.control  # type: ignore[attr-defined]
        if control.get(degrade_key(name), None) is not None:
            return
        since = control.clock().isoformat()
        control.set(
            degrade_key(name),
            {"since": since, "reason": "breaker_open"},
            actor="runtime",
            reason="breaker_open",
        )
        self.kernel.emit(  # type: ignore[attr-defined]
            "resilience",
            "degrade_entered",
            severity="warning",
            reason="breaker_open",
            strategist=name,
        )

    # -- size -> resolve conflicts -> budgets -------------------------------------------

    def _portfolio(
        self, intents: list[Intent], state: CycleState, degraded: set[str], *, record: bool
    ) -> list[Intent]:
        """The cycle's intents through sizing, conflict resolution and budgets
        (``record=False``, a smoke: conflicts are emitted, not stored)."""
        if not intents:
            if self.settings.portfolio.budgets and record:  # type: ignore[attr-defined]
                self._budget_context(state, record=record)  # drawdown peaks move every cycle
            return []
        budget_ctx = self._budget_context(state, record=record)  # sizing reads the budgets
        sized, _denials = size_intents(  # each denial is a portfolio.size_dropped event
            intents,
            SizingContext.for_kernel(
                self.kernel,  # type: ignore[attr-defined]
                quotes=state.quotes,
                bars=state.bars,
                positions=state.positions,
                strategy_positions=self._strategy_positions(),
                account=state.account,
                budgets={n: limit.capital for n, limit in budget_ctx.limits.items()},
                constraints=self._symbol_constraints,
                as_of=state.as_of,
            ),
        )
        sized = self._after_sizing(sized, {i.id for i in intents}, state, degraded)
        policy = self.conflict_policy()
        denied: dict[str, list[tuple[Intent, str]]] = {}
        if policy.kind == "net":
            # each strategy's own intent against its budget before netting: a denied
            # input leaves the net (with its code) and the rest net without it, under
            # the id their own inputs derive (never the whole net dropped for one)
            passed, denials = check_budgets(sized, budget_ctx)
            for d in denials:
                denied.setdefault(d.intent.symbol, []).append((d.intent, d.code))
            pool, alone = self._set_aside(passed, state, degraded)
        else:
            pool, alone = sized, []
        resolution = resolve_conflicts(pool, policy)
        for intent, code in resolution.dropped:
            self._drop(intent, code)  # type: ignore[attr-defined]
        going = [*resolution.intents, *alone]
        for conflict in resolution.conflicts:
            if conflict.netted is not None:  # the sum fitted to the broker's constraints too
                fitted = self._constrain(conflict.netted, state)  # type: ignore[attr-defined]
                where = going.index(conflict.netted)
                if fitted is None:
                    del going[where]
                    note = "the net amount does not fit the broker's order constraints"
                    conflict = attrs.evolve(conflict, netted=None, kept=(), note=note)
                else:
                    going[where] = fitted
                    conflict = attrs.evolve(conflict, netted=fitted, kept=(fitted,))
                    state.net_inputs[fitted.id] = conflict.inputs
            if out := denied.get(conflict.symbol):  # the journal keeps every original
                conflict = attrs.evolve(
                    conflict,
                    inputs=(*conflict.inputs, *(i for i, _ in out)),
                    dropped=(*conflict.dropped, *out),
                )
            self._record_conflict(conflict, state, record=record)
        # under net the inputs were judged already; the others are judged as they go on
        checked = going if policy.kind == "net" else check_budgets(going, budget_ctx)[0]
        for intent in checked:
            owners = {i.strategist for i in state.net_inputs.get(intent.id, (intent,))}
            if owners & degraded:
                state.degraded_intents.add(intent.id)
        return checked

    def _after_sizing(
        self, sized: list[Intent], given: set[str], state: CycleState, degraded: set[str]
    ) -> list[Intent]:
        """Intents the sizing step sized (new ids), scaled when their strategy is in
        degrade and fitted to the constraints of the broker they go to, as a strategist's
        sized intent is before the step."""
        out = []
        for intent in sized:
            if intent.id not in given:
                if intent.strategist in degraded:
                    intent = self._scale(intent)  # type: ignore[attr-defined]
                if intent is not None:
                    intent = self._constrain(intent, state)  # type: ignore[attr-defined]
            if intent is not None:
                out.append(intent)
        return out

    def _symbol_constraints(self, symbol: str) -> Any:
        """The order constraints of the broker ``symbol`` is routed to (sizing)."""
        route = route_for(symbol, self.settings.routing) if self.router else None  # type: ignore[attr-defined]
        name = route.broker if route else self.broker_name  # type: ignore[attr-defined]
        try:
            return broker_constraints(self.kernel.component("broker", name), symbol)  # type: ignore[attr-defined]
        except Exception as exc:  # a broken declaration must not let dust through
            logger.warning("broker {}: order_constraints failed: {}", name, exc)
            return DEFAULT_ORDER_CONSTRAINTS

    def _budget_context(self, state: CycleState, *, record: bool = True) -> BudgetContext:
        """The budget step's context this cycle: the allocation (budgets, drawdown
        states) over the store's per-strategy ledger; without budgets and with every
        strategy active, only the prices (nothing to judge, no ledger to read). A smoke
        (``record=False``) writes nothing: the configured budgets, the states as stored."""
        allocation, ledger = self._allocation()
        names = self.strategist_names()
        prices = _prices(state)
        states = allocation.states.states(names) if allocation.states is not None else {}
        if not self.settings.portfolio.budgets and set(states.values()) <= {"active"}:  # type: ignore[attr-defined]
            return BudgetContext(prices=prices, states=states)
        kernel = self.kernel  # type: ignore[attr-defined]
        equity = state.account.equity if state.account is not None else Decimal(0)
        if not record:
            allocation = Allocation(allocation.allocator, allocation.portfolio)
        ctx = allocation.context(ledger.current(), prices, equity, emit=kernel.emit)
        # an operator may stop any strategy, budgeted or not
        return attrs.evolve(ctx, states={**states, **ctx.states})

    def _allocation(self) -> tuple[Allocation, StoreLedger]:
        """The run's allocation (the selected allocator, ``[portfolio]``, the control)
        and the store's per-strategy ledger, made once."""
        made = self.__dict__.get("_portfolio_books")
        if made is None:
            kernel = self.kernel  # type: ignore[attr-defined]
            allocation = Allocation(
                kernel.component("allocator"),
                self.settings.portfolio,  # type: ignore[attr-defined]
                control=self.control,  # type: ignore[attr-defined]
                emit=kernel.emit,
            )
            made = self.__dict__["_portfolio_books"] = (allocation, StoreLedger(self.store))  # type: ignore[attr-defined]
        return made

    def own_degrade_context(self, state: CycleState, intent: Intent, context: Any) -> Any:
        """``context`` for guarding ``intent``: with ``degrade_reducing``, an intent of a
        strategy in its own degrade is guarded as in the ``reducing`` trading state (only
        position-reducing intents pass), as the agent's degrade would."""
        control = self.control  # type: ignore[attr-defined]
        if (
            intent.id in state.degraded_intents
            and control.policy.degrade_reducing
            and context.trading_state == "active"
        ):
            return attrs.evolve(context, trading_state="reducing")
        return context

    def input_denials(
        self, state: CycleState, intent: Intent, guards: Sequence[Any], context: Any
    ) -> list[GuardVerdict]:
        """A netted intent goes on only when each of its inputs would on its own: every
        guard's denial of an input, named after it (its strategy's gross trade must not
        pass the guards because another strategy's crossed it)."""
        out: list[GuardVerdict] = []
        for each in state.net_inputs.get(intent.id, ()):
            for verdict in evaluate(guards, each, context).verdicts:
                if not verdict.allow:
                    detail = f"input {each.id} of {each.strategist}: {verdict.detail}"
                    out.append(GuardVerdict.denied(verdict.guard, verdict.code, detail))
        return out

    def conflict_policy(self) -> ConflictPolicy:
        """``[portfolio] conflict`` with the strategies' rank: ``priority`` first, then
        the other strategists in configured order."""
        portfolio = self.settings.portfolio  # type: ignore[attr-defined]
        names = self.strategist_names()
        order = [*portfolio.priority, *(n for n in names if n not in portfolio.priority)]
        return ConflictPolicy(kind=portfolio.conflict, order=tuple(order))

    def _set_aside(
        self, intents: list[Intent], state: CycleState, degraded: set[str]
    ) -> tuple[list[Intent], list[Intent]]:
        """``(may net, go on alone)``. An input is part of at most one order: one already
        a share of a netted intent is dropped (``already_netted``) unless this cycle
        brings exactly that net's inputs again (the same net, hence the same id); one
        stored as an intent of its own (proposed alone before) and one of a strategy in
        its own degrade go on alone, never inside a net."""
        if len(self.strategist_names()) < 2:
            return intents, []
        store = self.store  # type: ignore[attr-defined]
        netted, stored = store.input_history([i.id for i in intents])
        pool: list[Intent] = []
        alone: list[Intent] = []
        for intent in intents:
            net_id = netted.get(intent.id)
            if net_id is not None:
                sources = {s.intent_id for s in store.shares(net_id)}
                here = {i.id for i in intents if i.symbol == intent.symbol}
                if sources == here:
                    pool.append(intent)
                else:
                    self._drop(intent, "already_netted", f"a share of {net_id}")  # type: ignore[attr-defined]
            elif intent.id in stored or (intent.strategist in degraded and not state.degraded):
                alone.append(intent)
            else:
                pool.append(intent)
        return pool, alone

    def _record_conflict(self, conflict: Conflict, state: CycleState, *, record: bool) -> None:
        """One ``portfolio.conflict`` event and, unless ``record`` is false (a smoke), one
        journal row (each strategy's original intent, the policy and the result; the
        netted intent's shares in the store)."""
        netted = conflict.netted
        result = (
            "netted"
            if netted is not None
            else "netted_out"
            if conflict.policy == "net" and not conflict.kept
            else "vetoed"
            if conflict.policy == "veto" and not conflict.kept
            else "kept"
        )
        shares = [
            {"strategist": s.strategist, "intent_id": s.intent_id, "amount": str(s.amount)}
            for s in conflict.shares
        ]
        inputs = [i.id for i in conflict.inputs]
        conflict_id = (
            "cfl_"
            + digest(
                {"cycle_as_of": str(state.as_of), "symbol": conflict.symbol, "inputs": inputs}
            )[:24]
        )
        if record:
            self.store.record_conflict(  # type: ignore[attr-defined]
                conflict_id,
                cycle_id=state.cycle_id,
                payload={
                    "symbol": conflict.symbol,
                    "policy": conflict.policy,
                    "result": result,
                    "inputs": [unstructure(i) for i in conflict.inputs],
                    "kept": [i.id for i in conflict.kept],
                    "dropped": [{"intent_id": i.id, "code": c} for i, c in conflict.dropped],
                    "netted": unstructure(netted) if netted is not None else None,
                    "shares": shares,
                    "note": conflict.note,
                },
                shares=conflict.shares if netted is not None else (),
                netted_id=netted.id if netted is not None else None,
            )
        self.kernel.emit(  # type: ignore[attr-defined]
            "portfolio",
            "conflict",
            symbol=conflict.symbol,
            policy=conflict.policy,
            result=result,
            inputs=[
                {
                    "intent_id": i.id,
                    "strategist": i.strategist,
                    "side": str(i.side),
                    "quantity": None if i.quantity is None else str(i.quantity),
                    "notional": None if i.notional is None else str(i.notional),
                }
                for i in conflict.inputs
            ],
            kept=[i.id for i in conflict.kept],
            dropped=[{"intent_id": i.id, "code": c} for i, c in conflict.dropped],
            netted_intent_id=netted.id if netted is not None else None,
            client_order_id=netted.client_order_id if netted is not None else None,
            shares=shares,
            note=conflict.note or None,
        )


def _prices(state: CycleState) -> dict[str, Decimal]:
    """The cycle's price per symbol: its quote's last, else its last bar's close."""
    prices = {symbol: bars[-1].close for symbol, bars in state.bars.items() if bars}
    prices.update({symbol: quote.last for symbol, quote in state.quotes.items()})
    return prices


def _stamp(intent: Intent, name: str) -> Intent:
    """``intent`` carrying strategy ``name`` (an instance of a strategist that names
    itself by its component), under the id its content now derives."""
    from .nodes import _with

    return _with(intent, strategist=name)


def _combined(decisions: dict[str, Decision], names: list[str]) -> Decision:
    """The cycle's decision for its summary: the one strategist's, or, with several,
    every intent, holding only when all hold (their reasons joined)."""
    if len(names) == 1:
        return decisions[names[0]]
    intents = [i for n in names for i in decisions[n].intents]
    if intents:
        return Decision(intents=intents)
    reasons = sorted({decisions[n].hold_reason or "hold" for n in names})
    return Decision.hold(",".join(reasons))
