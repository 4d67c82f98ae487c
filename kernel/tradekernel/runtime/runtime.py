"""The runtime: one canonical graph of nodes, walked by the commander, once per cycle.

Nodes reach plugins only through the kernel's registry (``kernel.component``). Every
routing decision is a ``commander`` event; every node's work is recorded in the store
or as events before the next node starts, so stopping between nodes leaves nothing
half-written.
"""

from __future__ import annotations

import concurrent.futures as cf
from collections.abc import Callable
from datetime import datetime
from typing import Any

from loguru import logger

from ..approval import ApprovalService
from ..errors import ConfigError, RefusedError, TradekernelError
from ..events import new_id, scope
from ..execution import RECENT_SENT, Executor
from ..kernel import Kernel
from ..models import CLIENT_ORDER_ID_PREFIX, Decision, utcnow
from ..request_budget import RequestBudgetExhausted
from ..store import IntentState, StateLost, Store, open_store
from ..store.anchor import restore_hint
from ..store.db import DB_FILENAME
from ..store.select import DEFAULT_STORE
from .control import CircuitBreaker, Control
from .graph import Cycle, GraphSpec, NodeSpec, error_text
from .heal import ACTOR as HEAL_ACTOR
from .heal import Healer
from .ledger import TradeLedger
from .mode import ResolvedMode, resolve_mode
from .nodes import OPEN_ORDER_STATES, Nodes
from .plan import kernel_graph
from .routing import Router, aggregate
from .stage import RELEASE_KEY, check_stages, current_digest, release_id
from .state import CycleState

#: How many of the broker's newest client order ids each start checks against the store
#: (bounded: one indexed query; an older order the store lost goes unnoticed here).
KNOWN_ORDERS_CHECKED = 500

SAFETY = ("shadow", "paper", "live")
"""Modes from the safest to the riskiest."""


class ReleaseChanged(RefusedError):
    """The active release is not the one this runtime was built for: the caller rebuilds
    the kernel from the release's settings (``run`` does, at a cycle boundary)."""

    def __init__(self, release: str | None) -> None:
        super().__init__(f"release {release} is active; the agent must load it")
        self.release = release


