"""Four-eyes approval: how many distinct approvers an intent needs, and who approved it
as its journal rows tell it (docs/state.md, "Quorum").

An intent needs the largest ``approvals`` of its verdicts and of every matching
``[[approval.quorum]]`` rule (0: the approval mode decides alone). The number is
journaled on its move to ``pending_approval`` (payload ``quorum``); each approval below
it is a ``pending_approval -> pending_approval`` row (payload ``approval``), and the
approval that completes it is the move to ``approved``.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from decimal import Decimal
from fnmatch import fnmatchcase
from typing import Any

from .errors import RefusedError
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


RESERVED_ACTORS: frozenset[str] = frozenset(
    {
        "allocator",
        "auto",
        "breaker",
        "broker-contract",
        "commander",
        "console",
        "executor",
        "guards",
        "kernel",
        "monitor",
        "ops",
        "portfolio",
        "readiness",
        "reconcile",
        "runtime",
        "shadow",
        "strategist",
        "system",
    }
)
"""Actor names the kernel and its first-party components journal themselves: never a
human approver (:func:`approver_name` refuses them)."""

APPROVER_RE = re.compile(r"[a-z0-9][a-z0-9._@+-]{0,63}")
"""What an approver name must be after normalisation (ASCII only: no look-alike letters)."""


def _shown(char: str) -> str:
    """A character named safely in a message: itself when printable ASCII, else U+XXXX."""
    return repr(char) if " " < char < "\x7f" else f"U+{ord(char):04X}"


def approver_name(actor: str) -> str:
    """The one name an approver decides under (docs/state.md, "Quorum"): ``actor``
    NFKC-normalised, whitespace-collapsed and casefolded, which must then match
    ``[a-z0-9][a-z0-9._@+-]{0,63}`` and not be one of :data:`RESERVED_ACTORS`.

    Raises :class:`~tradekernel.errors.RefusedError` naming what is wrong (a refused
    character as ``U+XXXX``, never the raw text). Fullwidth ``\\uff41lice`` is ``alice``;
    Cyrillic ``\\u0430lice``, ``alice\\u200b`` or ``alice\\x00`` are refused."""
    if not isinstance(actor, str):
        raise RefusedError("approver name must be text")
    for char in actor:
        if unicodedata.category(char) in ("Cc", "Cf") and char not in " \t":
            raise RefusedError(
                f"approver name contains the control or format character {_shown(char)}; "
                "use letters, digits and . _ @ + -"
            )
    name = " ".join(unicodedata.normalize("NFKC", actor).split()).casefold()
    name = unicodedata.normalize("NFKC", name)
    if not name:
        raise RefusedError("approver name is empty")
    if len(name) > 64:
        raise RefusedError(f"approver name is {len(name)} characters long (at most 64)")
    if not APPROVER_RE.fullmatch(name):
        bad = next((c for c in name if not re.fullmatch(r"[a-z0-9._@+-]", c)), name[0])
        raise RefusedError(
            f"approver name may not contain {_shown(bad)}: it must be ASCII letters, digits "
            "and . _ @ + -, starting with a letter or digit"
        )
    if name in RESERVED_ACTORS:
        raise RefusedError(
            f"approver name {name!r} is reserved for the kernel's own journal rows; "
            "decide under your own name"
        )
    return name


def approver(actor: str) -> str:
    """Who a journaled approval counts as: :func:`approver_name` of its actor, or ``""``
    when that is refused (such a row counts toward no quorum). ``Alice``, ``alice `` and
    fullwidth ``\\uff41lice`` are one approver."""
    try:
        return approver_name(actor)
    except RefusedError:
        return ""


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
    given = {approver(actor) for actor, _ in approvals(rows)} - {""}
    if len(given) >= need:
        return None
    return f"its journal shows {len(given)} of the {need} distinct approvals it needs"
