"""520 seeded adversarial answers through the real HTTP provider path in one run:
the local OpenRouter-shaped server answers each cycle's request with the next answer
of the corpus; no answer labelled invalid or ambiguous yields an intent or an order,
nothing raises, every hold has a reason, the daily report counts every hold reason,
and the echoed API key is stored nowhere."""

from __future__ import annotations

import re
import textwrap
from collections import Counter
from pathlib import Path

from tradekernel.runtime import Runtime, run_cycles
from tradekernel_llm.testing import corpus
from tradekernel_openai_compatible.testing import completion
from tradekernel_report.strategy import strategist_llm

from .conftest import API_KEY, CONFIG, KEY_ENV, USAGE

SIZE = 520


def test_adversarial_answers_in_one_run(server, kernel_factory, tmp_path: Path):
    cases = corpus(SIZE, seed=4242, secret=API_KEY)
    kinds = Counter(c.kind for c in cases)
    for kind in ("secret_escaped", "careless_hold", "mixed_bare_list", "lookalike_key"):
        assert kinds[kind] > 0, kind
    for case in cases:
        server.push(
            body=completion(
                case.content, refusal=case.refusal, finish_reason=case.finish_reason, usage=USAGE
            )
        )
    config = (
        textwrap.dedent(CONFIG)
        .format(state_dir="{state_dir}", strategist="llm", base_url=server.base_url)
        .replace("breaker_failures = 2", "breaker_failures = 1000000")
        .replace("bars = 400", f"bars = {SIZE + 100}")
    )
    kernel, rec = kernel_factory.build(config, environ={KEY_ENV: API_KEY})
    with Runtime(kernel) as runtime:
        states = run_cycles(runtime, cycles=SIZE)
        stored = runtime.store.list_intents()
        assert runtime.store.verify_journal().ok
    kernel.close()

    assert len(states) == SIZE and server.count == SIZE  # one answer per cycle, in order
    wrong = []
    for index, (case, state) in enumerate(zip(cases, states, strict=True)):
        decision = state.decision
        if decision.error_type == "internal_error" or decision.hold_reason == "strategist_error":
            wrong.append((index, case.kind, "exception", decision.detail))
        elif case.label == "trade":
            if not decision.intents or decision.error_type is not None:
                wrong.append((index, case.kind, "valid answer lost", decision.error_type))
        elif decision.intents or state.intents or state.submitted:
            wrong.append((index, case.kind, "intents from a bad answer", case.label))
        elif case.label in ("invalid", "ambiguous") and not decision.error_type:
            wrong.append((index, case.kind, "a hold without a reason code", decision.hold_reason))
        elif case.label == "ambiguous" and decision.error_type != "ambiguous_answer":
            wrong.append((index, case.kind, "not ambiguous_answer", decision.error_type))
        elif case.error_type and decision.error_type != case.error_type:
            wrong.append((index, case.kind, case.error_type, decision.error_type))
        elif decision.is_hold and not decision.hold_reason:
            wrong.append((index, case.kind, "a hold without a reason", None))
    assert wrong == []
    # intents exist only from the cycles of valid trades, and the run did trade
    trade_cycles = {s.cycle_id for c, s in zip(cases, states, strict=True) if c.label == "trade"}
    assert stored and {r.cycle_id for r in stored} <= trade_cycles

    # the report counts every hold reason, the new ones included
    section = strategist_llm(rec.events)
    expected = Counter(s.decision.error_type for s in states if s.decision.error_type)
    assert section["calls"] == SIZE and section["failed"] == expected.total()
    assert section["error_types"] == dict(sorted(expected.items()))
    for code in ("truncated", "content_filtered", "ambiguous_answer", "secret_in_answer"):
        assert expected[code] > 0

    # the echoed key is in no file of the state dir (state.db, WAL, events, paper.db)
    files = [p for p in (tmp_path / "state").rglob("*") if p.is_file()]
    assert [p.name for p in files if API_KEY.encode() in p.read_bytes()] == []
    # nor spelt with JSON escapes (the secret_escaped class): no 8-character piece of it
    pieces = [API_KEY[i : i + 8].encode() for i in range(len(API_KEY) - 7)]
    escaped = [p.name for p in files if any(x in unescaped(p) for x in pieces)]
    assert escaped == []


def unescaped(path: Path) -> bytes:
    """The file's bytes with JSON ``\\u00XX`` escapes decoded (twice: escaped JSON in
    JSON)."""
    data = path.read_bytes()
    for _ in range(2):
        data = re.sub(rb"\\{1,3}u00([0-9a-fA-F]{2})", lambda m: bytes.fromhex(m[1].decode()), data)
    return data
