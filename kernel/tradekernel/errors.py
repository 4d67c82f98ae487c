"""Expected errors and the CLI exit code each maps to.

Raise these for anything an operator can cause or fix; the CLI prints the message as
one line and exits with ``exit_code`` (a traceback only with ``-v``).
"""

from __future__ import annotations

EXIT_OK = 0
"""Exit code: the command did what was asked."""
EXIT_FAILED = 1
"""Exit code: the operation failed (:class:`TradekernelError`)."""
EXIT_USAGE = 2
"""Exit code: bad usage or configuration (:class:`ConfigError`)."""
EXIT_REFUSED = 3
"""Exit code: refused by a safety rule or the operator's controls (:class:`RefusedError`)."""
EXIT_GATE = 4
"""Exit code: a check ran and found a problem (:class:`GateFailed`)."""


class TradekernelError(Exception):
    """Base of all expected errors: an operation failed (exit 1)."""

    exit_code = EXIT_FAILED


class ConfigError(TradekernelError):
    """The configuration is invalid or selects something unavailable (exit 2)."""

    exit_code = EXIT_USAGE


class PluginError(ConfigError):
    """A plugin could not be loaded or breaks the plugin contract (exit 2)."""


class RefusedError(TradekernelError):
    """A state conflict or a safety refusal: nothing was changed (exit 3)."""

    exit_code = EXIT_REFUSED


class GateFailed(TradekernelError):
    """An operational check found a problem (exit 4)."""

    exit_code = EXIT_GATE


class NotFoundError(TradekernelError):
    """The named object does not exist (exit 1)."""
