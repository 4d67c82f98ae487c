"""tradekernel-openai-compatible: an LLM provider for any OpenAI-compatible API.

Select it with ``[components] llm_provider = "openai-compatible"`` and configure
``[llm_provider.openai-compatible]`` (``base_url`` is required). See docs/llm.md.
"""

from __future__ import annotations

from tradekernel import hookimpl

from .client import ChatClient, parse_retry_after, status_error_type
from .config import HTTPClientConfig, OpenAICompatibleConfig
from .provider import (
    OpenAICompatibleProvider,
    build_provider,
    config_where,
    create,
    read_api_key,
)
from .wire import build_payload, parse_completion

__all__ = [
    "ChatClient",
    "HTTPClientConfig",
    "OpenAICompatibleConfig",
    "OpenAICompatibleProvider",
    "build_payload",
    "build_provider",
    "config_where",
    "create",
    "parse_completion",
    "parse_retry_after",
    "read_api_key",
    "status_error_type",
]


@hookimpl
def register_llm_providers(register):
    register(
        "openai-compatible",
        create,
        config=OpenAICompatibleConfig,
        version="1",
        description="Any OpenAI-compatible chat/completions server (Ollama, vLLM, OpenAI)",
    )
