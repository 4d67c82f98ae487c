"""Conflict resolution: strategies proposing on one symbol in one cycle.

``[portfolio] conflict`` picks the policy (docs/portfolio.md, "Conflicts"):

* ``net``: one intent for the net signed amount, each strategy's share recorded
  (:class:`~.shares.Share`); its id, hence its client order id, is derived from its
  content, its inputs' ids included (:func:`inputs_mark`), so the netted order is sent
  at most once like any other. A net of zero drops
  every input with ``conflict_netted_out``. Inputs that cannot be summed (quantity beside
  notional, different order types, limit prices or times in force) are resolved by
  priority instead.
* ``priority``: the highest-ranked strategy's intents go on; the others' are dropped
  with ``conflict_lost``.
* ``veto``: opposite sides cancel: every input is dropped with ``conflict_vetoed``;
  intents on one side go on unchanged.

Intents of a single strategy never conflict with each other.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Literal

from attrs import field, frozen

from ..models import Intent, Side, digest
from .shares import Share, net_of

NET_JOINER = "+"
"""A netted intent's ``strategist`` is its strategies' names joined by this."""


@frozen
class ConflictPolicy:
    """The policy and the strategies' rank (highest first; unranked ones come last)."""

    kind: Literal["net", "priority", "veto"] = "net"
    order: tuple[str, ...] = field(default=(), converter=tuple)

    def rank(self, strategist: str) -> int:
        """The rank of ``strategist`` (0 is the highest)."""
        return self.order.index(strategist) if strategist in self.order else len(self.order)


@frozen
class Conflict:
    """One resolved conflict, for its event and the journal: the inputs, the policy
    applied (``priority`` when ``net`` could not sum them) and the result."""

    symbol: str
    policy: str
    inputs: tuple[Intent, ...]
    kept: tuple[Intent, ...]
    dropped: tuple[tuple[Intent, str], ...]
    netted: Intent | None = None
    shares: tuple[Share, ...] = ()
    note: str = ""


@frozen
class Resolution:
    """``intents``: what goes on (netted intents included, in input order);
    ``dropped``: ``(intent, code)``; ``netted``: ``(netted intent, its shares)``;
    ``conflicts``: one :class:`Conflict` per symbol that had one."""

    intents: list[Intent]
    dropped: list[tuple[Intent, str]]
    netted: list[tuple[Intent, tuple[Share, ...]]]
    conflicts: list[Conflict]


def signed_amount(intent: Intent) -> Decimal:
    """The intent's amount (quantity or notional), positive for a buy."""
    amount = intent.quantity if intent.quantity is not None else intent.notional
    assert amount is not None
    return amount if intent.side is Side.BUY else -amount


def inputs_mark(inputs: Sequence[Intent]) -> str:
    """A netted intent's ``prompt_version``: ``net:`` and the digest of its sorted input
    ids. It is part of the content :meth:`Intent.create` digests, so different inputs
    give different netted intents (and client order ids) even when they net to the same
    amount, and the same inputs the same one."""
    return "net:" + digest(sorted(i.id for i in inputs))[:24]


def _nettable(group: Sequence[Intent]) -> bool:
    first = group[0]
    return all(
        (i.quantity is None) == (first.quantity is None)
        and i.order_type == first.order_type
        and i.limit_price == first.limit_price
        and i.time_in_force == first.time_in_force
        for i in group
    )


def _by_priority(symbol: str, group: Sequence[Intent], policy: ConflictPolicy, note: str = ""):
    best = min(policy.rank(i.strategist) for i in group)
    winner = min(i.strategist for i in group if policy.rank(i.strategist) == best)
    kept = tuple(i for i in group if i.strategist == winner)
    dropped = tuple((i, "conflict_lost") for i in group if i.strategist != winner)
    return Conflict(symbol, "priority", tuple(group), kept, dropped, note=note)


def _net(symbol: str, group: Sequence[Intent], policy: ConflictPolicy) -> Conflict:
    ordered = sorted(group, key=lambda i: (policy.rank(i.strategist), i.strategist, i.id))
    shares = tuple(Share(i.strategist, i.id, signed_amount(i)) for i in ordered)
    net = net_of(shares)
    if net == 0:
        dropped = tuple((i, "conflict_netted_out") for i in group)
        return Conflict(symbol, "net", tuple(group), (), dropped, shares=shares)
    first = ordered[0]
    names = list(dict.fromkeys(i.strategist for i in ordered))
    unit = "quantity" if first.quantity is not None else "notional"
    as_ofs = [i.as_of for i in group if i.as_of is not None]
    netted = Intent.create(
        symbol=symbol,
        side=Side.BUY if net > 0 else Side.SELL,
        **{unit: abs(net)},
        order_type=first.order_type,
        limit_price=first.limit_price,
        time_in_force=first.time_in_force,
        rationale="net of " + ", ".join(f"{s.strategist} {s.amount:+}" for s in shares),
        confidence=min(i.confidence for i in group),
        strategist=NET_JOINER.join(names),
        prompt_version=inputs_mark(group),
        as_of=max(as_ofs) if as_ofs else None,
    )
    return Conflict(symbol, "net", tuple(group), (netted,), (), netted=netted, shares=shares)


def resolve_conflicts(intents: Sequence[Intent], policy: ConflictPolicy) -> Resolution:
    """Resolve every symbol on which more than one strategy proposes (see the module)."""
    groups: dict[str, list[Intent]] = {}
    for intent in intents:
        groups.setdefault(intent.symbol, []).append(intent)
    conflicts: dict[str, Conflict] = {}
    for symbol, group in groups.items():
        if len({i.strategist for i in group}) < 2:
            continue
        if policy.kind == "priority":
            conflicts[symbol] = _by_priority(symbol, group, policy)
        elif policy.kind == "veto":
            if len({i.side for i in group}) > 1:
                dropped = tuple((i, "conflict_vetoed") for i in group)
                conflicts[symbol] = Conflict(symbol, "veto", tuple(group), (), dropped)
            else:
                conflicts[symbol] = Conflict(symbol, "veto", tuple(group), tuple(group), ())
        elif _nettable(group):
            conflicts[symbol] = _net(symbol, group, policy)
        else:
            note = "not nettable (amount unit, order type, limit price or time in force differ)"
            conflicts[symbol] = _by_priority(symbol, group, policy, note)
    out: list[Intent] = []
    placed: set[str] = set()
    for intent in intents:
        conflict = conflicts.get(intent.symbol)
        if conflict is None:
            out.append(intent)
        elif conflict.netted is not None:
            if intent.symbol not in placed:  # the netted intent takes its first input's place
                placed.add(intent.symbol)
                out.append(conflict.netted)
        elif intent in conflict.kept:
            out.append(intent)
    return Resolution(
        intents=out,
        dropped=[d for c in conflicts.values() for d in c.dropped],
        netted=[(c.netted, c.shares) for c in conflicts.values() if c.netted is not None],
        conflicts=list(conflicts.values()),
    )
