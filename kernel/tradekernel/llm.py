"""Public chat types that LLM provider plugins implement against.

This import path (``tradekernel.llm``) is stable API: a test pins it. Providers
translate these to and from their wire format; strategists only see these.
"""

from __future__ import annotations

from typing import Any

from attrs import define, field, frozen


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
    ) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.status = status
        self.attempts = attempts or []
        self.retryable = retryable


__all__ = ["Attempt", "ChatMessage", "ChatRequest", "ChatResponse", "ProviderError", "Usage"]
