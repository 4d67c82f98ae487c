"""tradekernel-openai-compatible: an LLM provider for any OpenAI-compatible API.

Select it with ``[components] llm_provider = "openai-compatible"`` and configure
``[llm_provider.openai-compatible]`` (``base_url`` is required). See docs/llm.md.
"""

from __future__ import annotations

from typing import Any

from tradekernel import hookimpl
from tradekernel.api import lazy_exports

from .config import HTTPClientConfig, OpenAICompatibleConfig

_LAZY = {
    "ChatClient": ".client",
    "parse_retry_after": ".client",
    "status_error_type": ".client",
    "OpenAICompatibleProvider": ".provider",
    "build_provider": ".provider",
    "config_where": ".provider",
    "create": ".provider",
    "read_api_key": ".provider",
    "build_payload": ".wire",
    "parse_completion": ".wire",
}
"""Imported on first use: the HTTP client (httpx) only when a provider is built."""

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
        _create,
        config=OpenAICompatibleConfig,
        version="1",
        description="Any OpenAI-compatible chat/completions server (Ollama, vLLM, OpenAI)",
    )


def _create(config: OpenAICompatibleConfig, ctx: Any) -> Any:
    from .provider import create

    return create(config, ctx)


__getattr__ = lazy_exports(__name__, _LAZY)
"""The names of :data:`__all__`, each imported on first use: registering this plugin
imports only what its registration needs."""
