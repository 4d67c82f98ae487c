"""tradekernel-openrouter: the OpenRouter LLM provider.

OpenRouter speaks the OpenAI chat/completions format, so this plugin reuses the
client of ``tradekernel-openai-compatible`` and adds what is OpenRouter's own: the
default ``base_url``, a required API key, the ``usage.cost`` it reports, and the
optional attribution headers (``HTTP-Referer``, ``X-Title``). See docs/llm.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from attrs import define
from tradekernel import hookimpl
from tradekernel_openai_compatible import HTTPClientConfig

if TYPE_CHECKING:
    from tradekernel.api import ComponentContext
    from tradekernel_openai_compatible import OpenAICompatibleProvider

DEFAULT_BASE_URL = "https://openrouter.ai/api/v1"

__all__ = ["DEFAULT_BASE_URL", "OpenRouterConfig", "create"]


@define(kw_only=True)
class OpenRouterConfig(HTTPClientConfig):
    """``[llm_provider.openrouter]``."""

    base_url: str = DEFAULT_BASE_URL
    model: str | None = "openrouter/auto"
    api_key_env: str = "OPENROUTER_API_KEY"
    """Name of the environment variable holding the key (required by OpenRouter)."""
    http_referer: str | None = None
    """Your app's URL, sent as ``HTTP-Referer`` (OpenRouter app attribution)."""
    app_title: str | None = None
    """Your app's name, sent as ``X-Title`` (and ``X-OpenRouter-Title``)."""


def attribution_headers(config: OpenRouterConfig) -> dict[str, str]:
    """The optional OpenRouter attribution headers the config asks for."""
    headers: dict[str, str] = {}
    if config.http_referer:
        headers["HTTP-Referer"] = config.http_referer
    if config.app_title:
        headers["X-Title"] = config.app_title
        headers["X-OpenRouter-Title"] = config.app_title
    return headers


def create(
    config: OpenRouterConfig, ctx: ComponentContext, **client_kwargs: Any
) -> OpenAICompatibleProvider:
    """Factory of ``llm_provider:openrouter`` (the API key is required)."""
    from tradekernel_openai_compatible import build_provider

    return build_provider(
        config,
        ctx,
        name="openrouter",
        key_required=True,
        headers=attribution_headers(config),
        **client_kwargs,
    )


@hookimpl
def register_llm_providers(register):
    register(
        "openrouter",
        create,
        config=OpenRouterConfig,
        version="1",
        description="OpenRouter chat completions (usage cost, attribution headers)",
    )
