"""``tradekernel promote NAME --to STAGE``: move a strategy up (or down) the stages."""

from __future__ import annotations

import click
from tradekernel.api import (
    AppContext,
    GateFailed,
    echo_json,
    format_money,
    inert,
    json_option,
    pass_app,
)

STAGES = ("candidate", "shadow", "paper", "live")


@click.command()
@click.argument("name")
@click.option("--to", "target", type=click.Choice(STAGES), help="Target stage.")
@click.option("--by", "actor", default="operator", show_default=True, help="Who promotes.")
@click.option("--reason", default="", help="Why (journaled).")
@click.option("--check", is_flag=True, help="Evaluate the gates only; change nothing.")
@json_option
@pass_app
def promote(
    app: AppContext,
    name: str,
    target: str | None,
    actor: str,
    reason: str,
    check: bool,
    as_json: bool,
) -> None:
    """Promote strategist NAME to a stage when the [promotion] gates pass.

    Stages: candidate < shadow < paper < live. Without --to, show the current stage.
    --check is a dry run of the same command: the same exit code, nothing written.
    Exit 4 names every failed gate, with --check too (a tampered or unjournaled backtest fails the
    backtest gate); exit 3 for state conflicts (already at the stage, live not
    acknowledged, a stage skipped: stages are climbed one at a time, the stage changed
    while promoting). Every attempt is journaled with
    its evidence.
    """
    from tradekernel.api import get_stage, open_store

    from .promotion import _show
    from .promotion import promote as do_promote

    settings = app.settings()
    registry = app.registry()
    if target is None:
        # an unknown strategist is a config error naming it (exit 2), as with --to
        registry.spec("strategist", settings.component_use("strategist", name))
    with open_store(settings) as store:
        if target is None:
            stage = get_stage(store, name)
            if as_json:
                echo_json({"strategist": name, "stage": stage})
            else:
                click.echo(f"{inert(name)}: {stage or 'no stage recorded'}")
            return
        if check:
            # the real command's dry run: the same refusals (exit 3) and demotions (no
            # gates, exit 0), so --check predicts what promote does
            result = do_promote(settings, store, registry, name, target, dry_run=True)
        else:
            try:
                result = do_promote(
                    settings, store, registry, name, target, actor=actor, reason=reason
                )
            except GateFailed:  # the attempt was journaled: show its evidence
                if as_json:
                    _echo_last_attempt(store, name)
                raise
    failed = "; ".join(f"{g.gate} = {_show(g.value)} (needs {g.threshold})" for g in result.failed)
    if as_json:
        echo_json(result.evidence())
        if check and not result.passed:
            raise GateFailed(f"{inert(name)}: the gates for {target} fail: {failed}")
        return
    for g in result.gates:
        mark = "pass" if g.passed else "FAIL"
        value, threshold = _gate_text(g.gate, g.value), _gate_text(g.gate, g.threshold)
        click.echo(f"  {mark}  {g.gate:<22} {value:<24} threshold {threshold}  ({g.source})")
    down = result.from_stage is not None and STAGES.index(target) < STAGES.index(result.from_stage)
    verb = ("would be " if check else "") + ("demoted" if down else "promoted")
    if check and not result.passed:
        raise GateFailed(f"{inert(name)}: the gates for {target} fail: {failed}")
    else:
        click.echo(f"{inert(name)}: {verb} {result.from_stage or 'unstaged'} -> {target}")


MONEY_GATES = frozenset({"max_cost_per_trade"})
"""Gates whose value is an amount of money (shown to the cent)."""


def _gate_text(gate: str, value: object) -> str:
    """A gate's value or threshold for reading: money to the cent, a ratio to 4 places."""
    if gate in MONEY_GATES:
        return format_money(value)
    if isinstance(value, float):
        return f"{value:.4g}"
    return "-" if value is None else str(value)


def _echo_last_attempt(store: object, name: str) -> None:
    value = store.get_control(f"promotion:{name}", None)  # type: ignore[attr-defined]
    if value is not None:
        echo_json(value)
