"""Promotion stages and gates: candidate < shadow < paper < live.

A strategy configuration (named by its strategist) has a stage, kept in the store's
control state under ``stage:<name>`` and journaled. :func:`promote` moves it up only when
the gates of ``[promotion.<target>]`` pass on the evidence (its latest backtest of the
current configuration, and for ``live`` its paper record); every attempt is journaled
with its evidence under ``promotion:<name>``. The runtime refuses to run a strategist in a
mode above its stage (``check_stage`` in ``tradekernel.api``, enforced by the kernel). See
docs/backtest.md.
"""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal
from typing import Any

from attrs import define, field
from tradekernel.api import (
    STAGES,
    ConfigError,
    GateFailed,
    RefusedError,
    Settings,
    StateConflict,
    active_release,
    current_digest,
    get_stage,
    stage_key,
    utcnow,
)


@define
class GateResult:
    gate: str
    value: Any
    threshold: Any
    passed: bool
    source: str
    """Where the value came from: ``backtest``, ``paper`` or ``journal``."""


@define
class Evaluation:
    name: str
    from_stage: str | None
    to_stage: str
    config_digest: str | None
    backtest_id: int | None
    gates: list[GateResult] = field(factory=list)
    release: str | None = None
    """The release active when the gates were checked: the stage is tied to it."""

    @property
    def passed(self) -> bool:
        return all(g.passed for g in self.gates)

    @property
    def failed(self) -> list[GateResult]:
        return [g for g in self.gates if not g.passed]

    def evidence(self) -> dict[str, Any]:
        return {
            "strategist": self.name,
            "from": self.from_stage,
            "to": self.to_stage,
            "config_digest": self.config_digest,
            "backtest_id": self.backtest_id,
            "release": self.release,
            "passed": self.passed,
            "gates": [
                {
                    "gate": g.gate,
                    "value": g.value,
                    "threshold": g.threshold,
                    "passed": g.passed,
                    "source": g.source,
                }
                for g in self.gates
            ],
        }


def effective_stage(
    store: Any, name: str, config_digest: str | None, release: str | None
) -> str | None:
    """The stage of ``name`` as the runtime counts it (``check_stage``): ``None`` when the
    stage was earned with another configuration, or under another release than the
    active one (``release``)."""
    stage = get_stage(store, name)
    if stage is None:
        return None
    value = store.get_control(stage_key(name), None)
    evidence = value.get("evidence") if isinstance(value, dict) else None
    return stage if _earned_by(evidence, config_digest, release) else None


def _earned_by(evidence: Any, config_digest: str | None, release: str | None) -> bool:
    """Whether a stage's ``evidence`` counts for this configuration and release (the rule
    of the kernel's ``check_stage``)."""
    evidence = evidence if isinstance(evidence, dict) else {}
    earned = evidence.get("config_digest")
    if config_digest is not None and earned is not None and earned != config_digest:
        return False
    return release is None or evidence.get("release") == release


def paper_days(
    store: Any,
    name: str,
    now: datetime,
    config_digest: str | None = None,
    release: str | None = None,
) -> float | None:
    """Days since the strategist last entered the paper stage with this configuration
    and release (from the journal)."""
    since = paper_since(store, name, config_digest, release)
    return None if since is None else (now - since).total_seconds() / 86400


def paper_since(
    store: Any, name: str, config_digest: str | None = None, release: str | None = None
) -> datetime | None:
    """When the strategist last entered the paper stage with this configuration (and,
    with ``release``, under that release), staying in paper or live with it since: a
    stage entry of another configuration or release ends the paper record, so an edited
    configuration never inherits the time (or the fills) of the one that ran in paper."""
    since = None
    for row in store.journal_rows(entity=f"control:{stage_key(name)}"):
        value = (row.payload or {}).get("value")
        stage = value.get("stage") if isinstance(value, dict) else value
        evidence = value.get("evidence") if isinstance(value, dict) else None
        if not _earned_by(evidence, config_digest, release):
            since = None
        elif stage == "paper":
            since = datetime.fromisoformat(row.ts)
        elif stage != "live":
            since = None
    return since


