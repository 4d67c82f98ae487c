"""The cycle graph as data: nodes, edges, routers, retry policies and the state each
node reads and writes. Every runtime (``[components] runtime``) walks this one spec;
``tradekernel runtime-plan`` prints it. See docs/runtime.md.

A runtime sees a cycle as a :class:`Cycle`: the graph for the cycle's mode, the
:class:`~.state.CycleState`, and the commander's steps (run a node, route after it,
announce a retry, cancel on a failure, end), so the commander's events are the same
whichever runtime walks the graph.
"""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Callable, Mapping
from datetime import datetime
from types import MappingProxyType
from typing import Any

import attrs
from attrs import evolve, field, frozen

from ..display import inert, is_inert
from ..errors import ConfigError, RefusedError, TradekernelError
from ..models import Account, Bar, Position, Quote, SkillResult
from ..settings import INSTANCE_NAME, RuntimeSettings
from .state import CycleState

END = "end"
"""The router's target that ends the cycle."""

RESERVED_NODE_NAMES = frozenset({END, "__start__", "__end__", "start"})
"""Names no plugin node may take: the router's end and LangGraph's own entry and exit."""

ERROR_TEXT_LIMIT = 500
"""Characters of a node's error text kept in events, the journal and checkpoints."""

NODE_RESULTS_LIMIT = 64
"""Skill results one plugin node may return per call."""

NODE_BYTES_LIMIT = 262_144
"""Bytes of JSON all of one plugin node's skill results of one call may take."""

