"""``budget status`` and ``budget report`` over hostile recorded events (any value in any
field, terminal escapes, huge and non-finite numbers): they never crash, never print raw
control characters, and count nothing they cannot read."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .conftest import BUDGETS, record, run, write, write_config

VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([1e308, 1.7e308, 9.9e307]),  # finite, yet two of them overflow
    st.text(max_size=8),
    st.sampled_from(["hydrate", "paper", "\x1b[31mred", "1e999", "NaN", "-5"]),
    st.lists(st.sampled_from(["hydrate", "\x1b]0;x\x07", 3]), max_size=3),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)
FIELDS = st.sampled_from(
    [
        "node",
        "elapsed_ms",
        "broker",
        "used",
        "refused",
        "dropped",
        "fits",
        "model",
        "total_tokens",
        "prompt_tokens",
        "reported_cost_usd",
        "estimated_cost_usd",
        "prompt_digest",
        "prompt_version",
        "cache_hit",
        "ok",
        "next",
        "action",
    ]
)
KINDS = st.sampled_from(
    [
        ("budget", "node_over"),
        ("budget", "broker_usage"),
        ("budget", "broker_refused"),
        ("budget", "prompt_trimmed"),
        ("budget", "exhausted"),
        ("strategist_llm", "decision"),
        ("commander", "route"),
        ("commander", "transition"),
        ("commander", "end"),
        ("executor", "submitted"),
    ]
)


def _refuse(constant: str):
    raise ValueError(f"not JSON: {constant}")


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(st.tuples(KINDS, st.dictionaries(FIELDS, VALUES, max_size=6)), max_size=25))
def test_hostile_events_never_break_status_or_report(tmp_path, capsys, events):
    config = str(write_config(tmp_path, BUDGETS))
    state = tmp_path / "state"
    for path in (state / "events").glob("*.jsonl"):
        path.unlink()
    now = datetime.now(UTC)
    records = []
    for i, ((stage, kind), fields) in enumerate(events):
        at = now - timedelta(seconds=len(events) - i)
        text = json.dumps(record(at, stage, kind, "c", **fields), allow_nan=True)
        records.append(text)
    write(state, records)
    for args in (("status",), ("report", "--days", "1")):
        for fmt in ((), ("--json",)):
            code, out, err = run(capsys, "--config", config, "budget", *args, *fmt)
            assert code in (0, 4), err
            assert "\x1b" not in out and "\x07" not in out
            assert "unexpected" not in err
            if fmt:  # strict JSON: NaN and Infinity are not JSON
                json.loads(out, parse_constant=_refuse)
