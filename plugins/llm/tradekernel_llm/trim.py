"""The prompt-size budget (``[budgets] prompt_tokens``): a prompt over it is trimmed by
one fixed rule before it is sent, or the decision is a hold (docs/llm.md, "Prompt-size
budget").

The rule, in order, each step only while the prompt is still too large:

1. the bar history of the candidates, lowest-ranked first (the scanner's order: the
   last candidate is the least relevant), the ones held last;
2. whole candidates (their symbol and quote), lowest-ranked first, never one the
   strategy holds (it must stay sellable); the model cannot trade a dropped candidate
   (the answer is normalised against the trimmed candidates);
3. nothing else: the system message (the rules, the safety instructions, the output
   schema), the positions, the account and the limits are never dropped. A prompt still
   too large is a hold (``prompt_over_budget``), never an order.

The prompts hold no skill results and no conversation history, so there are none to
drop. Tokens are estimated as elsewhere in the strategist (four characters each).
"""

from __future__ import annotations

from collections.abc import Callable

import attrs
from attrs import frozen
from tradekernel.api import ChatMessage, StrategyInput

CHARS_PER_TOKEN = 4


def estimate_tokens(messages: list[ChatMessage]) -> int:
    """About one token per four characters of the messages."""
    return sum(len(m.content) for m in messages) // CHARS_PER_TOKEN + 1


@frozen
class Fit:
    """The outcome of :func:`fit_prompt`."""

    inputs: StrategyInput
    """The inputs the prompt was built from (trimmed when ``dropped``)."""
    messages: list[ChatMessage]
    tokens_before: int
    tokens_after: int
    dropped: list[str]
    """What was dropped, in order: ``bars:SYMBOL``, ``candidate:SYMBOL``."""
    fits: bool


def fit_prompt(
    inputs: StrategyInput, build: Callable[[StrategyInput], list[ChatMessage]], limit: int
) -> Fit:
    """The prompt ``build(inputs)`` trimmed to at most ``limit`` estimated tokens by the
    module's rule (``fits`` false when even the fully trimmed prompt is larger)."""
    messages = build(inputs)
    before = tokens = estimate_tokens(messages)
    dropped: list[str] = []
    if tokens <= limit:
        return Fit(inputs, messages, before, tokens, dropped, True)
    ranked = list(reversed(inputs.candidates))  # least relevant first
    held = [s for s in ranked if inputs.held(s) != 0]
    steps: list[tuple[str, str]] = [("bars", s) for s in ranked if s not in held]
    steps += [("bars", s) for s in held]
    steps += [("candidate", s) for s in ranked if s not in held]
    for what, symbol in steps:
        if what == "bars":
            if symbol not in inputs.bars:
                continue
            bars = {s: b for s, b in inputs.bars.items() if s != symbol}
            inputs = attrs.evolve(inputs, bars=bars)
        else:
            inputs = attrs.evolve(
                inputs,
                candidates=[s for s in inputs.candidates if s != symbol],
                quotes={s: q for s, q in inputs.quotes.items() if s != symbol},
            )
        dropped.append(f"{what}:{symbol}")
        messages = build(inputs)
        tokens = estimate_tokens(messages)
        if tokens <= limit:
            return Fit(inputs, messages, before, tokens, dropped, True)
    return Fit(inputs, messages, before, tokens, dropped, False)
