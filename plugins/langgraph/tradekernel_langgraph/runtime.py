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
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, TypedDict

import attrs
from langgraph.channels.untracked_value import UntrackedValue
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer
from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.errors import GraphBubbleUp
from langgraph.graph import END, START, StateGraph
from langgraph.types import RetryPolicy
from loguru import logger
from tradekernel.api import GRAPH_END, ConfigError, NodeFailed, error_text

CHECKPOINTS = "langgraph.sqlite"
"""The checkpoint database, in the state directory."""

KEEP_CYCLES = 200
"""Checkpointed cycles kept: after each checkpointed cycle, the database's threads
beyond the newest 200 are deleted (across restarts: counted in the database)."""

BUSY_TIMEOUT = 0.25
"""Seconds to wait for a lock on the checkpoint database before giving up on this
cycle's checkpoint or pruning (a warning event): the aid never stalls a cycle."""

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
    back never builds kernel objects. Every string goes through the kernel's redactor,
    and an exception (LangGraph's ``__error__`` write of a failed node) is written as
    its bounded, inert, redacted ``Type: message`` only."""

    def __init__(self, redact: Callable[[str], str] = str) -> None:
        super().__init__()
        self._redact = redact

    def dumps_typed(self, obj: Any) -> tuple[str, bytes]:
        return super().dumps_typed(_plain(obj, self._redact))


def _plain(obj: Any, redact: Callable[[str], str]) -> Any:
    if isinstance(obj, str):
        return redact(obj)
    if isinstance(obj, BaseException):
        return redact(error_text(obj))
    if attrs.has(type(obj)):
        fields = {f.name: _plain(getattr(obj, f.name), redact) for f in attrs.fields(type(obj))}
        return {"__type__": type(obj).__name__, **fields}
    if isinstance(obj, dict):
        return {k: _plain(v, redact) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_plain(v, redact) for v in obj]
    if isinstance(obj, set | frozenset):
        return sorted(_plain(v, redact) for v in obj)
    return obj


class LangGraphRuntime:
    """Walks the cycle graph as a compiled ``StateGraph`` (one compile per graph)."""

    def __init__(
        self,
        state_dir: Path | None,
        *,
        checkpoint: bool = True,
        keep: int | None = None,
        redact: Callable[[str], str] = str,
        emit: Callable[..., Any] | None = None,
    ) -> None:
        self._compiled: dict[tuple[Any, ...], Any] = {}
        self._cycle: Any = None
        self._attempts: dict[str, int] = {}
        self._node: Any = None
        self._route: Any = None
        self._keep = KEEP_CYCLES if keep is None else keep
        self._redact = redact
        self._emit = emit
        self._state_dir = Path(state_dir) if checkpoint and state_dir is not None else None
        self._saver: SqliteSaver | None = None

    @property
    def path(self) -> Path | None:
        """The checkpoint database (``None``: no state directory, no checkpoints)."""
        return self._state_dir / CHECKPOINTS if self._state_dir is not None else None

    def _warn(self, action: str, reason: str) -> None:
        """A ``commander.checkpoint`` warning: the aid skipped something, the cycle did not."""
        logger.warning("langgraph: {}: {}: {}", self.path, action, reason)
        if self._emit is not None:
            self._emit(
                "commander",
                "checkpoint",
                severity="warning",
                runtime="langgraph",
                action=action,
                path=str(self.path),
                reason=reason,
            )

    def _checkpointer(self) -> SqliteSaver | None:
        """The checkpoint database, opened at start (``prepare``) or on the first cycle
        that keeps one (drawing the graph or checking the configuration writes nothing).
        A symbolic link (or another name of the kernel's store) is refused
        (:class:`ConfigError`); a database that is not one (corrupt, truncated) is moved
        aside to ``langgraph.sqlite.corrupt-<time>`` and a new one created, with a warning
        event, since it is only LangGraph's inspection aid; a locked one is skipped for
        this cycle."""
        if self._saver is not None or self._state_dir is None:
            return self._saver
        path = self.path
        assert path is not None
        self._state_dir.mkdir(parents=True, exist_ok=True)
        self._refuse_link(path)
        try:
            conn = self._open(path)
        except sqlite3.OperationalError as exc:  # locked by another process: not now
            self._warn("skipped", f"{type(exc).__name__}: {exc}")
            return None
        except sqlite3.DatabaseError as exc:
            aside = path.with_name(f"{CHECKPOINTS}.corrupt-{datetime.now(UTC):%Y%m%dT%H%M%S%f}")
            for suffix in ("", "-wal", "-shm"):
                old = Path(f"{path}{suffix}")
                if old.exists():
                    old.rename(f"{aside}{suffix}")
            self._warn("recreated", f"{exc}: moved aside to {aside.name}, a new one created")
            try:
                conn = self._open(path)
            except sqlite3.DatabaseError as again:
                raise ConfigError(
                    f"{path}: LangGraph's checkpoint database cannot be created: {again}"
                ) from None
        self._saver = SqliteSaver(conn, serde=PlainSerializer(self._redact))
        return self._saver

    def _refuse_link(self, path: Path) -> None:
        store = self._state_dir / "state.db" if self._state_dir else None
        if path.is_symlink() or (
            path.exists() and store is not None and store.exists() and path.samefile(store)
        ):
            raise ConfigError(
                f"{path}: LangGraph's checkpoint database must be a file of its own, not a "
                "symbolic link (nor another name of the state store): remove it"
            )

    def _open(self, path: Path) -> sqlite3.Connection:
        conn = sqlite3.connect(
            str(path), check_same_thread=False, isolation_level=None, timeout=BUSY_TIMEOUT
        )
        try:
            if conn.execute("PRAGMA quick_check").fetchone()[0] != "ok":
                raise sqlite3.DatabaseError("database disk image is malformed")
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")  # a private aid: no fsync per cycle
            SqliteSaver(conn).setup()
        except BaseException:
            conn.close()
            raise
        return conn

    # -- the runtime protocol -------------------------------------------------------------

    def prepare(self, spec: Any, policy: Any, *, durable: bool = True) -> None:
        """Compile ``spec`` and open the checkpoint database now (the kernel calls this
        at start): a graph LangGraph refuses or a checkpoint file that cannot be used
        stops the agent before its first cycle, exit 2."""
        try:
            self._compile(spec, policy, checkpoint=durable)
        except (ValueError, TypeError) as exc:
            raise ConfigError(f'[components] runtime = "langgraph": {exc}') from None

    def run(self, cycle: Any) -> None:
        graph = self._compile(cycle.graph, cycle.policy, checkpoint=cycle.durable)
        self._cycle, self._attempts, self._node, self._route = cycle, {}, None, None
        config = {"configurable": {"thread_id": cycle.id}, "recursion_limit": 100}
        try:
            graph.invoke(
                {"cycle_id": cycle.id, "mode": cycle.state.mode},
                config,
                durability=DURABILITY if cycle.durable and self._saver else None,
            )
        except Exception as exc:
            if self._node is not None:  # a node failed for good
                cycle.fail(self._node, exc)
                return
            if self._route is None or self._route.next != GRAPH_END:
                raise  # not a node's failure, nor the checkpoint's: the runtime's own
            # the graph ran to its end and only the checkpoint failed: the store has the
            # cycle, the checkpoint is an aid
            self._warn("skipped", f"cycle {cycle.id} not checkpointed: {error_text(exc)}")
        finally:
            self._cycle = None
        route = self._route
        if self._node is not None or route is None or route.next != GRAPH_END:
            # the graph stopped inside a node without an error (LangGraph's interrupt or
            # another control flow that got past the node wrapper): that node failed
            node = self._node or cycle.graph.node(
                route.next if route else cycle.graph.nodes[0].name
            )
            cycle.fail(node, NodeFailed(f"node {node.name} stopped the graph: never resumed"))
            return
        cycle.end(self._route)
        if cycle.durable:
            self._prune()

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
        saver = self._checkpointer() if checkpoint else None
        key = (*key, saver is not None)
        compiled = self._compiled.get(key)
        if compiled is None:
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
            try:
                cycle.call(node)
            except GraphBubbleUp as exc:  # LangGraph's control flow: a failure here
                raise NodeFailed(error_text(exc)) from exc
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

    def _prune(self) -> None:
        """Delete the threads beyond the newest :data:`KEEP_CYCLES`, counted in the
        database (so across restarts too); a locked or failing database skips it, with
        a warning event."""
        saver = self._saver
        if saver is None:
            return
        conn = saver.conn
        try:
            with saver.lock:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    conn.execute(
                        "DELETE FROM checkpoints WHERE thread_id NOT IN (SELECT thread_id "
                        "FROM checkpoints GROUP BY thread_id ORDER BY MAX(rowid) DESC LIMIT ?)",
                        (self._keep,),
                    )
                    conn.execute(
                        "DELETE FROM writes WHERE thread_id NOT IN "
                        "(SELECT DISTINCT thread_id FROM checkpoints)"
                    )
                    conn.execute("COMMIT")
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
        except sqlite3.Error as exc:
            self._warn("prune_skipped", f"{type(exc).__name__}: {exc}")
