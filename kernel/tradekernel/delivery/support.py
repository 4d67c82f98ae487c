"""Small helpers for notifier plugins: configuration errors that name file, section and
key, and secrets read through ``ctx.secret`` (never echoed)."""

from __future__ import annotations

from typing import Any

from ..errors import ConfigError


def config_label(ctx: Any) -> str:
    """The configuration file's name, as error messages show it."""
    path = getattr(ctx.settings, "config_path", None)
    return path.name if path else "plugins.toml"


def config_error(ctx: Any, notifier: str, key: str, message: str) -> ConfigError:
    """``plugins.toml: [notifier.<name>] <key>: <message>``, naming where ``key`` was
    really set: the file, or ``environment TRADEKERNEL_NOTIFIER__<NAME>__<KEY>`` (as
    :meth:`ComponentContext.config_error` does for any kind)."""
    component_error = getattr(ctx.settings, "component_error", None)
    if component_error is None:  # a settings object that does not know its sources
        return ConfigError(f"{config_label(ctx)}: [notifier.{notifier}] {key}: {message}")
    return component_error("notifier", notifier, key, message)


def require_secret(
    ctx: Any, notifier: str, key: str, env_name: str, *, partial: bool = True
) -> str:
    """The value of the environment variable ``env_name`` named by config ``key``, or a
    :class:`ConfigError` that names the variable (never its value). ``partial=False``
    for an identifier such as a user name (see :meth:`Settings.secret`)."""
    value = ctx.secret(env_name) if partial else ctx.secret(env_name, partial=False)
    if not value:
        raise config_error(ctx, notifier, key, f"environment variable {env_name} is not set")
    return value


def require_http_url(ctx: Any, notifier: str, key: str, url: str) -> str:
    """``url`` if it is an http(s) URL; the error never shows the URL (it may hold a token)."""
    if not url.startswith(("https://", "http://")):
        raise config_error(ctx, notifier, key, "expected an http:// or https:// URL")
    return url
