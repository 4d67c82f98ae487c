"""The parity harness: one seeded run per runtime, reduced to what must be identical.

An :class:`Outcome` holds a run's intents, journal rows, orders, fills and events with
what is random per run taken out (cycle, run and event ids become their order of first
appearance; wall-clock times and latencies are dropped). :func:`assert_same` names the
first thing that differs, an event by its position, stage and kind.
"""

from __future__ import annotations

import json
import re
from typing import Any

import attrs

RANDOM_ID = re.compile(r"\b(cyc|run|smoke|evt|ntf)_[0-9a-f]{16}\b")
STATE_DIR = re.compile(r"state-(native|langgraph)\b")
"""Each runtime's own state directory (conftest.py), named in some messages."""
WALL_KEYS = re.compile(r"(^|_)(ts|at|time|latency|ms|elapsed|seconds|duration|until|since)$")
"""Field names whose values are wall-clock times or durations (random per run)."""


class Normalizer:
    """Replaces random ids by their order of first appearance; drops wall-clock fields."""

    def __init__(self) -> None:
        self.ids: dict[str, str] = {}

    def __call__(self, value: Any) -> Any:
        if attrs.has(type(value)):
            value = attrs.asdict(value, recurse=False)
        if isinstance(value, dict):
            return {
                str(k): self(v) for k, v in sorted(value.items()) if not WALL_KEYS.search(str(k))
            }
        if isinstance(value, list | tuple):
            return [self(v) for v in value]
        if isinstance(value, set | frozenset):
            return sorted(self(v) for v in value)
        if isinstance(value, str):
            return STATE_DIR.sub("state-*", RANDOM_ID.sub(self._id, value))
        if hasattr(value, "value") and not isinstance(value, int | float):  # an enum
            return value.value
        return value

    def _id(self, match: re.Match[str]) -> str:
        return self.ids.setdefault(match.group(0), f"{match.group(1)}#{len(self.ids)}")


@attrs.define
class Outcome:
    """What a run left behind, comparable across runtimes."""

    intents: list[Any]
    journal: list[Any]
    orders: list[Any]
    fills: list[Any]
    events: list[tuple[str, str, Any]]


def _control_value(text: str | None) -> Any:
    """A control row's new value (JSON text), so its wall-clock fields can be dropped."""
    try:
        return json.loads(text) if text else text
    except ValueError:
        return text


def outcome(store: Any, recorder: Any) -> Outcome:
    """The run's store and recorded events, normalized."""
    norm = Normalizer()
    events = [
        (e.stage, e.kind, norm({"severity": e.severity, **e.fields})) for e in recorder.events
    ]
    intents = [
        norm(
            {
                "intent": r.intent,
                "cycle": r.cycle_id,
                "state": r.state,
                "broker": r.broker,
                "order_status": r.order_status,
                "filled_quantity": r.filled_quantity,
                "version": r.version,
            }
        )
        for r in store.list_intents()
    ]
    journal = [
        norm(
            {
                "entity": r.entity,
                "from": _control_value(r.from_state)
                if r.entity.startswith("control:")
                else r.from_state,
                "to": _control_value(r.to_state) if r.entity.startswith("control:") else r.to_state,
                "actor": r.actor,
                "reason": r.reason,
                "payload": r.payload,
            }
        )
        for r in store.journal_rows()
    ]
    orders = [norm(o) for o in store.orders()]
    fills = [norm(f) for f in store.fills()]
    return Outcome(sorted(intents, key=repr), journal, orders, fills, events)


def assert_same(native: Outcome, langgraph: Outcome) -> None:
    """Fail naming the first difference (an event by index, stage and kind)."""
    for i, (a, b) in enumerate(zip(native.events, langgraph.events, strict=False)):
        if a != b:
            raise AssertionError(
                f"event {i} differs: native {a[0]}.{a[1]} {a[2]} != langgraph {b[0]}.{b[1]} {b[2]}"
            )
    if len(native.events) != len(langgraph.events):
        n = min(len(native.events), len(langgraph.events))
        extra = (native.events or langgraph.events)[n:][:1]
        raise AssertionError(
            f"event {n} differs: native has {len(native.events)} events, langgraph "
            f"{len(langgraph.events)} (first extra: {extra})"
        )
    for what in ("intents", "journal", "orders", "fills"):
        a, b = getattr(native, what), getattr(langgraph, what)
        for i, (x, y) in enumerate(zip(a, b, strict=False)):
            assert x == y, f"{what} row {i} differs: native {x} != langgraph {y}"
        assert len(a) == len(b), f"{what}: native has {len(a)} rows, langgraph {len(b)}"