SKILL_RESULT_NAME = r"[a-z0-9][a-z0-9_.:-]{0,63}"
"""A plugin node's skill result name (``area.verb``, as the skills' names)."""

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
    # Looked up once per node of every cycle: indexed once, when the spec is made.
    _by_name: dict[str, NodeSpec] = field(init=False, eq=False, repr=False)
    _next: dict[str, str] = field(init=False, eq=False, repr=False)
    _modes: dict[str, GraphSpec] = field(init=False, eq=False, repr=False)

    def __attrs_post_init__(self) -> None:
        names = [n.name for n in self.nodes]
        object.__setattr__(self, "_by_name", {n.name: n for n in self.nodes})
        object.__setattr__(self, "_next", dict(zip(names, [*names[1:], END], strict=True)))
        object.__setattr__(self, "_modes", {})

    def node(self, name: str) -> NodeSpec:
        """The node called ``name``."""
        return self._by_name[name]

    def for_mode(self, mode: str) -> GraphSpec:
        """The graph a cycle in ``mode`` walks (without the nodes that mode skips)."""
        walked = self._modes.get(mode)
        if walked is None:
            nodes = tuple(n for n in self.nodes if mode not in n.skipped_in)
            walked = self._modes[mode] = evolve(self, nodes=nodes)
        return walked

    def next_of(self, name: str) -> str:
        """The node after ``name`` (:data:`END` after the last)."""
        if name not in self._next:
            raise ValueError(f"{name!r} is not a node of this graph")
        return self._next[name]

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
        if not INSTANCE_NAME.fullmatch(node.name) or node.name in RESERVED_NODE_NAMES:
            raise ConfigError(
                f"node {inert(node.name[:80])}: a node's name is 1-64 of a-z, 0-9, _ and - "
                f"(starting with a letter or digit), not {', '.join(sorted(RESERVED_NODE_NAMES))}"
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


class NodeFailed(RuntimeError):
    """What a plugin node raised (other than a kernel error or ``KeyboardInterrupt``),
    as a plain error: a runtime's control-flow exception (LangGraph's ``interrupt()``
    raising ``GraphInterrupt``), ``SystemExit`` or any ``BaseException`` is a node
    failure like any other, whatever runtime walks the graph. Its text is the
    original's ``Type: message`` (:func:`error_text`); the original is its cause."""


def error_text(exc: BaseException, limit: int = ERROR_TEXT_LIMIT) -> str:
    """``exc`` as one bounded, inert line (``Type: message``, at most ``limit``
    characters and a ``(N more)`` suffix, controls and escapes shown escaped): what a
    node's failure puts in events, the journal and a runtime's checkpoint."""
    try:
        message = str(exc)
    except Exception:  # a hostile __str__
        message = "<unprintable>"
    text = message if isinstance(exc, NodeFailed) else f"{type(exc).__name__}: {message}"
    shown = text[:limit]
    if not (isinstance(exc, NodeFailed) and is_inert(shown)):  # made inert once only
        shown = inert(shown)[:limit]
    more = len(text) - len(shown)
    return f"{shown}... ({more} more)" if more > 0 else shown


@frozen
class NodeView:
    """What a plugin's node reads: copies of the cycle's inputs, read-only. Nothing a
    node does to it reaches the cycle; its returned skill results are its only write."""

    cycle_id: str
    mode: str
    as_of: datetime | None
    candidates: tuple[str, ...]
    quotes: Mapping[str, Quote]
    bars: Mapping[str, tuple[Bar, ...]]
    positions: Mapping[str, Position]
    account: Account | None
    skill_results: Mapping[str, SkillResult]

    @classmethod
    def of(cls, state: CycleState) -> NodeView:
        """A view of ``state`` (the models are frozen; skill results' data is copied)."""
        return cls(
            cycle_id=state.cycle_id,
            mode=state.mode,
            as_of=state.as_of,
            candidates=tuple(state.candidates),
            quotes=MappingProxyType(dict(state.quotes)),
            bars=MappingProxyType({k: tuple(v) for k, v in state.bars.items()}),
            positions=MappingProxyType(dict(state.positions)),
            account=state.account,
            skill_results=MappingProxyType(copy.deepcopy(state.skill_results)),
        )


def node_results(name: str, results: object, taken: Mapping[str, object]) -> dict[str, SkillResult]:
    """A plugin node's returned skill results, checked and copied: a mapping of at most
    :data:`NODE_RESULTS_LIMIT` names (:data:`SKILL_RESULT_NAME`, none already in the
    cycle's ``taken`` results) to :class:`SkillResult`, all JSON-able without NaN or
    infinity, together at most :data:`NODE_BYTES_LIMIT` bytes of JSON. Raises
    ``ValueError`` naming what is wrong (the node fails)."""
    import re

    if not isinstance(results, Mapping):
        raise ValueError(f"node {name} must return a mapping of str to SkillResult")
    if len(results) > NODE_RESULTS_LIMIT:
        raise ValueError(
            f"node {name} returned {len(results)} results (at most {NODE_RESULTS_LIMIT})"
        )
    out: dict[str, SkillResult] = {}
    size = 0
    for key, value in results.items():
        if not isinstance(key, str) or not re.fullmatch(SKILL_RESULT_NAME, key):
            raise ValueError(
                f"node {name} returned a result named {inert(str(key)[:80])!s}: a name is "
                "1-64 of a-z, 0-9 and _ . : -"
            )
        if key in taken:
            raise ValueError(f"node {name} returned {key}: the cycle already has that result")
        if not isinstance(value, SkillResult):
            raise ValueError(f"node {name} returned {key}: not a SkillResult")
        try:
            text = json.dumps(attrs.asdict(value, recurse=False), allow_nan=False)
        except (TypeError, ValueError, RecursionError) as exc:
            raise ValueError(
                f"node {name} returned {key}: not JSON (no NaN, no infinity): "
                f"{inert(str(exc)[:120])}"
            ) from None
        size += len(text.encode())
        if size > NODE_BYTES_LIMIT:
            raise ValueError(f"node {name} returned more than {NODE_BYTES_LIMIT} bytes of results")
        fields = json.loads(text)
        if not all(isinstance(fields[f], str) for f in ("name", "source", "version", "schema")):
            raise ValueError(f"node {name} returned {key}: name, source, version must be text")
        if not isinstance(fields["latency_ms"], int | float) or not math.isfinite(
            fields["latency_ms"]
        ):
            raise ValueError(f"node {name} returned {key}: latency_ms must be a number")
        out[key] = SkillResult(**fields)  # a copy: the node keeps no handle on what is merged
    return out


def plugin_node(name: str, node: Any, description: str) -> NodeSpec:
    """The spec of a plugin's node (a :class:`~tradekernel.components.Node`): it reads a
    read-only :class:`NodeView` of the cycle and returns skill results, checked
    (:func:`node_results`) and merged into ``skill_results`` (what the strategist reads),
    its only write. Anything it raises is a node failure (a non-ordinary exception
    becomes :class:`NodeFailed`, so no runtime takes it for its own control flow). Safe
    to repeat, so retried like ``hydrate``."""

    def run(_runtime: Any, state: CycleState) -> None:
        try:
            results = node.run(NodeView.of(state))
        except (KeyboardInterrupt, TradekernelError):
            raise
        except BaseException as exc:  # a runtime's control flow included: a plain failure
            raise NodeFailed(error_text(exc)) from exc
        state.skill_results.update(node_results(name, results, state.skill_results))

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
            error=error_text(exc),
        )

    def fail(self, node: NodeSpec, exc: Exception) -> None:
        """``node`` failed for good: record the incident, cancel the cycle's intents, end."""
        self.ended = Route(END, "cancel", "")
        self.runtime._fail(node, self.state, exc)

    def end(self, route: Route) -> None:
        """End the cycle as ``route`` says (the ``commander.end`` event)."""
        self.ended = route
        self.runtime._end(self.state, route.action, route.reason)
