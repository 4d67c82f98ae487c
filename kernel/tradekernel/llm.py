"""Public chat types that LLM provider plugins implement against.

Plugins import them from :mod:`tradekernel.api` (``Attempt`` as ``ChatAttempt``). Providers
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
    """``system``, ``user``, ``assistant`` or ``tool``."""
    content: str
    """The message text."""


@frozen
class ChatRequest:
    """A provider-neutral chat completion request."""

    model: str
    """The model to ask, as the provider names it."""
    messages: tuple[ChatMessage, ...] = field(converter=tuple)
    """The conversation so far, oldest first."""
    temperature: float | None = 0.0
    """Sampling temperature; ``None`` leaves the provider's default."""
    max_tokens: int | None = None
    """The most tokens the answer may have; ``None`` leaves the provider's default."""
    response_schema: dict[str, Any] | None = None
    """A JSON schema for the answer; providers that support structured output send it."""
    schema_name: str = "answer"
    """The name given to ``response_schema`` where the wire format needs one."""
    metadata: dict[str, Any] = field(factory=dict)
    """About the request, for records (the LLM strategist puts its prompt and schema
    versions here); not part of the conversation."""


@frozen
class Usage:
    """Token counts and cost of one answer, as far as the provider reports them."""

    prompt_tokens: int | None = None
    """Tokens in the request."""
    completion_tokens: int | None = None
    """Tokens in the answer."""
    total_tokens: int | None = None
    """Both together."""
    cost_usd: float | None = None
    """Cost as reported by the provider, when it reports one."""


@frozen
class Attempt:
    """One try of a request: HTTP status or error type, and latency."""

    number: int
    """1 for the first try."""
    status: int | None = None
    """The HTTP status, when one came back."""
    error_type: str | None = None
    """A stable code for a failed try (``timeout``, ``http_429``, ...)."""
    latency_ms: float = 0.0
    """How long the try took, in milliseconds."""


@define
class ChatResponse:
    """A provider-neutral answer. ``content`` is the text the model produced (tool-call
    arguments when the model answered through a tool call); ``refusal`` is set when the
    model refused."""

    model: str
    """The model that answered, as the provider reports it."""
    content: str | None
    """The answer's text; ``None`` when there is none."""
    refusal: str | None = None
    """The model's refusal text, when it refused."""
    finish_reason: str | None = None
    """Why the model stopped, lower-cased (see :data:`NORMAL_FINISH_REASONS`);
    :data:`FINISH_REASON_MISSING` when the wire should have said and did not; ``None``
    when the provider does not report it."""
    usage: Usage = field(factory=Usage)
    """Tokens and cost."""
    attempts: list[Attempt] = field(factory=list)
    """Every try the provider made, the last one answered."""
    latency_ms: float = 0.0
    """From the first try to the answer, in milliseconds."""
    provider: str = ""
    """The name of the provider component that answered."""
    raw: dict[str, Any] | None = None
    """The provider's decoded answer, for diagnosis, when it keeps one; dropped when the
    answer held a secret."""


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
