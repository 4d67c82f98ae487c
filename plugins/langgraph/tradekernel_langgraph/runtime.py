"""The kernel's cycle graph as a LangGraph ``StateGraph``.

Each node of the spec is a LangGraph node running the kernel's node function on the
cycle's ``CycleState`` (through ``cycle.call``) and returning the keys the spec says it
writes; keys with a reducer accumulate (``append``, ``merge``). The routers are the
kernel's (``cycle.enter``, ``cycle.after``) as conditional edges; retries are LangGraph's
``RetryPolicy`` with the spec's explicit exception classes (LangGraph's default would
skip ``ValueError`` and friends), announced with the kernel's ``retry`` event. The
kernel's store and journal stay the source of truth: the checkpoint of each cycle (one
thread per cycle id) is written when the cycle's graph exits, for inspection with
LangGraph's tools, and a crashed cycle is never resumed from it (see docs/runtime.md).
"""

from __future__ import annotations

import sqlite3
from collections import deque
from pathlib import Path
from typing import Annotated, Any, TypedDict

import attrs
from langgraph.channels.untracked_value import UntrackedValue
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer
from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.graph import END, START, StateGraph
from langgraph.types import RetryPolicy
from loguru import logger
from tradekernel.api import GRAPH_END

CHECKPOINTS = "langgraph.sqlite"
"""The checkpoint database, in the state directory."""

KEEP_CYCLES = 200
"""Checkpointed cycles kept (the oldest thread is deleted as a new one is written)."""

DURABILITY = "exit"
"""When LangGraph writes the checkpoint: when the cycle's graph exits. Measured per
cycle (``scripts/bench``, bench/runtimes.py): 0.4 ms; ``sync`` writes after every node
and costs 7.5 ms, for a resumption the kernel never does."""


UNTRACKED = ("bars", "quotes", "skill_results")
"""Channels left out of the checkpoint: the cycle's market inputs, bulky (about 50 KB of
the 52 KB a cycle of two symbols checkpoints) and the market data feed's to replay."""


def _append(old: list[Any] | None, new: list[Any]) -> list[Any]:
    return [*(old or []), *new]


def _merge(old: dict[str, Any] | None, new: dict[str, Any]) -> dict[str, Any]:
    return {**(old or {}), **new}


REDUCE = {"append": _append, "merge": _merge}


class PlainSerializer(JsonPlusSerializer):
    """LangGraph's serializer, with the kernel's attrs models written as plain data
    (``{"__type__": name, ...fields}``): the checkpoint never needs pickle, and reading it
    back never builds kernel objects."""

    def dumps_typed(self, obj: Any) -> tuple[str, bytes]:
        return super().dumps_typed(_plain(obj))


def _plain(obj: Any) -> Any:
    if attrs.has(type(obj)):
        fields = {f.name: _plain(getattr(obj, f.name)) for f in attrs.fields(type(obj))}
        return {"__type__": type(obj).__name__, **fields}
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_plain(v) for v in obj]
    if isinstance(obj, set | frozenset):
        return sorted(_plain(v) for v in obj)
    return obj