class Runtime(Nodes):
    """Runs trading cycles for one kernel. Use as a context manager or call :meth:`close`."""

    def __init__(
        self,
        kernel: Kernel,
        *,
        mode: str | None = None,
        store: Store | None = None,
        clock: Callable[[], datetime] = utcnow,
        anchor_each_cycle: bool = True,
        follow_release: bool = False,
        release: str | None = None,
        fence: Callable[[], None] | None = None,
    ) -> None:
        """``anchor_each_cycle=False`` leaves the journal anchor to the store's close (a
        backtest's throwaway state: an fsync per trading bar buys nothing there).

        ``follow_release``: the kernel runs the settings of ``release`` (``None``: the
        configuration file's); when another release is active, :class:`ReleaseChanged`
        is raised here, and a cycle that finds one activated ends at its start
        (:attr:`release_changed`) and stops the run.

        ``fence``: the agent's lease (:func:`tradekernel.lease.hold`), checked at every
        cycle's start and before every claim and order; once lost, the run stops
        (:attr:`lease_lost`) before its next order."""
        self.kernel = kernel
        self.fence = fence
        self.lease_lost = None
        self.settings = kernel.settings
        self.policy = self.settings.runtime
        self.clock = clock
        self.anchor_each_cycle = anchor_each_cycle
        self.run_id = new_id("run")
        self._own_store = store is None
        self._created_store = (
            store is None
            and self.settings.components.store == DEFAULT_STORE
            and not (self.settings.state_dir / DB_FILENAME).exists()
        )
        self.store = store or open_store(
            self.settings,
            registry=kernel.registry,
            on_transition=kernel.dispatch_transition,
            redact=self.settings.redact,
        )
        emit = kernel.emit
        self.control = Control(self.store, self.policy, emit=emit, clock=clock)
        self.breaker = CircuitBreaker(self.control, emit=emit)
        self.healer = Healer(
            self.settings.heal,
            self.control,
            mode=lambda: self.mode,
            emit=emit,
            reconcile=self._heal_reconcile,
        )
        self.follow_release = follow_release
        self.release_changed: str | None = None
        try:
            self.control.refresh()  # the persisted mode, checked against its journal row
            self.release = release_id(self.control.get(RELEASE_KEY))
            if follow_release and self.release != release:
                raise ReleaseChanged(self.release)
            self.resolved: ResolvedMode = resolve_mode(
                self.settings, cli_mode=mode, persisted=self.control.mode
            )
            # a strategist may not run in a mode above its promotion stage (earned with
            # this very configuration)
            self._digests = self._config_digests()
            check_stages(self.store, self._digests, self.resolved.mode, self.release)
        except (ConfigError, RefusedError):
            if self._own_store:
                self.store.close()
            raise
        self.approvals = ApprovalService(
            self.store,
            self.settings,
            emit=emit,
            clock=clock,
            broker=self._broker_named,
            mode=self.resolved.mode,
        )
        self.ledger = TradeLedger()
        self._executors: dict[str, Executor] = {}
        self.router = None
        if self.settings.components.brokers:
            self.router = Router(
                kernel.selected("broker"),
                self.settings.routing,
                self.broker_name,
                self.control,
                broker=lambda name: kernel.component("broker", name),
                emit=emit,
            )
        self._held: set[str] = set()
        self._accounts: dict[str, Any] = {}
        self._unknown_orders: set[str] = set()
        self._fills_due: dict[str, int] = {}
        self._none_since: dict[str, tuple[int, int]] = {}
        self._skill_specs: dict[str, Any] = {}
        self._stage_checked: tuple[Any, ...] | None = None
        self._pool = cf.ThreadPoolExecutor(max_workers=8, thread_name_prefix="skill")
        self.stop_requested = False
        self._trace = self.policy.trace == "full"
        self._graph: GraphSpec | None = None
        self.cycles = 0
        self.exhausted = False
        self.feed_failure: Exception | None = None

    def _broker_named(self, name: str) -> Any:
        """Broker ``name`` (the default broker for a name this agent does not route to)."""
        known = name in self.kernel.selected("broker")
        return self.kernel.component("broker", name if known else self.broker_name)

    # -- lifecycle ---------------------------------------------------------------------

    @property
    def mode(self) -> str:
        return self.resolved.mode

    def raise_feed_failure(self) -> None:
        """Raise the error that ended the market data feed, if any: as given when it is
        the user's to fix (a :class:`ConfigError` such as a bad replay row: exit 2), else
        as a failure naming it (exit 1)."""
        exc = self.feed_failure
        if exc is None:
            return
        if isinstance(exc, TradekernelError):
            raise exc
        raise TradekernelError(f"market data failed: {type(exc).__name__}: {exc}") from exc

    def start(self) -> list[Any]:
        """Reconcile intents stuck in executing and expire stale approvals (run at start)."""
        with scope(run_id=self.run_id):
            # Build the strategist now: a configuration error (e.g. the LLM provider's API
            # key variable is unset) must stop the run here, not become a hold every cycle
            # that opens the breaker.
            for name in self.kernel.selected("strategist"):
                self.kernel.component("strategist", name)
            # the other components too: a bad [guard.x] section is exit 2 now, not a
            # node failure every cycle
            self.kernel.component("scanner")
            self.kernel.components("guard")
            self.kernel.components("skill")
            graph = self.graph()  # a plugin node at no insertion point: exit 2 now
            runtime = self.kernel.component("runtime")
            prepare = getattr(runtime, "prepare", None)
            if callable(prepare):  # a graph the runtime refuses: exit 2 now, not mid-run
                prepare(graph.for_mode(self.mode), self.policy, durable=self.anchor_each_cycle)
            for name in self.kernel.selected("broker"):
                self._check_broker_mode(name)
            if self.mode == "live":
                self._live_start_checks()
            self._refuse_stranded_intents()
            if self.router is not None:
                self.kernel.refuse_shared_accounts()
            self.kernel.emit(
                "commander",
                "mode",
                mode=self.mode,
                mode_source=self.resolved.source,
                broker=self.broker_name,
                strategist=self.settings.components.strategist,
            )
            if self.router is None:
                self._refuse_unknown_broker_orders(self.broker_name)
            else:  # a disabled broker is not asked; one that does not answer waits
                self.router.begin_cycle()
                for name in self.router.names:
                    if self.router.available[name]:
                        self._start_broker(name)
                    else:
                        self.router.unchecked.add(name)
            self._cancel_leftover_proposals()
            results = []
            if self.mode != "shadow":
                for name in self.kernel.selected("broker"):
                    # a disabled, unhealthy or unchecked broker's intents wait for it
                    if self.router is None or self.router.available[name]:
                        results += self.executor_for(name).reconcile()
            # orders found done by a reconcile (this one or `intents reconcile`) or answered
            # filled: their fills are collected by the first monitor
            for r in self.store.latest_intents("submitted", RECENT_SENT):
                if r.order_status not in OPEN_ORDER_STATES and r.filled_quantity:
                    self._fills_due.setdefault(r.id, 0)
            self.approvals.expire_due()
            # Executing intents count through the guards' commitments, not here.
            sent = [
                (r.intent.symbol, r.intent.as_of)
                for r in self.store.list_intents(state=IntentState.SUBMITTED)
                if r.intent.as_of is not None
            ]
            self.ledger.seed(sent)
            self.store.write_anchor()
        return results

    def _live_start_checks(self) -> None:
        """Refuse (:class:`RefusedError`, exit 3) a live start that a plugin's
        ``live_start_checks`` finds a problem with, or that no plugin checks at all."""
        hook = self.kernel.registry.pm.hook.live_start_checks
        if not hook.get_hookimpls():
            raise RefusedError(
                "live start refused: no readiness gate is installed; install "
                "tradekernel-deploy and run `tradekernel readiness --for live`"
            )
        problems = [
            p
            for found in hook(kernel=self.kernel, store=self.store, mode=self.mode)
            for p in (found or ())
        ]
        if problems:
            raise RefusedError("live start refused: " + "; ".join(problems))

    def _refuse_stranded_intents(self) -> None:
        """Refuse to start (:class:`ConfigError`, exit 2) when a broker no longer
        configured holds intents not done with it: approved or waiting for approval,
        claimed (``executing``), or sent with the order still open. Nothing could look
        them up, send or watch them; an open order would look unknown to the default
        broker (a false conflict and a halt)."""
        names = set(self.kernel.selected("broker"))
        stranded: dict[str, list[str]] = {}
        for state in (IntentState.PENDING_APPROVAL, IntentState.APPROVED, IntentState.EXECUTING):
            for r in self.store.list_intents(state=state):
                if r.broker and r.broker not in names:
                    stranded.setdefault(r.broker, []).append(f"{r.id} ({state.value})")
        for r in self.store.list_intents(state=IntentState.SUBMITTED, open_orders=True):
            if r.broker and r.broker not in names:
                stranded.setdefault(r.broker, []).append(f"{r.id} (order open)")
        if not stranded:
            return
        name, held = sorted(stranded.items())[0]
        shown = ", ".join(held[:3]) + (f" and {len(held) - 3} more" if len(held) > 3 else "")
        key = "brokers" if self.settings.components.brokers else "broker"
        raise ConfigError(
            f"{self.settings.where('components', key)}: broker {name} is no longer "
            f"configured but holds intents not done with it: {shown}; configure it again "
            f"until they are resolved (`tradekernel intents list --broker {name}`), nothing "
            "was sent"
        )

    def _start_broker(self, name: str) -> bool:
        """A broker's start checks (several brokers): orders the store does not know
        (:meth:`_refuse_unknown_broker_orders`), its account and positions, and its
        account currency against the others'. Their refusals stop the agent; a broker
        that does not answer is left *unchecked* (unavailable, its intents held, checked
        again each cycle: :meth:`_check_deferred`) unless it is the only one. Returns
        whether it answered."""
        router = self.router
        assert router is not None
        broker = self.kernel.component("broker", name)
        try:
            self._refuse_unknown_broker_orders(name)
            self._accounts[name] = (broker.account(), list(broker.positions()))
        except TradekernelError:
            raise
        except Exception as exc:
            if len(router.names) == 1:
                raise
            router.unchecked.add(name)
            router.available[name] = False
            router.health[name].record(False, what=f"start: {type(exc).__name__}")
            self.kernel.emit(
                "routing",
                "unhealthy",
                severity="error",
                broker=name,
                reason=f"start checks deferred: {type(exc).__name__}: {exc}",
            )
            return False
        accounts = {n: a for n, (a, _) in self._accounts.items()}
        aggregate(accounts, {}, self.settings.routing, self.broker_name)  # currencies
        router.unchecked.discard(name)
        return True

    def _check_deferred(self) -> None:
        """Run the start checks of brokers that did not answer at start, now that they
        may (not disabled, not unhealthy); one that passes is reconciled and takes its
        part from this cycle on. A check refused by the broker's own request budget leaves
        it unchecked, its health untouched, for the next cycle."""
        router = self.router
        assert router is not None
        for name in sorted(router.unchecked):
            health = router.health[name]
            if health.disabled is not None or health.state != "closed":
                continue
            try:
                if not self._start_broker(name):
                    continue
                if self.mode != "shadow":
                    self.executor_for(name).reconcile()
            except RequestBudgetExhausted as exc:  # our own budget: unchecked, next cycle
                router.unchecked.add(name)
                self.budget_skipped("start", exc)
                continue
            except TradekernelError:
                raise
            except Exception as exc:  # gone again: unavailable, checked on its next answer
                router.unchecked.add(name)
                health.record(False, what=f"start: {type(exc).__name__}")
                continue
            router.available[name] = True

    def _check_broker_mode(self, name: str) -> None:
        """Refuse a paper-only broker in live mode and a real-money one in paper mode."""
        live_broker = getattr(self.kernel.component("broker", name), "live_capable", False)
        key = "brokers" if self.settings.components.brokers else "broker"
        if self.mode == "live" and not live_broker:
            raise ConfigError(
                f'mode "live" needs a live-capable broker; [components] {key} = '
                f'"{name}" is not (it simulates fills)'
            )
        if self.mode == "paper" and live_broker:
            raise ConfigError(
                f'[components] {key} = "{name}" trades real money: use mode '
                '"shadow" to watch it, or "live" with [kernel] live_acknowledged = true'
            )

    def _refuse_unknown_broker_orders(self, name: str) -> None:
        """A broker that knows orders with this kernel's client order ids the store never
        recorded means the state was lost (together with its anchor) or replaced by an
        older copy: refuse to adopt it (:class:`StateLost`, exit 2). Checked at every
        start against the broker's newest :data:`KNOWN_ORDERS_CHECKED` ids, asked only of
        brokers offering the optional ``known_client_order_ids`` (see
        :class:`components.Broker`). A store this start created is removed again."""
        broker = self.kernel.component("broker", name)
        known = getattr(broker, "known_client_order_ids", None)
        if not callable(known):
            return
        unknown = self.store.unknown_client_order_ids(
            list(known(CLIENT_ORDER_ID_PREFIX, KNOWN_ORDERS_CHECKED))
        )
        if not unknown:
            return
        what = "is empty" if self.store.journal_head()[0] == 0 else "is older than the account"
        if self._created_store and self.store.journal_head()[0] == 0:
            self.store.discard()
        shown = ", ".join(unknown[:3]) + (
            f" and {len(unknown) - 3} more" if len(unknown) > 3 else ""
        )
        raise StateLost(
            f"{self.store.path}: broker {name} holds orders this kernel sent "
            f"that the state store does not know ({shown}); the store {what}: the state "
            f"was lost or replaced by an older copy, and will not be adopted; "
            f"{restore_hint(self.store.state_dir)}; or use a fresh broker account (paper: "
            "a new [broker.paper] db); nothing was sent"
        )

    def _cancel_leftover_proposals(self) -> int:
        """Cancel every intent still ``proposed``: only a cycle in progress holds one, and
        this agent (holding the state's run lock) has none yet, so these were left by a
        run that crashed between proposing and guarding. Counted in ``commander.recovered``."""
        reason = "abandoned_proposal: left proposed by an interrupted run"
        cancelled = 0
        for record in self.store.list_intents(state=IntentState.PROPOSED):
            try:
                self.approvals.cancel(record.intent.id, actor="commander", reason=reason)
                cancelled += 1
            except RefusedError:  # moved on meanwhile: nothing left to recover
                pass
        if cancelled:
            self.kernel.emit(
                "commander", "recovered", severity="warning", cancelled=cancelled, reason=reason
            )
        return cancelled

    def hydrate_once(self) -> CycleState:
        """Run the hydrate node alone (``skills smoke``), on the agent's current bar."""
        self._hold_clock()
        state = CycleState(
            cycle_id=new_id("smoke"), mode=self.mode, mode_source=self.resolved.source
        )
        with scope(run_id=self.run_id, cycle_id=state.cycle_id):
            self._node_hydrate(state)
        return state

    def decide_once(self) -> CycleState:
        """Hydrate, scan and ask the strategist once (``strategist smoke``).

        Nothing is guarded, approved, executed or recorded in the store. The strategist is
        asked even when the breaker is open or a cooldown runs, and its answer does not
        count for the breaker: this is a diagnostic, not a trading cycle. Build the
        strategist first (``kernel.component("strategist")``) to see configuration errors
        as exceptions rather than as a ``strategist_error`` hold."""
        self._hold_clock()
        state = CycleState(
            cycle_id=new_id("smoke"), mode=self.mode, mode_source=self.resolved.source
        )
        state.degraded = self.control.degrade is not None
        with scope(run_id=self.run_id, cycle_id=state.cycle_id):
            self._node_hydrate(state)
            self.raise_feed_failure()
            if state.stop_reason:
                state.decision = Decision.hold("market_data_exhausted")
                return state
            self._node_scan(state)
            self._node_strategize(state, gated=False)
        return state

    def _hold_clock(self) -> None:
        """A diagnostic run must not move the agent's market clock (nor, through it, make
        the paper broker fill): feeds that remember their clock offer ``hold_clock``."""
        hold = getattr(self.kernel.component("market_data"), "hold_clock", None)
        if callable(hold):
            hold()

    def request_stop(self) -> None:
        """Finish the current node, then end the cycle and stop (signal handlers call this)."""
        self.stop_requested = True

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        if self._own_store:
            self.store.close()

    def __enter__(self) -> Runtime:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the commander -----------------------------------------------------------------

    def graph(self) -> GraphSpec:
        """The cycle graph this agent walks: the kernel's, with the selected plugin nodes
        (``[components] nodes``) inserted in order, each before its insertion point."""
        if self._graph is None:
            self._graph = kernel_graph(self.kernel)
        return self._graph

    def run_cycle(self) -> CycleState:
        """Run one cycle through the graph and return its state."""
        self.cycles += 1
        state = CycleState(cycle_id=new_id("cyc"), mode=self.mode, mode_source=self.resolved.source)
        emit = self.kernel.emit
        with scope(run_id=self.run_id, cycle_id=state.cycle_id):
            emit("commander", "mode", mode=self.mode, mode_source=self.resolved.source)
            if not self._lease_held():
                return self._end(state, "end", "lease lost")
            self.control.refresh()
            if self.follow_release:
                active = release_id(self.control.get(RELEASE_KEY))
                if active != self.release:  # applied between cycles, never within one
                    self.release_changed = active
                    self.request_stop()
                    return self._end(state, "end", f"release {active} activated")
            if self.router is not None:
                self.router.begin_cycle()
                if self.router.unchecked:
                    self._check_deferred()
            self._follow_operator_mode()
            self._follow_stage()
            if self.control.paused:
                return self._end(state, "pause", "paused by operator")
            state.degraded = self.control.degrade is not None
            cycle = Cycle(self, self.graph().for_mode(self.mode), state)
            incidents = self.control.incidents_recorded
            self.kernel.component("runtime").run(cycle)
            if self.mode != "shadow" and self.lease_lost is None:
                calm = incidents == self.control.incidents_recorded
                names = self.strategist_names()
                own = (
                    {  # each one's own degrade (several strategists)
                        n: calm
                        and self.breaker_for(n).state == "closed"
                        and not getattr(state.decisions.get(n), "error_type", None)
                        for n in names
                    }
                    if len(names) > 1
                    else None
                )
                self.healer.after_cycle(
                    # every strategist's breaker closed: one held open answers a plain
                    # hold (no error_type), which is not health
                    healthy=calm
                    and self.breaker.state == "closed"
                    and (own is None or all(own.values()))
                    and not any(d.error_type for d in state.decisions.values()),
                    executing=lambda: self._listed(
                        "executing",
                        lambda: self.store.list_intents(state=IntentState.EXECUTING),
                    ),
                    strategists=own,
                )
            return state

    def _heal_reconcile(self, records: list[Any]) -> list[Any]:
        """Resolve intents left ``executing`` (``records``; ``[]``: all) on the broker
        each was claimed on, when it is available, with actor ``auto``."""
        results: list[Any] = []
        for name in self.kernel.selected("broker"):
            if self.router is not None and not self.router.available.get(name):
                continue
            mine = [r for r in records if r.broker == name] if records else None
            if mine == []:
                continue
            results += self.executor_for(name).resolve_pending(actor=HEAL_ACTOR, records=mine)
        return results

    def _follow_operator_mode(self) -> None:
        """Apply an operator's persisted mode change while running, when it is safer
        (live → paper → shadow), even over a --mode flag; a riskier one waits for a
        restart, where the full checks (acknowledgement, promotion stage, broker) run."""
        wanted = self.control.mode
        if not wanted or wanted == self.mode:
            return
        if SAFETY.index(wanted) < SAFETY.index(self.mode):
            self.resolved = ResolvedMode(wanted, "operator")
            self._executors.clear()  # its preflight checks the mode
            self.kernel.emit("commander", "mode", mode=wanted, mode_source="operator")
        else:
            logger.warning("persisted mode {} applies at the next start", wanted)

    def _config_digests(self) -> dict[str, str | None]:
        """Each configured strategist's configuration digest (its stage's evidence)."""
        out: dict[str, str | None] = {}
        for name in self.kernel.selected("strategist"):
            try:
                out[name] = current_digest(self.settings, self.kernel.registry, name)
            except (ConfigError, RefusedError):
                out[name] = None  # an unknown strategist fails at start with its own message
        return out

    def _follow_stage(self) -> None:
        """A strategist demoted while the agent runs: go down to the riskiest mode every
        strategist's stage still allows (paper, else shadow), or stop when it allows none."""
        checked = (self.control.version(), self.mode)
        if checked == self._stage_checked:
            return  # nothing written since the last check passed: the stage is the same
        try:
            check_stages(self.store, self._digests, self.mode, self.release)
            self._stage_checked = checked
            return
        except RefusedError as exc:
            refusal = str(exc)
        for mode in reversed(SAFETY[: SAFETY.index(self.mode)]):
            try:
                check_stages(self.store, self._digests, mode, self.release)
            except RefusedError:
                continue
            self.resolved = ResolvedMode(mode, "promotion stage")
            self._executors.clear()
            self.kernel.emit(
                "commander",
                "mode",
                severity="warning",
                mode=mode,
                mode_source="promotion stage",
                reason=refusal,
            )
            return
        self.kernel.emit("commander", "route", severity="error", action="end", reason=refusal)
        self.request_stop()

    def _end(self, state: CycleState, action: str, reason: str) -> CycleState:
        if self.anchor_each_cycle:  # once per cycle, only when the cycle journaled anything
            self.store.write_anchor()
        self.kernel.emit("commander", "end", action=action, reason=reason, **_counts(state))
        return state

    def _fail(self, node: NodeSpec, state: CycleState, exc: Exception) -> None:
        if isinstance(exc, RequestBudgetExhausted):  # back-pressure: no incident, no cancel
            self.budget_skipped(node.name, exc)
            reason = f"{node.name}: request_budget_exhausted (broker {exc.broker})"
            self.kernel.emit("commander", "route", node=node.name, action="skip", reason=reason)
            self._end(state, "skip", reason)
            return
        reason = f"{node.name} failed: {error_text(exc)}"
        logger.warning("node {}", reason)
        logger.opt(exception=exc).debug("node {} traceback", node.name)
        self.control.record_incident(reason)
        cancelled = self._cancel_cycle_intents(state, reason)
        self.kernel.emit(
            "commander",
            "route",
            severity="error",
            node=node.name,
            action="cancel",
            reason=reason,
            cancelled=cancelled,
        )
        self._end(state, "cancel", reason)

    def _cancel_cycle_intents(self, state: CycleState, reason: str) -> int:
        cancelled = 0
        for record in self.store.list_intents(cycle_id=state.cycle_id):
            if record.state in (IntentState.PROPOSED, IntentState.PENDING_APPROVAL):
                try:
                    self.approvals.cancel(record.intent.id, actor="commander", reason=reason)
                    cancelled += 1
                except RefusedError:
                    pass
        return cancelled


def _counts(state: CycleState) -> dict[str, Any]:
    return {
        "intents": len(state.intents),
        "blocked": len(state.blocked),
        "pending": len(state.pending),
        "approved": len(state.approved),
        "submitted": len(state.submitted),
        "fills": state.fills,
    }
