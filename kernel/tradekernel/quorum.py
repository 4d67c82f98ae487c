"""Four-eyes approval: how many distinct approvers an intent needs, and who approved it
as its journal rows tell it (docs/state.md, "Quorum").

An intent needs the largest ``approvals`` of its verdicts and of every matching
``[[approval.quorum]]`` rule (0: the approval mode decides alone). The number is
journaled on its move to ``pending_approval`` (payload ``quorum``); each approval below
it is a ``pending_approval -> pending_approval`` row (payload ``approval``), and the
approval that completes it is the move to ``approved``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from decimal import Decimal
from fnmatch import fnmatchcase
from typing import Any

from .models import GuardVerdict

PENDING = "pending_approval"
QUORUM_KEY = "quorum"
"""Payload key of the move to ``pending_approval``: the distinct approvals required."""
APPROVAL_KEY = "approval"
"""Payload key of an approval row: ``{"n": k, "of": required}``."""


def rule_matches(
    rule: Any,
    verdicts: Sequence[GuardVerdict],
    *,
    notional: Decimal | None,
    mode: str,
    symbol: str,
) -> bool:
    """Whether quorum ``rule`` (a :class:`~tradekernel.settings.QuorumRule`) applies. An
    unknown notional counts as above any ``min_notional`` (the stricter answer)."""
    below = notional is not None and abs(notional) < (rule.min_notional or 0)
    if rule.min_notional is not None and below:
        return False
    if rule.mode is not None and mode != rule.mode:
        return False
    if rule.guard is not None and not any(v.guard == rule.guard for v in verdicts):
        return False
    if rule.rule is not None and not any(v.rule == rule.rule for v in verdicts):
        return False
    return not rule.symbols or any(fnmatchcase(symbol, p) for p in rule.symbols)


def required_approvals(
    verdicts: Sequence[GuardVerdict],
    rules: Iterable[Any],
    *,
    notional: Decimal | None,
    mode: str,
    symbol: str,
) -> int:
    """The distinct approvals an intent needs: the largest of its verdicts' ``approvals``
    and of every matching rule's (0 when none asks for any)."""
    need = max((v.approvals for v in verdicts), default=0)
    for rule in rules:
        if rule_matches(rule, verdicts, notional=notional, mode=mode, symbol=symbol):
            need = max(need, rule.approvals)
    return need


def approver(actor: str) -> str:
    """Who an approval counts as: the actor with its whitespace collapsed and case folded,
    so ``Alice`` and ``alice `` are one approver."""
    return " ".join(actor.split()).casefold()


def is_approval(from_state: str | None, to_state: str) -> bool:
    """Whether a journal row of an intent records an approval (one below the quorum, or
    the one that moved it to ``approved``)."""
    return from_state == PENDING and to_state in (PENDING, "approved")


def approvals(rows: Iterable[Any]) -> list[tuple[str, str]]:
    """``(actor, ts)`` of every approval among an intent's journal rows, in order."""
    return [(r.actor, r.ts) for r in rows if is_approval(r.from_state, r.to_state)]


def recorded_quorum(rows: Iterable[Any], verdicts: Sequence[GuardVerdict]) -> int:
    """The quorum an intent's journal rows and verdicts ask for: the one journaled with its
    move to ``pending_approval`` and its verdicts' ``approvals``, whichever is larger."""
    need = max((v.approvals for v in verdicts), default=0)
    for row in rows:
        if row.to_state == PENDING and row.from_state != PENDING:
            need = max(need, as_count(row.payload.get(QUORUM_KEY)))
    return need


def as_count(value: Any) -> int:
    """A journaled count, or 0 when it is not a whole number."""
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def shortfall(rows: Sequence[Any], verdicts: Sequence[GuardVerdict]) -> str | None:
    """Why an intent's journal does not show its quorum (fewer distinct approvers than it
    needs), or ``None`` when it does or needs none."""
    need = recorded_quorum(rows, verdicts)
    if need == 0:
        return None
    given = {approver(actor) for actor, _ in approvals(rows)}
    if len(given) >= need:
        return None
    return f"its journal shows {len(given)} of the {need} distinct approvals it needs"
