"""The ``openai-compatible`` LLM provider component."""

from __future__ import annotations

from typing import Any

from tradekernel.api import ChatRequest, ChatResponse, ComponentContext, ConfigError

from .client import ChatClient
from .config import OpenAICompatibleConfig


class OpenAICompatibleProvider:
    """An :class:`~tradekernel.components.LLMProvider` over an OpenAI-style HTTP API."""

    def __init__(self, client: ChatClient, name: str) -> None:
        self.client = client
        self.name = name

    def chat(self, request: ChatRequest) -> ChatResponse:
        """Answer ``request`` (see :meth:`ChatClient.chat`)."""
        return self.client.chat(request)

    def close(self) -> None:
        self.client.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.client!r})"


def read_api_key(
    ctx: ComponentContext, env_name: str | None, *, where: str, required: bool
) -> str | None:
    """The API key from the environment variable ``env_name`` (via ``ctx.secret``).

    A required key that is missing is a :class:`ConfigError` naming the variable only."""
    if not env_name:
        if required:
            raise ConfigError(f"{where} api_key_env: the name of the API key variable is required")
        return None
    key = ctx.secret(env_name)
    if not key and required:
        raise ConfigError(
            f"{where} api_key_env: environment variable {env_name} is not set "
            "(it must hold the API key)"
        )
    return key


def config_where(ctx: ComponentContext, section: str) -> str:
    """``plugins.toml: [section]``, the location prefix of configuration errors."""
    path = getattr(ctx.settings, "config_path", None)
    return f"{path.name if path else 'plugins.toml'}: {section}"


def build_provider(
    config: Any,
    ctx: ComponentContext,
    *,
    name: str,
    key_required: bool,
    headers: dict[str, str] | None = None,
    **client_kwargs: Any,
) -> OpenAICompatibleProvider:
    """A provider named ``name`` on ``config`` (any config with the HTTP client's keys):
    checks ``base_url``, reads the API key from the variable the config names."""
    where = config_where(ctx, f"[llm_provider.{name}]")
    if not config.base_url.strip():
        raise ConfigError(f"{where} base_url: must not be empty")
    key = read_api_key(ctx, config.api_key_env, where=where, required=key_required)
    client = ChatClient(
        config,
        base_url=config.base_url,
        api_key=key,
        provider=name,
        headers=headers,
        **client_kwargs,
    )
    return OpenAICompatibleProvider(client, name)


def create(
    config: OpenAICompatibleConfig, ctx: ComponentContext, **client_kwargs: Any
) -> OpenAICompatibleProvider:
    """Factory of ``llm_provider:openai-compatible`` (a key is optional: local servers)."""
    return build_provider(
        config, ctx, name="openai-compatible", key_required=False, **client_kwargs
    )
