"""10,000 seeded adversarial answers (``tradekernel_llm.testing.corpus``) through the
wire parser, the secret check, the parser and the normalizer: no intent from an
answer labelled invalid or ambiguous, no exception, a reason on every hold, and every
valid answer kept. About a second."""

from __future__ import annotations

from collections import Counter

import pytest
from tradekernel.api import ChatResponse, Settings
from tradekernel_llm import NormalizeOptions, decide_answer
from tradekernel_llm.answer import decode_escapes
from tradekernel_llm.testing import CLASSES, LABELS, corpus
from tradekernel_openai_compatible.testing import completion
from tradekernel_openai_compatible.wire import parse_completion

SECRET = "sk-or-v1-corpus-SECRET-7f3a9b2e4d1c"  # random-looking, as real keys are
SIZE = 10_000
OPTIONS = NormalizeOptions(prompt_version="v1", max_intents=3)


@pytest.fixture(scope="module")
def redact():
    """The kernel's own redactor, knowing the secret the way a provider reveals it."""
    settings = Settings.load(None, environ={"OPENROUTER_API_KEY": SECRET})
    assert settings.secret("OPENROUTER_API_KEY") == SECRET
    return settings.redact


def outcome_problem(case, decision) -> str | None:
    """Why ``decision`` is wrong for ``case``, or ``None``."""
    if decision.error_type == "internal_error":
        return "internal error"
    if decision.is_hold and not (decision.hold_reason and decision.hold_reason.strip()):
        return "a hold without a reason"
    if case.label == "trade":
        return None if decision.intents and decision.error_type is None else "valid answer lost"
    if decision.intents:
        return f"{len(decision.intents)} intents from a {case.label} answer"
    if case.label == "hold":
        return None if decision.error_type is None else f"hold became {decision.error_type}"
    if decision.error_type is None:
        return "no reason code"
    if case.label == "ambiguous" and decision.error_type != "ambiguous_answer":
        return f"ambiguous answer held as {decision.error_type}"
    if case.error_type is not None and decision.error_type != case.error_type:
        return f"expected {case.error_type}, got {decision.error_type}"
    return None


def test_ten_thousand_adversarial_answers(inputs, redact):
    cases = corpus(SIZE, seed=20261129, secret=SECRET)
    assert len(cases) == SIZE
    assert {c.kind for c in cases} == set(CLASSES)  # every class is in the sample
    assert Counter(c.label for c in cases).keys() == set(LABELS)
    problems: list[str] = []
    for index, case in enumerate(cases):
        body = completion(case.content, refusal=case.refusal, finish_reason=case.finish_reason)
        response = ChatResponse(**parse_completion(body))
        decision = decide_answer(response, inputs, OPTIONS, redact)  # must not raise
        problem = outcome_problem(case, decision)
        if problem is not None:
            problems.append(f"#{index} {case.kind}: {problem}: {str(case.content)[:120]!r}")
        if case.kind.startswith("secret"):  # also once JSON escapes are decoded
            assert SECRET not in repr(decision) and SECRET not in repr(response)
            shown = decode_escapes(decode_escapes(str(response.content)))
            assert SECRET[6:14].lower() not in shown.lower()
    assert problems == [], f"{len(problems)} wrong decisions, first: {problems[:5]}"


def test_the_corpus_is_seeded():
    assert corpus(50, seed=1) == corpus(50, seed=1)
    assert corpus(50, seed=1) != corpus(50, seed=2)
    kinds = {c.kind for c in corpus(500, seed=3)}  # no secret given
    assert "secret" not in kinds and "secret_escaped" not in kinds
