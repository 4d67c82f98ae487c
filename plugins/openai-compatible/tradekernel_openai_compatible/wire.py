"""Translation between :mod:`tradekernel.llm` types and the OpenAI chat/completions wire format."""

from __future__ import annotations

import json
import math
from typing import Any

from tradekernel.llm import FINISH_REASON_MISSING, ChatRequest, ProviderError, Usage


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


def _text(content: Any) -> str | None:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # content parts: [{"type": "text", "text": "..."}]
        parts = [p.get("text") for p in content if isinstance(p, dict)]
        text = "".join(p for p in parts if isinstance(p, str))
        return text or None
    return None


def _tool_arguments(message: dict[str, Any]) -> list[str]:
    """The ``function.arguments`` of every tool call, in order (an object some servers
    send instead of a string is serialized)."""
    calls = message.get("tool_calls")
    if not isinstance(calls, list):
        return []
    found: list[str] = []
    for call in calls:
        function = call.get("function") if isinstance(call, dict) else None
        if not isinstance(function, dict):
            continue
        arguments = function.get("arguments")
        if isinstance(arguments, dict):
            found.append(json.dumps(arguments))
        elif isinstance(arguments, str) and arguments.strip():
            found.append(arguments)
    return found


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
    an ``error`` object, ``bad_response`` when it is not a chat completion."""
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
    content = _text(message.get("content"))
    arguments = _tool_arguments(message)
    if arguments:  # every answer the model gave is read: two different ones are ambiguous
        texts = [content] if (content or "").strip() else []
        content = "\n".join([*texts, *arguments])
    refusal = message.get("refusal")
    model = body.get("model")
    return {
        "model": model if isinstance(model, str) else "",
        "content": content,
        "refusal": refusal if isinstance(refusal, str) and refusal else None,
        "finish_reason": parse_finish_reason(choice.get("finish_reason")),
        "usage": parse_usage(body.get("usage")),
    }
