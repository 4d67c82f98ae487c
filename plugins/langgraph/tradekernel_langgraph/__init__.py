"""The ``langgraph`` runtime: the kernel's cycle graph compiled into a LangGraph
``StateGraph`` (docs/runtime.md, "Runtimes"). LangGraph is imported only when this
runtime is built, never when the plugin is."""

from __future__ import annotations

from typing import Any

from tradekernel import hookimpl


def _build(config: Any, ctx: Any) -> Any:
    from .runtime import LangGraphRuntime

    return LangGraphRuntime(ctx.state_dir, redact=ctx.settings.redact, emit=ctx.emit)


@hookimpl
def register_runtimes(register):
    register(
        "langgraph",
        _build,
        description="The cycle graph compiled into a LangGraph StateGraph, checkpointed.",
        install="pip install tradekernel-langgraph",
    )
