"""Typed configuration of the OpenAI-compatible provider (``[llm_provider.openai-compatible]``)."""

from __future__ import annotations

from attrs import define, field
from tradekernel.api import Duration, positive


@define(kw_only=True)
class HTTPClientConfig:
    """Connection and retry settings shared by every OpenAI-style provider."""

    model: str | None = None
    """Default model, used when the request does not name one."""
    connect_timeout: Duration = field(default=Duration(5), validator=positive)
    read_timeout: Duration = field(default=Duration(60), validator=positive)
    """A zero timeout would fail every request at once."""
    max_attempts: int = field(default=3, validator=positive)
    backoff_base: Duration = field(default=Duration(0.5))
    """First backoff step; the wait grows exponentially with full jitter."""
    backoff_max: Duration = field(default=Duration(8))
    retry_after_cap: Duration = field(default=Duration(30))
    """A server's ``Retry-After`` is honoured up to this many seconds."""
    structured_output: bool = True
    """Send the answer's JSON schema as ``response_format`` (``json_schema``)."""
    headers: dict[str, str] = field(factory=dict)
    """Extra HTTP headers sent with every request (never put secrets here)."""


@define(kw_only=True)
class OpenAICompatibleConfig(HTTPClientConfig):
    """``[llm_provider.openai-compatible]``: any server speaking OpenAI chat/completions."""

    base_url: str
    """Required, e.g. ``http://localhost:11434/v1`` for Ollama."""
    api_key_env: str | None = None
    """Name of the environment variable that holds the API key; local servers need none."""
