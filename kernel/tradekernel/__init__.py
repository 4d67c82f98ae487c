"""tradekernel: a plugin-based microkernel for safety-first LLM trading agents.

Plugin authors import :data:`hookimpl` from here or from :mod:`tradekernel.api`, the
public plugin API (docs/api.md); every other module of the package is internal.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .hookspecs import hookimpl

__version__ = "0.1.0"
"""The version of the ``tradekernel`` distribution (not of the API: see ``API_VERSION``)."""
API_VERSION = "1.0"
"""The version of the plugin API (:mod:`tradekernel.api`), ``"MAJOR.MINOR"``."""
__all__ = ["API_VERSION", "__version__", "hookimpl"]


def __getattr__(name: str) -> Any:
    # ``hookimpl`` is resolved on first use so that ``tradekernel --version`` and
    # ``--help`` do not import pluggy (start-up time, see bench/startup.py).
    if name == "hookimpl":
        from .hookspecs import hookimpl

        return hookimpl
    raise AttributeError(f"module 'tradekernel' has no attribute {name!r}")
