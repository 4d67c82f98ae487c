"""Translation between :mod:`tradekernel.llm` types and the OpenAI chat/completions wire format."""

from __future__ import annotations

import json
import math
from typing import Any

from tradekernel.api import FINISH_REASON_MISSING, ChatRequest, ProviderError, Usage


def build_payload(request: ChatRequest, model: str, *, structured_output: bool) -> dict[str, Any]:
    """The JSON body of ``POST /chat/completions`` for ``request``."""
    payload: dict[str, Any] = {
        "model": model,
        "messages": [{"role": m.role, "content": m.content} for m in request.messages],
    }
    if request.temperature is not None:
        payload["temperature"] = request.temperature
    if request.max_tokens is not None:
        payload["max_tokens"] = request.max_tokens
    if structured_output and request.response_schema is not None:
        payload["response_format"] = {
            "type": "json_schema",
            "json_schema": {
                "name": request.schema_name,
                "strict": True,
                "schema": request.response_schema,
            },
        }
    return payload


def error_message(body: Any) -> str:
    """The human-readable message of an ``{"error": {...}}`` body, or ``""``."""
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict):
            return str(error.get("message") or error.get("code") or "")[:300]
        if isinstance(error, str):
            return error[:300]
    return ""


def _int(value: Any) -> int | None:
    """A token count: a non-negative integer, else unknown (a negative count would
    refund the daily budget)."""
    ok = isinstance(value, int) and not isinstance(value, bool) and value >= 0
    return value if ok else None


def parse_usage(raw: Any) -> Usage:
    """Token counts and the provider-reported ``cost`` (OpenRouter), when present."""
    if not isinstance(raw, dict):
        return Usage()
    cost = raw.get("cost")
    cost_usd = None
    if isinstance(cost, int | float) and not isinstance(cost, bool):
        cost_usd = float(cost) if math.isfinite(cost) and cost >= 0 else None
    return Usage(
        prompt_tokens=_int(raw.get("prompt_tokens")),
        completion_tokens=_int(raw.get("completion_tokens")),
        total_tokens=_int(raw.get("total_tokens")),
        cost_usd=cost_usd,
    )


SCRATCHPAD_PARTS = frozenset({"reasoning", "thinking", "redacted_thinking"})
"""Content part types that hold the model's reasoning, not its answer (skipped)."""
LENGTH_NATIVE_REASONS = ("length", "max_tokens", "max_output_tokens", "token_limit")
"""Pieces of a ``native_finish_reason`` (OpenRouter passes on the upstream model's own
reason: ``MAX_TOKENS``, ``max_tokens``, ``length``) that mean the answer was cut."""


def _unreadable(what: str) -> ProviderError:
    """An answer field whose shape is not understood: it may hold a hold, so the whole
    answer is a provider failure (a hold), never skipped."""
    return ProviderError(f"{what} has a shape this client does not read", error_type="bad_response")


def _blank(value: Any) -> bool:
    """Nothing in it: ``None``, ``""``, whitespace, an empty list or object."""
    if isinstance(value, str):
        return not value.strip()
    return value is None or (isinstance(value, list | dict) and not value)


def _content(content: Any) -> tuple[str | None, str | None]:
    """``(text, refusal)`` of ``message.content``: a string, or a list of parts
    (``{"type": "text", "text": ...}``, ``{"type": "refusal", "refusal": ...}``; reasoning
    parts are skipped). Anything else that is not empty is unreadable."""
    if isinstance(content, str) or content is None:
        return content, None
    if not isinstance(content, list):
        if _blank(content):
            return None, None
        raise _unreadable("choices[0].message.content")
    texts: list[str] = []
    refusals: list[str] = []
    for part in content:
        if _blank(part):
            continue
        kind = part.get("type") if isinstance(part, dict) else None
        if kind in SCRATCHPAD_PARTS:
            continue
        if kind == "refusal":
            refusals.append(_refusal_text(part.get("refusal")) or "refused")
            continue
        if not isinstance(part, dict) or kind not in (None, "text", "output_text"):
            raise _unreadable("a content part")
        extra = {k: v for k, v in part.items() if k not in ("type", "text", "annotations")}
        text = part.get("text")
        if not (text is None or isinstance(text, str)) or any(
            not _blank(v) for v in extra.values()
        ):
            raise _unreadable("a content part")
        texts.append(text or "")
    return "".join(texts) or None, "\n".join(refusals) or None


