"""``tradekernel strategist smoke``: one strategist decision on the current market state.

Builds the kernel, hydrates once, scans, and asks the configured strategist once, exactly
as the runtime's strategize node does (``Runtime.decide_once``), but nothing is guarded,
approved, executed or stored, and the circuit breaker is neither consulted nor updated.
The ``strategist_llm`` telemetry event of that decision is captured in process.
"""

from __future__ import annotations

from typing import Any

import click

from ..display import inert, inert_json
from ..errors import GateFailed, TradekernelError
from ..hookspecs import hookimpl
from .context import AppContext, json_option, pass_app

LLM_STAGE = "strategist_llm"
OBSERVER_NAME = "tradekernel.strategist-smoke"


class StrategistCallFailed(TradekernelError):
    """The strategist's call failed: a ``provider_*`` hold, or the strategist raised (exit 1)."""


class _Capture:
    """An ``on_event`` observer keeping the ``strategist_llm`` decision events."""

    def __init__(self) -> None:
        self.events: list[Any] = []

    @hookimpl
    def on_event(self, event: Any) -> None:
        if event.stage == LLM_STAGE and event.kind == "decision":
            self.events.append(event)

    def of_cycle(self, cycle_id: str) -> Any | None:
        mine = [e for e in self.events if e.cycle_id == cycle_id]
        return mine[-1] if mine else None


@click.group()
def strategist() -> None:
    """Inspect and test the configured strategist."""


@strategist.command()
@click.option(
    "--show-llm-event", is_flag=True, help="Print the decision's strategist_llm event as JSON."
)
@click.option(
    "--require-llm-event",
    is_flag=True,
    help="Exit 4 when no strategist_llm event was recorded (e.g. a rule strategist).",
)
@json_option
@pass_app
def smoke(app: AppContext, show_llm_event: bool, require_llm_event: bool, as_json: bool) -> None:
    """Ask the strategist once on the current market state; never trades.

    Exit codes: 0 a decision (trade or hold), 1 the call failed (a provider_* hold, or the
    strategist raised), 2 the strategist or provider configuration is invalid (e.g. the
    API key variable is not set), 4 with --require-llm-event when no strategist_llm event
    was recorded.
    """
    from ..eventlog import event_record
    from ..runtime import Runtime
    from ..serde import unstructure

    settings = app.settings()
    kernel = app.kernel()
    # Build it now: a missing API key or a bad base_url is a ConfigError/PluginError (exit 2)
    # here, instead of a ``strategist_error`` hold inside the node.
    kernel.component("strategist")
    kernel.check()  # what `run` would refuse stops here too, before the store is opened
    capture = _Capture()
    kernel.registry.pm.register(capture, name=OBSERVER_NAME)
    try:
        with Runtime(kernel, mode="shadow") as runtime:
            state = runtime.decide_once()
    finally:
        kernel.registry.pm.unregister(capture)
    decision = state.decision
    event = capture.of_cycle(state.cycle_id)
    record = event_record(event) if event is not None else None
    name = settings.components.strategist

    def out(text: str) -> None:
        click.echo(settings.redact(text))

    if as_json:
        payload = {
            "strategist": name,
            "cycle_id": state.cycle_id,
            "as_of": state.as_of,
            "candidates": state.candidates,
            "decision": decision,
            "admissible_intents": [i.id for i in state.intents],
            "event": record,
            "skills": _skill_rows(state),
        }
        out(inert_json(unstructure(payload), indent=2))
    else:
        for line in _text(name, state, event, settings.redact):
            click.echo(line)
        if show_llm_event and record is not None:
            out(inert_json(record, indent=2))
    _gate(name, decision, event, require_llm_event)


def _gate(name: str, decision: Any, event: Any, require_llm_event: bool) -> None:
    error_type = decision.error_type or ""
    if error_type.startswith("provider_") or decision.hold_reason == "strategist_error":
        raise StrategistCallFailed(
            f"strategist {name}: the call failed: {error_type or decision.hold_reason}"
            + (f" ({decision.detail})" if decision.detail else "")
        )
    if require_llm_event and event is None:
        why = (
            f"strategist {name!r} does not emit it"
            if name != "llm"
            else f"the strategist was not asked ({decision.hold_reason})"
        )
        raise GateFailed(f"no {LLM_STAGE} event was recorded: {why}")


def _skill_rows(state: Any) -> list[dict[str, Any]]:
    return [
        {
            "skill": skill,
            "ok": r.ok,
            "latency_ms": round(r.latency_ms, 3),
            "fallback_reason": r.fallback_reason,
            "error": r.error,
        }
        for skill, r in state.skill_results.items()
    ]


def _text(name: str, state: Any, event: Any, redact: Any) -> list[str]:
    from .events_cmd import summary

    decision = state.decision
    skills = ", ".join(
        f"{s['skill']} {'ok' if s['ok'] else 'FALLBACK'}" for s in _skill_rows(state)
    )
    lines = [
        f"strategist  {name}",
        f"as_of       {state.as_of.isoformat() if state.as_of else '-'}",
        f"skills      {skills or 'none'}",
        f"candidates  {', '.join(state.candidates) or 'none'}",
    ]
    if decision.intents:
        kept = {i.id for i in state.intents}
        lines.append(f"decision    trade: {len(decision.intents)} intent(s)")
        for i in decision.intents:
            amount = f"qty={i.quantity}" if i.quantity is not None else f"notional={i.notional}"
            price = f" @{i.limit_price}" if i.limit_price is not None else ""
            dropped = "" if i.id in kept else "  [dropped by the runtime: not a candidate]"
            lines.append(
                f"  {i.side} {i.symbol} {amount} {i.order_type}{price} {i.time_in_force}"
                f" confidence={i.confidence} {i.id}{dropped}"
            )
            if i.rationale:
                lines.append(f"    {i.rationale}")
    else:
        hold = f"decision    hold: {decision.hold_reason}"
        if decision.error_type:
            hold += f"  error_type={decision.error_type}"
        lines.append(hold)
    if decision.detail:
        lines.append(f"detail      {decision.detail}")
    # Rationale, detail and symbols come from the strategist (an LLM's answer): one
    # inert line each, redacted first (escaping first could hide a secret from the
    # redactor); the event summary is inert already.
    lines = [inert(redact(line)) for line in lines]
    llm = summary(event) if event is not None else f"no {LLM_STAGE} event"
    lines.append(redact(f"llm         {llm}"))
    return lines
