"""Budgets: per-node latency budgets checked as the running agent's events arrive, the
``budget status`` view of every budget, and the tuning report. See docs/operations.md,
"Budgets".

    from tradekernel_ops.budgets import budget_status, tuning_report
    budget_status(settings, now)            # every budget, from config and events
    tuning_report(settings, now, days=7)    # cost, cache, tokens and latency, streamed

The broker request budgets themselves are the kernel's (``[budgets.brokers]``); the
prompt-size budget is the LLM strategist's (``[budgets] prompt_tokens``). Both are seen
here through their events only.
"""

from __future__ import annotations

OBSERVER = "tradekernel-ops.budgets"

__all__ = ["OBSERVER"]
