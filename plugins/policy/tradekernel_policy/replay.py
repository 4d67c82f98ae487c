"""Replaying recorded evaluations through policies: ``policy diff`` (which verdicts a
new policy would change) and ``policy explain`` (one intent's evaluation trace)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from .evaluate import Evaluator, Outcome
from .language import Policy
from .records import evaluation, evaluations


def _show(o: Outcome) -> str:
    extra = f", approvals {o.approvals}" if o.approvals else ""
    return f"{'allow' if o.allow else 'deny'} {o.code} (rule {o.rule or '-'}{extra})"


def diff_policies(
    state_dir: Path,
    old: Policy,
    new: Policy,
    since: datetime | None = None,
    guard: str | None = None,
) -> dict[str, Any]:
    """Every recorded intent (since ``since``; of ``guard`` only, when given) whose verdict
    differs between ``old`` and ``new``: decision, code or approvals, with the rules
    responsible on each side."""
    before, after = Evaluator(old), Evaluator(new)
    changes = []
    replayed = 0
    unreadable: list[str] = []
    for e in evaluations(state_dir, since, on_corrupt=lambda exc: unreadable.append(str(exc))):
        if guard is not None and e.guard != guard:
            continue
        replayed += 1
        a = before.decide(e.intent, e.context)
        b = after.decide(e.intent, e.context)
        if (a.allow, a.code, a.approvals) == (b.allow, b.code, b.approvals):
            continue
        changes.append(
            {
                "intent_id": e.intent_id,
                "recorded_at": e.ts,
                "symbol": e.intent.symbol,
                "side": str(e.intent.side),
                "old": _show(a),
                "new": _show(b),
                "old_rule": a.rule,
                "new_rule": b.rule,
            }
        )
    return {
        "old": old.label,
        "new": new.label,
        "replayed": replayed,
        "changes": changes,
        "unreadable": len(unreadable),
    }


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bool | int | str) or value is None:
        return value
    return str(value)


def explain_intent(state_dir: Path, policy: Policy, intent_id: str) -> dict[str, Any]:
    """The trace of ``policy`` on the recorded evaluation of ``intent_id``: the decision,
    and each rule matched or not with the values of the fields it read."""
    e = evaluation(state_dir, intent_id)
    evaluator = Evaluator(policy)
    decision = evaluator.decide(e.intent, e.context)
    return {
        "intent_id": intent_id,
        "symbol": e.intent.symbol,
        "side": str(e.intent.side),
        "policy": policy.label,
        "decision": _show(decision),
        "recorded_version": e.version,
        "recorded": f"{'allow' if e.allow else 'deny'} {e.code} (rule {e.rule or '-'})",
        "rules": [
            {
                "rule": t.rule,
                "effect": t.effect,
                "matched": t.matched,
                "values": {k: _plain(v) for k, v in t.values.items()},
                "error": t.error,
            }
            for t in evaluator.trace(e.intent, e.context)
        ],
    }