def paper_trades(store: Any, name: str, since: datetime | None) -> int:
    """Round trips this strategist's intents completed since ``since`` (recorded fills)."""
    from tradekernel.api import ts_text

    from .metrics import TradeBook

    if since is None:
        return 0
    book = TradeBook()
    rows = store.conn.execute(
        "SELECT f.symbol, f.side, f.quantity, f.price, f.commission, f.ts, i.intent_json "
        "FROM fills f JOIN intents i ON i.id = f.intent_id WHERE f.ts >= ? "
        "ORDER BY f.ts, f.fill_id",
        (ts_text(since),),
    )
    for symbol, side, qty, price, commission, ts, intent_json in rows:
        if json.loads(intent_json).get("strategist") != name:
            continue
        book.fill(
            symbol=symbol,
            side=side,
            quantity=Decimal(qty),
            price=Decimal(price),
            commission=Decimal(commission or 0),
            ts=datetime.fromisoformat(ts),
            bar=0,
        )
    return book.closed


def evaluate(
    settings: Settings,
    store: Any,
    registry: Any,
    name: str,
    target: str,
    *,
    now: datetime | None = None,
) -> Evaluation:
    """Check the gates of ``[promotion.<target>]`` for strategist ``name``."""
    from .harness import cost_gates
    from .record import find_backtest

    if target not in STAGES:
        raise ConfigError(f"--to: stage must be one of {', '.join(STAGES)}, got {target!r}")
    now = now or utcnow()
    digest = current_digest(settings, registry, name)
    release = active_release(store)
    current = effective_stage(store, name, digest, release)
    result = Evaluation(name, current, target, digest, None, release=release)
    if target == "candidate":
        return result
    gates = getattr(settings.promotion, target)  # a [promotion.<target>] section
    found = find_backtest(store, name, digest)
    bt = found.row
    add = result.gates.append
    if bt is None:
        # a tampered or unjournaled row is named, never used (docs/backtest.md)
        add(
            GateResult(
                "backtest",
                found.problem,
                f"a journaled backtest of config {digest[:12]}",
                False,
                "backtest",
            )
        )
        result.backtest_id = found.id
        return result
    result.backtest_id = bt["id"]
    m = bt["metrics"]
    if target == "live":
        since = paper_since(store, name, digest, release)
        if gates.min_trades is not None:
            n = paper_trades(store, name, since)
            add(GateResult("min_trades", n, gates.min_trades, n >= gates.min_trades, "paper"))
        if gates.min_paper_days is not None:
            days = None if since is None else (now - since).total_seconds() / 86400
            ok = days is not None and days >= gates.min_paper_days
            add(GateResult("min_paper_days", days, gates.min_paper_days, ok, "journal"))
    else:
        if gates.min_trades is not None:
            n = m.get("trades") or 0
            add(GateResult("min_trades", n, gates.min_trades, n >= gates.min_trades, "backtest"))
        if gates.min_paper_days is not None:
            days = paper_days(store, name, now, digest, release)
            ok = days is not None and days >= gates.min_paper_days
            add(GateResult("min_paper_days", days, gates.min_paper_days, ok, "journal"))
    # the evidence's own costs: a run cheaper than the configured broker proves nothing
    for gate, value, threshold, ok in cost_gates(m, settings, registry):
        add(GateResult(gate, value, threshold, ok, "backtest"))
    _at_least(add, "min_sharpe", m.get("sharpe"), gates.min_sharpe)
    _at_most(add, "max_drawdown", m.get("max_drawdown"), gates.max_drawdown)
    fallback = m.get("llm_fallback_rate")
    if gates.max_llm_fallback_rate is not None:
        # no LLM calls: nothing can have fallen back
        rate = fallback if fallback is not None else 0.0
        add(
            GateResult(
                "max_llm_fallback_rate",
                rate,
                gates.max_llm_fallback_rate,
                rate <= gates.max_llm_fallback_rate,
                "backtest",
            )
        )
    _at_most(add, "max_cost_per_trade", m.get("cost_per_trade"), gates.max_cost_per_trade)
    return result


def _at_least(add: Any, gate: str, value: float | None, threshold: float | None) -> None:
    if threshold is not None:
        add(
            GateResult(gate, value, threshold, value is not None and value >= threshold, "backtest")
        )


