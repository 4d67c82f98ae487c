"""Shared state of one CLI invocation: options, settings and kernel, built lazily."""

from __future__ import annotations

import json
import sys
from typing import Any

import click


class AppContext:
    """Options of one invocation; settings, registry and kernel are built on first use.

    A plain class (not attrs) and lazy imports keep ``tradekernel --version`` light."""

    def __init__(
        self,
        config_path: str | None = None,
        verbose: int = 0,
        overrides: dict[str, Any] | None = None,
        settings: Any = None,
        registry: Any = None,
        kernel: Any = None,
    ) -> None:
        self.config_path = config_path
        self.verbose = verbose
        self.overrides: dict[str, Any] = dict(overrides or {})
        self._settings = settings
        self._registry = registry
        self._kernel = kernel
        self._closers: list[Any] = []

    def settings(self) -> Any:
        if self._settings is None:
            from ..settings import Settings

            self._settings = Settings.load(self.config_path, overrides=self.overrides)
            configure_logging(self.verbose, self._settings)
            _REDACTORS.append(self._settings.redact)
        return self._settings

    def registry(self) -> Any:
        if self._registry is None:
            from ..plugins import PluginRegistry

            self._registry = PluginRegistry(block=self.settings().plugins.block).load()
        return self._registry

    def kernel(self) -> Any:
        if self._kernel is None:
            from ..kernel import Kernel

            self._kernel = Kernel(self.settings(), self.registry())
        return self._kernel

    def on_close(self, callback: Any) -> None:
        """Call ``callback`` when the command finishes (before the kernel closes)."""
        self._closers.append(callback)

    def close(self) -> None:
        for callback in reversed(self._closers):
            callback()
        self._closers.clear()
        if self._kernel is not None:
            self._kernel.close()


_REDACTORS: list[Any] = []


def redact_text(text: str) -> str:
    """``text`` with every secret the loaded settings handed out masked (the newest
    settings first: masking a piece of a secret first could leave the rest of it, too
    short to count as a piece, unmasked)."""
    for redact in reversed(_REDACTORS):
        text = redact(text)
    return text


def configure_logging(verbose: int, settings: Any = None) -> None:
    """Log to stderr at ``[kernel] log_level`` (default WARNING); -v means INFO, -vv DEBUG.
    Secrets are redacted from every message."""
    from loguru import logger

    default = settings.kernel.log_level if settings is not None else "WARNING"
    level = default if not verbose else ("INFO" if verbose == 1 else "DEBUG")
    logger.remove()
    # Redact the whole formatted record, traceback included (an exception's text or a
    # variable in it may carry a secret); never print variable values (diagnose).
    logger.add(
        lambda text: sys.stderr.write(redact_text(text)),
        level=level,
        format="{time:HH:mm:ss} {level: <7} {message}",
        diagnose=False,
        backtrace=False,
    )


pass_app = click.make_pass_decorator(AppContext, ensure=True)


def echo_json(data: Any) -> None:
    """Print ``data`` (domain objects allowed) as indented JSON on stdout."""
    from ..serde import unstructure

    click.echo(json.dumps(unstructure(data), indent=2, sort_keys=False, default=str))


def json_option(f: Any) -> Any:
    return click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")(f)
