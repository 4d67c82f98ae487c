"""The cycle graph as data: nodes, edges, routers, retry policies and the state each
node reads and writes. Every runtime (``[components] runtime``) walks this one spec;
``tradekernel runtime-plan`` prints it. See docs/runtime.md.

A runtime sees a cycle as a :class:`Cycle`: the graph for the cycle's mode, the
:class:`~.state.CycleState`, and the commander's steps (run a node, route after it,
announce a retry, cancel on a failure, end), so the commander's events are the same
whichever runtime walks the graph.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from attrs import evolve, field, frozen

from ..errors import ConfigError, RefusedError
from ..models import SkillResult
from ..settings import RuntimeSettings
from .state import CycleState

END = "end"
"""The router's target that ends the cycle."""

INSERTION_POINTS = ("strategize",)
"""Where a plugin's node (``[components] nodes``) may go: before these nodes (an
analyst before ``strategize`` writes a skill result the strategist reads)."""


@frozen
class Retry:
    """A node's retry policy: retried on ``retry_on`` unless also ``except_on``.
    Attempts and backoff come from ``[runtime]`` (``node_attempts``, ``node_backoff``)."""

    retry_on: tuple[type[BaseException], ...] = (Exception,)
    except_on: tuple[type[BaseException], ...] = (ConfigError, RefusedError)
    """A configuration error or a refusal is the same on every attempt."""

    def retryable(self, exc: BaseException) -> bool:
        """Whether ``exc`` may be retried."""
        return isinstance(exc, self.retry_on) and not isinstance(exc, self.except_on)


@frozen
class NodeSpec:
    """One node of the graph."""

    name: str
    role: str
    does: str
    run: Callable[[Any, CycleState], None] = field(repr=False, eq=False)
    """The node function: ``run(runtime, state)``, shared by every runtime."""
    retry: Retry | None = None
    """``None``: never retried (only work safe to repeat is; ``execute`` never is: an
    unknown submit outcome is reconciled, not retried)."""
    skipped_in: tuple[str, ...] = ()
    reads: tuple[str, ...] = ()
    """The :class:`CycleState` keys the node reads."""
    writes: tuple[str, ...] = ()
    """The :class:`CycleState` keys the node writes (and nothing else)."""
    effects: tuple[str, ...] = ()
    """What the node changes outside the cycle state (``store``, ``broker``, ``clock``,
    ``events``): a runtime may re-run from the start only a node without ``store`` or
    ``broker`` effects (a LangGraph ``interrupt()`` does: none of these nodes uses one)."""


@frozen
class Edge:
    """An edge of the graph: ``source`` to ``target`` ``when`` its condition holds."""

    source: str
    target: str
    when: str = "always"


@frozen
class Route:
    """A router's answer: the next node (or :data:`END`, with the end's action and reason)."""

    next: str
    action: str = "route"
    reason: str = ""


REDUCERS: Mapping[str, str] = {"notes": "append", "skill_results": "merge", "decisions": "merge"}
"""Keys several nodes add to: ``append`` (a list: each node's new items), ``merge`` (a
dict: each node's keys); every other key is replaced by the node that writes it."""

ROUTERS: tuple[Edge, ...] = (
    Edge("*", END, "stop_reason is set (the market data ended): action from it"),
    Edge("*", END, "a stop was requested (signal, demotion): action end"),
    Edge("*", END, "the node failed after its attempts: action cancel"),
)
"""The conditional exits every node has, checked by :func:`after` in this order."""


@frozen
class GraphSpec:
    """The nodes in order (each routes to the next) and the routers' exits."""

    nodes: tuple[NodeSpec, ...]
    reducers: Mapping[str, str] = REDUCERS

    def node(self, name: str) -> NodeSpec:
        """The node called ``name``."""
        for node in self.nodes:
            if node.name == name:
                return node
        raise KeyError(name)

    def for_mode(self, mode: str) -> GraphSpec:
        """The graph a cycle in ``mode`` walks (without the nodes that mode skips)."""
        return evolve(self, nodes=tuple(n for n in self.nodes if mode not in n.skipped_in))

    def next_of(self, name: str) -> str:
        """The node after ``name`` (:data:`END` after the last)."""
        names = [n.name for n in self.nodes]
        i = names.index(name)
        return names[i + 1] if i + 1 < len(names) else END

    def edges(self) -> list[Edge]:
        """Every edge: the chain, then each node's conditional exits."""
        chain = [Edge(n.name, self.next_of(n.name)) for n in self.nodes]
        return chain + list(ROUTERS)

    def with_node(self, node: NodeSpec, before: str) -> GraphSpec:
        """This graph with ``node`` inserted before ``before`` (an :data:`INSERTION_POINTS`)."""
        if before not in INSERTION_POINTS:
            raise ConfigError(
                f"node {node.name}: before = {before!r}: a node may go before "
                f"{', '.join(INSERTION_POINTS)}"
            )
        if any(n.name == node.name for n in self.nodes):
            raise ConfigError(f"node {node.name}: the graph already has a node of that name")
        names = [n.name for n in self.nodes]
        i = names.index(before)
        return evolve(self, nodes=(*self.nodes[:i], node, *self.nodes[i:]))

    def rows(self, policy: RuntimeSettings | None = None) -> list[dict[str, object]]:
        """The graph as rows for ``runtime-plan``."""
        policy = policy or RuntimeSettings()
        return [
            {
                "node": n.name,
                "role": n.role,
                "does": n.does,
                "attempts": policy.node_attempts if n.retry else 1,
                "backoff": str(policy.node_backoff) if n.retry else None,
                "retry_on": _names(n.retry.retry_on) if n.retry else [],
                "except_on": _names(n.retry.except_on) if n.retry else [],
                "skipped_in": list(n.skipped_in),
                "reads": list(n.reads),
                "writes": list(n.writes),
                "effects": list(n.effects),
                "next": self.next_of(n.name),
            }
            for n in self.nodes
        ]


