"""Public chat types that LLM provider plugins implement against.

This import path (``tradekernel.llm``) is stable API: a test pins it. Providers
translate these to and from their wire format; strategists only see these.
"""

from __future__ import annotations

from typing import Any

from attrs import define, field, frozen

NORMAL_FINISH_REASONS = frozenset(
    {"stop", "tool_calls", "function_call", "end_turn", "stop_sequence", "eos_token", "eos"}
)
"""``finish_reason`` values that mean the model finished its answer normally
(``eos_token``/``eos``: Hugging Face TGI and vLLM-style servers). Any other
value (``length``, ``content_filter``, ``error``, ...) means the text is not a complete
answer, whatever it parses to."""
FINISH_REASON_MISSING = "missing"
"""The ``finish_reason`` a provider sets when its wire format always carries one and the
server sent none (``None`` means the provider does not report finish reasons at all)."""


@frozen
class ChatMessage:
    """One message of a conversation; ``role`` is system, user, assistant or tool."""

    role: str
    content: str


@frozen
class ChatRequest:
    """A provider-neutral chat completion request."""

    model: str
    messages: tuple[ChatMessage, ...] = field(converter=tuple)
    temperature: float | None = 0.0
    max_tokens: int | None = None
    response_schema: dict[str, Any] | None = None
    """A JSON schema for the answer; providers that support structured output send it."""
    schema_name: str = "answer"
    metadata: dict[str, Any] = field(factory=dict)


@frozen
class Usage:
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    total_tokens: int | None = None
    cost_usd: float | None = None
    """Cost as reported by the provider, when it reports one."""


@frozen
class Attempt:
    """One try of a request: HTTP status or error type, and latency."""

    number: int
    status: int | None = None
    error_type: str | None = None
    latency_ms: float = 0.0


@define
class ChatResponse:
    """A provider-neutral answer. ``content`` is the text the model produced (tool-call
    arguments when the model answered through a tool call); ``refusal`` is set when the
    model refused."""

    model: str
    content: str | None
    refusal: str | None = None
    finish_reason: str | None = None
    """Why the model stopped, lower-cased (see :data:`NORMAL_FINISH_REASONS`);
    :data:`FINISH_REASON_MISSING` when the wire should have said and did not; ``None``
    when the provider does not report it."""
    usage: Usage = field(factory=Usage)
    attempts: list[Attempt] = field(factory=list)
    latency_ms: float = 0.0
    provider: str = ""
    raw: dict[str, Any] | None = None


class ProviderError(Exception):
    """A provider call failed for good. ``error_type`` is a stable code
    (``timeout``, ``http_401``, ``rate_limited``, ``bad_response``, ...)."""

    def __init__(
        self,
        message: str,
        *,
        error_type: str,
        status: int | None = None,
        attempts: list[Attempt] | None = None,
        retryable: bool = False,
        model: str | None = None,
    ) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.status = status
        self.attempts = attempts or []
        self.retryable = retryable
        self.model = model
        """The model the request asked for (the configured one), when known."""


__all__ = [
    "FINISH_REASON_MISSING",
    "NORMAL_FINISH_REASONS",
    "Attempt",
    "ChatMessage",
    "ChatRequest",
    "ChatResponse",
    "ProviderError",
    "Usage",
]