def _refusal_text(refusal: Any) -> str | None:
    """``message.refusal``: a string, or any other non-empty value (``true``, an object),
    which is a refusal too; ``None``, ``false`` and empty values are not."""
    if isinstance(refusal, str):
        return refusal.strip() or None
    if refusal is None or refusal is False or _blank(refusal):
        return None
    return json.dumps(refusal, default=str)[:300]


def _arguments(function: Any, where: str) -> str | None:
    """The ``arguments`` of a tool call's ``function`` or a legacy ``function_call``: a
    JSON string, or an object some servers send (serialized). Any other non-empty value,
    or a non-empty field other than ``name``/``arguments``, is unreadable."""
    if _blank(function):
        return None
    if not isinstance(function, dict):
        raise _unreadable(where)
    if any(not _blank(v) for k, v in function.items() if k not in ("name", "arguments")):
        raise _unreadable(where)
    arguments = function.get("arguments")
    if _blank(arguments):
        return None
    if isinstance(arguments, dict):
        return json.dumps(arguments)
    if isinstance(arguments, str):
        return arguments
    raise _unreadable(f"{where}.arguments")


def _tool_arguments(message: dict[str, Any]) -> list[str]:
    """The arguments of every tool call, in order, then of a legacy ``function_call``."""
    calls = message.get("tool_calls")
    if _blank(calls):
        calls = []
    if not isinstance(calls, list):
        raise _unreadable("choices[0].message.tool_calls")
    found: list[str] = []
    for call in calls:
        if _blank(call):
            continue
        if not isinstance(call, dict):
            raise _unreadable("a tool call")
        arguments = _arguments(call.get("function"), "a tool call's function")
        if arguments is not None:
            found.append(arguments)
    legacy = _arguments(message.get("function_call"), "choices[0].message.function_call")
    if legacy is not None:
        found.append(legacy)
    return found


def _native_truncation(value: Any) -> str | None:
    """The lower-cased ``native_finish_reason`` when it says the answer was cut by a
    token limit (OpenRouter reports ``finish_reason: stop`` for some of those)."""
    if not isinstance(value, str):
        return None
    reason = value.strip().lower()
    return reason if any(piece in reason for piece in LENGTH_NATIVE_REASONS) else None


def parse_finish_reason(value: Any) -> str:
    """``choices[0].finish_reason``, lower-cased. The chat/completions format always
    carries one, so a missing, empty or non-string value is
    :data:`~tradekernel.llm.FINISH_REASON_MISSING` (the strategist holds on it)."""
    if isinstance(value, str) and value.strip():
        return value.strip().lower()
    return FINISH_REASON_MISSING


def parse_completion(body: Any) -> dict[str, Any]:
    """The fields of a :class:`~tradekernel.llm.ChatResponse` from a 200 response body.

    Raises :class:`ProviderError` ``provider_error`` (retryable) when the body carries
    an ``error`` object, ``bad_response`` when it is not a chat completion or holds an
    answer field of a shape not understood (it may be a hold: never skipped). A truthy
    non-string ``refusal`` or a refusal content part is a refusal; a length-like
    ``native_finish_reason`` (OpenRouter) wins over a normal ``finish_reason``."""
    if not isinstance(body, dict):
        raise ProviderError("response is not a JSON object", error_type="bad_response")
    if body.get("error"):
        raise ProviderError(
            f"provider reported an error: {error_message(body) or 'unknown'}",
            error_type="provider_error",
            retryable=True,
        )
    choices = body.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise ProviderError("response has no choices", error_type="bad_response")
    choice = choices[0]
    if choice.get("error"):
        raise ProviderError(
            f"provider reported an error: {error_message(choice) or 'unknown'}",
            error_type="provider_error",
            retryable=True,
        )
    message = choice.get("message")
    if message is None:
        message = {}
    if not isinstance(message, dict):
        raise ProviderError("choices[0].message is not an object", error_type="bad_response")
    content, refused = _content(message.get("content"))
    arguments = _tool_arguments(message)
    if arguments:  # every answer the model gave is read: two different ones are ambiguous
        texts = [content] if (content or "").strip() else []
        content = "\n".join([*texts, *arguments])
    refusals = [r for r in (_refusal_text(message.get("refusal")), refused) if r]
    finish_reason = parse_finish_reason(choice.get("finish_reason"))
    if finish_reason != FINISH_REASON_MISSING:
        finish_reason = _native_truncation(choice.get("native_finish_reason")) or finish_reason
    model = body.get("model")
    return {
        "model": model if isinstance(model, str) else "",
        "content": content,
        "refusal": "\n".join(refusals) or None,
        "finish_reason": finish_reason,
        "usage": parse_usage(body.get("usage")),
    }