def _at_most(add: Any, gate: str, value: float | None, threshold: float | None) -> None:
    if threshold is not None:
        add(
            GateResult(gate, value, threshold, value is not None and value <= threshold, "backtest")
        )


def promote(
    settings: Settings,
    store: Any,
    registry: Any,
    name: str,
    target: str,
    *,
    actor: str = "operator",
    reason: str = "",
    now: datetime | None = None,
    dry_run: bool = False,
) -> Evaluation:
    """Move ``name`` to stage ``target`` when its gates pass; journal the attempt.

    Raises ``RefusedError`` (exit 3) for state conflicts (already there, live not
    acknowledged, a stage skipped: moving up needs the stage just below) and
    ``GateFailed`` (exit 4) naming every failed gate. Moving down (demotion) needs no
    gates."""
    if target not in STAGES:
        raise ConfigError(f"--to: stage must be one of {', '.join(STAGES)}, got {target!r}")
    # unknown strategist: a config error naming it (an instance: the component it uses)
    registry.spec("strategist", settings.component_use("strategist", name))
    seen = _stage_text(store, name)  # what the write below must still find
    digest = current_digest(settings, registry, name)
    release = active_release(store)
    # the stage as the runtime counts it: one earned with another configuration or
    # release is none (it neither makes this one "already there" nor a demotion)
    current = effective_stage(store, name, digest, release)
    if current == target:
        raise RefusedError(f"strategist {name} is already at stage {target}; nothing was changed")
    if target == "live" and not settings.kernel.live_acknowledged:
        raise RefusedError(
            f"promoting {name} to live needs [kernel] live_acknowledged = true; nothing was changed"
        )
    demotion = current is not None and STAGES.index(target) < STAGES.index(current)
    if not demotion and target != "candidate":
        # stages are climbed one at a time (unstaged counts as candidate): a partial
        # [promotion.live] table must not let a strategist skip paper
        below = STAGES[STAGES.index(target) - 1]
        if (current or "candidate") != below:
            recorded = get_stage(store, name)
            at = (
                f"is at stage {current}"
                if current is not None
                else "is unstaged"
                if recorded is None
                else f"has no stage for this configuration and release (its stage {recorded} "
                "was earned with another)"
            )
            raise RefusedError(
                f"strategist {name} {at}; {target} needs stage {below} first: promote it "
                f"with `tradekernel promote {name} --to {below}`; nothing was changed"
            )
    if demotion:
        result = Evaluation(name, current, target, digest, None, release=release)
    else:
        result = evaluate(settings, store, registry, name, target, now=now)
    if dry_run:
        return result
    evidence = result.evidence()
    writes: list[tuple[str, Any, str]] = [
        (f"promotion:{name}", evidence, reason or f"promote to {target}")
    ]
    if result.passed:
        writes.append(
            (
                stage_key(name),
                {"stage": target, "since": (now or utcnow()).isoformat(), "evidence": evidence},
                reason or ("demote" if demotion else "promote") + f" to {target}",
            )
        )
    _write_if_unchanged(store, name, seen, writes, actor=actor)
    if not result.passed:
        failed = "; ".join(
            f"{g.gate} = {_show(g.value)} (needs {g.threshold})" for g in result.failed
        )
        raise GateFailed(f"promotion of {name} to {target} refused: {failed}")
    return result


def _stage_text(store: Any, name: str) -> str | None:
    return store.control_text(stage_key(name))


def _write_if_unchanged(
    store: Any, name: str, seen: str | None, writes: list[tuple[str, Any, str]], *, actor: str
) -> None:
    """Write the attempt and the stage in one transaction, only if the stage still holds
    ``seen`` (compare-and-set): a concurrent promotion or demotion since :func:`evaluate`
    read it refuses the whole write."""
    try:
        store.set_controls(writes, actor=actor, expect={stage_key(name): seen})
    except StateConflict:
        stage = get_stage(store, name)
        raise RefusedError(
            f"strategist {name}: the stage changed while promoting; nothing was changed "
            f"(it is now {stage or 'unstaged'}; re-run the command to promote from there)"
        ) from None


def _show(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "none" if value is None else str(value)
