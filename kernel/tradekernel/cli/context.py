"""Shared state of one CLI invocation: options, settings and kernel, built lazily."""

from __future__ import annotations

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
        self.env_names: set[str] = set()
        """Environment variables the command line names (``--hmac-key-env``): the
        settings' check of ``TRADEKERNEL_`` names accepts them. Add before :meth:`settings`."""
        self._settings = settings
        self._env_checked = settings is not None
        self._registry = registry
        self._kernel = kernel
        self._closers: list[Any] = []

    def settings(self) -> Any:
        settings = self._load_settings()
        if not self._env_checked:
            settings.check_env_names(self.env_names)
            self._env_checked = True
        return settings

    def _load_settings(self) -> Any:
        if self._settings is None:
            from ..settings import Settings

            self._settings = Settings.load(
                self.config_path, overrides=self.overrides, check_env_names=False
            )
            configure_logging(self.verbose, self._settings)
            _REDACTORS.append(self._settings.redact)
        return self._settings

    def registry(self, *, check_env_names: bool = True) -> Any:
        """The plugin registry ``[plugins]`` describes. ``check_env_names=False`` while a
        plugin's command is looked up: the command has not parsed the variable names its
        options add (``--hmac-key-env``) yet, so the settings' name check waits for it."""
        if self._registry is None:
            from ..plugins import PluginRegistry

            settings = self.settings() if check_env_names else self._load_settings()
            self._registry = PluginRegistry.from_settings(settings).load()
        return self._registry

    def kernel(self) -> Any:
        if self._kernel is None:
            from ..kernel import Kernel

            self._kernel = Kernel(self.settings(), self.registry())
        return self._kernel

    def adopt(self, settings: Any) -> Any:
        """Run on ``settings`` from now on (an active release's): the current kernel is
        closed and a new registry and kernel are built from them. Returns the kernel."""
        from ..kernel import Kernel
        from ..plugins import PluginRegistry

        if self._kernel is not None:
            self._kernel.close()
        _REDACTORS.append(settings.redact)
        self._settings, self._env_checked = settings, True
        self._registry = PluginRegistry.from_settings(settings).load()
        self._kernel = Kernel(settings, self._registry)
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
        if self._registry is not None:
            self._registry.save()


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
        format=log_format,
        diagnose=False,
        backtrace=False,
    )


def log_format(record: Any) -> str:
    """A loguru format: one line per record, its message redacted and then made inert
    (outside text in it cannot add lines or send escape sequences); an exception's
    traceback follows with its messages inert too. A message logged with
    ``logger.bind(inert=True)`` is already inert (a rendered notification) and is not
    escaped twice, unless it still holds a character that must be escaped."""
    from ..display import inert, inert_traceback, is_inert

    extra = record["extra"]
    message = redact_text(record["message"])
    if not (extra.get("inert") and is_inert(message)):
        message = inert(message)
    extra["inert_message"] = message
    line = "{time:HH:mm:ss} {level: <7} {extra[inert_message]}\n"
    exception = record["exception"]
    if exception is None or exception.value is None:
        return line
    extra["inert_traceback"] = inert_traceback(exception.value)
    return line + "{extra[inert_traceback]}"


pass_app = click.make_pass_decorator(AppContext, ensure=True)
"""Decorator: pass the command the :class:`AppContext` (its kernel, settings, options)
as its first argument."""


def echo_json(data: Any) -> None:
    """Print ``data`` (domain objects allowed) as indented JSON on stdout, inert on a
    terminal (:func:`tradekernel.display.inert_json`)."""
    from ..display import inert_json
    from ..serde import unstructure

    click.echo(inert_json(unstructure(data), indent=2, sort_keys=False))


def json_option(f: Any) -> Any:
    """Decorator: add the ``--json`` flag, passed to the command as ``as_json``."""
    return click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")(f)
