"""From a provider's :class:`~tradekernel.llm.ChatResponse` to a :class:`Decision`.

The order of the checks is the contract (docs/llm.md, "Parsing and normalization"):

1. a configured secret in the answer, as written or once its JSON escapes are decoded
   (``\\u0073k-...``) → ``secret_in_answer`` (the answer is redacted in place first, so
   nothing stored or emitted later can carry it);
2. a ``finish_reason`` other than a normal stop → ``truncated`` or
   ``content_filtered``, whatever the text parses to;
3. a refusal → ``refusal``;
4. the text is parsed (:func:`~.parse.extract_answers`) and every JSON value in it is
   normalized; values that normalize to different decisions → ``ambiguous_answer``.

Nothing here raises.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from tradekernel.api import NORMAL_FINISH_REASONS, ChatResponse, Decision, StrategyInput

from .normalize import NormalizeOptions, normalize
from .parse import ParseFailure, extract_answers

CONTENT_FILTER_REASONS = frozenset({"content_filter", "content_filtered"})
DECODE_ROUNDS = 3
"""How many layers of JSON escaping (a JSON string holding JSON) are decoded to look
for a secret."""

_ESCAPE = re.compile(r'\\(?:u(?![dD][89a-fA-F])([0-9a-fA-F]{4})|(["\\/bfnrt]))')
_SIMPLE_ESCAPES = {"b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}


def _unescape(match: re.Match[str]) -> str:
    code, simple = match.groups()
    if code is not None:
        return chr(int(code, 16))
    return _SIMPLE_ESCAPES.get(simple, simple)


def decode_escapes(text: str) -> str:
    """``text`` with its JSON string escapes (``\\uXXXX`` except surrogates, ``\\n``,
    ``\\"``...) decoded wherever they are: in JSON strings, in broken JSON or in prose."""
    return _ESCAPE.sub(_unescape, text) if "\\" in text else text


def _redact_text(text: str, redact: Callable[[str], str]) -> str:
    """``text`` redacted; when only a decoded form of it (one to :data:`DECODE_ROUNDS`
    layers of JSON escapes) holds a secret, that decoded form redacted."""
    clean = redact(text)
    if clean != text:
        return clean
    decoded = text
    for _ in range(DECODE_ROUNDS):
        unescaped = decode_escapes(decoded)
        if unescaped == decoded:
            break
        decoded = unescaped
        clean = redact(decoded)
        if clean != decoded:
            return clean
    return text


def redact_answer(response: ChatResponse, redact: Callable[[str], str]) -> bool:
    """Redact the model's text (content, refusal, model name) in place with the kernel's
    secret redactor; ``True`` when that changed anything (the answer held a secret).

    A secret hidden behind JSON escapes (``"\\u0073k-or-..."`` decodes to the key) counts:
    the text is also checked once its escapes are decoded, and when only the decoded
    form holds a secret, the text is replaced by that form, redacted.
    ``response.raw`` is dropped when a secret was found: it holds the same text."""
    leaked = False
    for name in ("content", "refusal", "model"):
        text = getattr(response, name)
        if isinstance(text, str) and text:
            clean = _redact_text(text, redact)
            if clean != text:
                setattr(response, name, clean)
                leaked = True
    if leaked:
        response.raw = None
    return leaked


def finish_problem(finish_reason: Any) -> str | None:
    """``None`` when the model finished normally (or the provider does not report a
    finish reason); else ``content_filtered`` or ``truncated`` (also for a value that
    is not a string, which a third-party provider may pass on from its wire)."""
    if finish_reason is None:
        return None
    if not isinstance(finish_reason, str):
        return "truncated"
    reason = finish_reason.strip().lower()
    if reason in NORMAL_FINISH_REASONS:
        return None
    return "content_filtered" if reason in CONTENT_FILTER_REASONS else "truncated"


def _same(decision: Decision) -> tuple[Any, ...]:
    """What two readings of one answer must share to be the same decision."""
    return (decision.error_type, tuple(i.id for i in decision.intents))


def interpret(
    response: ChatResponse,
    inputs: StrategyInput,
    options: NormalizeOptions,
    *,
    secret_found: bool = False,
) -> Decision:
    """The decision for ``response`` (checks 2 to 4 above; ``secret_found`` is check 1's
    outcome). Never raises."""
    if secret_found:
        return Decision.hold(
            "the answer contains a configured secret (stored redacted)",
            error_type="secret_in_answer",
        )
    problem = finish_problem(response.finish_reason)
    if problem is not None:
        return Decision.hold(
            "the answer is incomplete" if problem == "truncated" else "the answer was filtered",
            error_type=problem,
            detail=f"finish_reason={str(response.finish_reason)[:40]!r}",
        )
    if response.refusal:
        return Decision.hold(
            "the model refused", error_type="refusal", detail=response.refusal[:300]
        )
    try:
        answers = extract_answers(response.content)
    except ParseFailure as exc:
        return Decision.hold(str(exc), error_type=exc.error_type)
    first, *others = (normalize(answer, inputs, options) for answer in answers)
    if any(_same(other) != _same(first) for other in others):
        return Decision.hold(
            "the answer holds several different decisions",
            error_type="ambiguous_answer",
            detail=f"{len(answers)} JSON values",
        )
    return first


def decide_answer(
    response: ChatResponse,
    inputs: StrategyInput,
    options: NormalizeOptions,
    redact: Callable[[str], str],
) -> Decision:
    """:func:`redact_answer` then :func:`interpret`: the whole path from a provider's
    answer to a decision. ``response`` is left redacted."""
    return interpret(response, inputs, options, secret_found=redact_answer(response, redact))