def _names(classes: tuple[type[BaseException], ...]) -> list[str]:
    return [c.__name__ for c in classes]


def plugin_node(name: str, node: Any, description: str) -> NodeSpec:
    """The spec of a plugin's node (a :class:`~tradekernel.components.Node`): it reads the
    cycle's inputs and writes skill results, merged into ``skill_results`` (what the
    strategist reads). Safe to repeat, so retried like ``hydrate``."""

    def run(_runtime: Any, state: CycleState) -> None:
        results = node.run(state)
        if not isinstance(results, Mapping) or not all(
            isinstance(k, str) and isinstance(v, SkillResult) for k, v in results.items()
        ):
            raise TypeError(f"node {name} must return a mapping of str to SkillResult")
        state.skill_results.update(results)

    return NodeSpec(
        name,
        str(getattr(node, "role", "Analyst")),
        description or "a plugin's node",
        run,
        Retry(),
        reads=("as_of", "candidates", "quotes", "bars", "positions", "account", "skill_results"),
        writes=("skill_results",),
    )


class Cycle:
    """One cycle as a runtime walks it. The routers and the failure and end handling
    are the commander's (``runtime``: the kernel's :class:`~.runtime.Runtime`), so
    every runtime emits the same ``commander`` events."""

    def __init__(self, runtime: Any, graph: GraphSpec, state: CycleState) -> None:
        self.runtime = runtime
        self.graph = graph
        self.state = state
        self.policy: RuntimeSettings = runtime.policy
        self.ended: Route | None = None
        self.durable: bool = runtime.anchor_each_cycle
        """Whether this agent's state is kept (``False``: a backtest's throwaway state,
        where a runtime's own checkpoints buy nothing)."""
        kernel = runtime.kernel
        self._emit = kernel.emit
        self._route_events = runtime.policy.trace == "full"
        self._transitions = self._route_events and kernel.wants_event(
            "commander", "transition", "info"
        )

    @property
    def id(self) -> str:
        """The cycle id (a LangGraph thread id)."""
        return self.state.cycle_id

    def attempts(self, node: NodeSpec) -> int:
        """How many times ``node`` may run in this cycle."""
        return self.policy.node_attempts if node.retry else 1

    def call(self, node: NodeSpec) -> None:
        """Run ``node`` once on the cycle's state (raising what it raises)."""
        node.run(self.runtime, self.state)

    def enter(self) -> Route:
        """The router into the graph: one ``route`` event (full trace), then the first node."""
        first = self.graph.nodes[0].name
        if self._route_events:
            self._emit("commander", "route", node=first, action="route")
        if self.runtime.stop_requested:
            return Route(END, "end", "stop requested")
        return Route(first)

    def after(self, node: NodeSpec) -> Route:
        """The router after ``node`` succeeded: :data:`ROUTERS`, else the next node
        (one ``transition`` event per edge taken)."""
        state = self.state
        if state.stop_reason:
            return Route(END, state.stop_reason, state.notes[-1] if state.notes else "")
        nxt = self.graph.next_of(node.name)
        if self._transitions:
            self._emit("commander", "transition", node=node.name, next=nxt, action="route")
        if nxt == END:
            return Route(END, "end", "cycle complete")
        if self.runtime.stop_requested:
            return Route(END, "end", "stop requested")
        return Route(nxt)

    def retryable(self, node: NodeSpec, exc: BaseException) -> bool:
        """Whether ``node`` may be retried after ``exc``."""
        return node.retry is not None and node.retry.retryable(exc)

    def retrying(self, node: NodeSpec, attempt: int, exc: BaseException) -> None:
        """Announce that ``node`` failed on ``attempt`` (from 1) and runs again."""
        self._emit(
            "commander",
            "route",
            severity="warning",
            node=node.name,
            action="retry",
            attempt=attempt,
            error=f"{type(exc).__name__}: {exc}",
        )

    def fail(self, node: NodeSpec, exc: Exception) -> None:
        """``node`` failed for good: record the incident, cancel the cycle's intents, end."""
        self.ended = Route(END, "cancel", "")
        self.runtime._fail(node, self.state, exc)

    def end(self, route: Route) -> None:
        """End the cycle as ``route`` says (the ``commander.end`` event)."""
        self.ended = route
        self.runtime._end(self.state, route.action, route.reason)