class LangGraphRuntime:
    """Walks the cycle graph as a compiled ``StateGraph`` (one compile per graph)."""

    def __init__(self, state_dir: Path | None, *, checkpoint: bool = True) -> None:
        self._compiled: dict[tuple[Any, ...], Any] = {}
        self._cycle: Any = None
        self._attempts: dict[str, int] = {}
        self._node: Any = None
        self._route: Any = None
        self._kept: deque[str] = deque()
        self._state_dir = Path(state_dir) if checkpoint and state_dir is not None else None
        self._saver: SqliteSaver | None = None

    def _checkpointer(self) -> SqliteSaver | None:
        """The checkpoint database, opened on the first cycle that keeps one (drawing the
        graph or checking the configuration writes nothing)."""
        if self._saver is None and self._state_dir is not None:
            self._state_dir.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(
                str(self._state_dir / CHECKPOINTS), check_same_thread=False, isolation_level=None
            )
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")  # a private aid: no fsync per cycle
            self._saver = SqliteSaver(conn, serde=PlainSerializer())
            self._saver.setup()
        return self._saver

    # -- the runtime protocol -------------------------------------------------------------

    def run(self, cycle: Any) -> None:
        graph = self._compile(cycle.graph, cycle.policy, checkpoint=cycle.durable)
        self._cycle, self._attempts, self._node, self._route = cycle, {}, None, None
        config = {"configurable": {"thread_id": cycle.id}, "recursion_limit": 100}
        try:
            graph.invoke(
                {"cycle_id": cycle.id, "mode": cycle.state.mode},
                config,
                durability=DURABILITY if cycle.durable and self._state_dir else None,
            )
        except Exception as exc:
            if self._node is not None:  # a node failed for good
                cycle.fail(self._node, exc)
                return
            if self._route is None or self._route.next != GRAPH_END:
                raise  # not a node's failure, nor the checkpoint's: the runtime's own
            # the graph ran to its end and only the checkpoint failed: the store has the
            # cycle, the checkpoint is an aid
            logger.warning(
                "langgraph: cycle {} not checkpointed: {}: {}", cycle.id, type(exc).__name__, exc
            )
        finally:
            self._cycle = None
            if cycle.durable:
                self._forget_old(cycle.id)
        cycle.end(self._route)

    def draw(self, spec: Any, policy: Any) -> str:
        """The compiled graph as Mermaid text, LangGraph's own drawing (``policy``: the
        ``[runtime]`` settings, for the retry policies)."""
        return self._compile(spec, policy, checkpoint=False).get_graph().draw_mermaid()

    def close(self) -> None:
        """Close the checkpoint database (the kernel calls this when it closes)."""
        if self._saver is not None:
            self._saver.conn.close()
            self._saver = None
        self._compiled.clear()

    # -- compiling the spec ---------------------------------------------------------------

    def _compile(self, spec: Any, policy: Any, *, checkpoint: bool = True) -> Any:
        names = tuple(n.name for n in spec.nodes)
        key = (names, policy.node_attempts, float(policy.node_backoff), checkpoint)
        compiled = self._compiled.get(key)
        if compiled is None:
            saver = self._checkpointer() if checkpoint else None
            compiled = self._compiled[key] = self._build(spec, policy, saver)
        return compiled

    def _build(self, spec: Any, policy: Any, saver: SqliteSaver | None) -> Any:
        fields: dict[str, Any] = {"cycle_id": str, "mode": str}
        for key in sorted({k for n in spec.nodes for k in n.writes}):
            reducer = spec.reducers.get(key)
            if key in UNTRACKED:  # each node returns the whole value: no reducer needed
                fields[key] = Annotated[Any, UntrackedValue(object)]
            elif reducer:
                fields[key] = Annotated[Any, REDUCE[reducer]]
            else:
                fields[key] = Any
        builder = StateGraph(TypedDict("CycleGraphState", fields))  # type: ignore[operator]
        names = [n.name for n in spec.nodes]
        for node in spec.nodes:
            retry = None
            if node.retry is not None and policy.node_attempts > 1:
                retry = RetryPolicy(
                    initial_interval=float(policy.node_backoff),
                    backoff_factor=2.0,
                    max_interval=30.0,
                    max_attempts=policy.node_attempts,
                    jitter=False,
                    retry_on=self._retry_on(node),
                )
            builder.add_node(node.name, self._step(node, spec.reducers), retry_policy=retry)
        builder.add_conditional_edges(START, self._enter, {names[0]: names[0], GRAPH_END: END})
        for node in spec.nodes:
            nxt = spec.next_of(node.name)
            targets = {GRAPH_END: END} if nxt == GRAPH_END else {nxt: nxt, GRAPH_END: END}
            builder.add_conditional_edges(node.name, self._after(node), targets)
        return builder.compile(checkpointer=saver, name="tradekernel-cycle")

    def _step(self, node: Any, reducers: Any) -> Any:
        def step(_values: dict[str, Any]) -> dict[str, Any]:
            cycle = self._cycle
            self._node = node
            self._attempts[node.name] = self._attempts.get(node.name, 0) + 1
            state = cycle.state
            sizes = {k: len(getattr(state, k)) for k in node.writes if reducers.get(k) == "append"}
            cycle.call(node)
            out = {k: getattr(state, k) for k in node.writes}
            for key, size in sizes.items():  # (an untracked key has no "append" reducer)
                out[key] = out[key][size:]  # the items this node added
            self._node = None
            return out

        step.__name__ = node.name
        return step

    def _retry_on(self, node: Any) -> Any:
        def retry_on(exc: Exception) -> bool:
            cycle = self._cycle
            attempt = self._attempts.get(node.name, 0)
            if not cycle.retryable(node, exc) or attempt >= cycle.attempts(node):
                return False
            cycle.retrying(node, attempt, exc)
            return True

        return retry_on

    def _enter(self, _values: dict[str, Any]) -> str:
        self._route = self._cycle.enter()
        return self._route.next

    def _after(self, node: Any) -> Any:
        def route(_values: dict[str, Any]) -> str:
            self._route = self._cycle.after(node)
            return self._route.next

        route.__name__ = f"after_{node.name}"
        return route

    def _forget_old(self, thread_id: str) -> None:
        if self._saver is None:
            return
        self._kept.append(thread_id)
        while len(self._kept) > KEEP_CYCLES:
            self._saver.delete_thread(self._kept.popleft())
