"""tradekernel: a plugin-based microkernel for safety-first LLM trading agents.

Plugin authors import :data:`hookimpl` from here; everything else they need lives in
:mod:`tradekernel.models`, :mod:`tradekernel.components` and :mod:`tradekernel.llm`.
"""

from .hookspecs import hookimpl

__version__ = "0.1.0"
__all__ = ["__version__", "hookimpl"]
