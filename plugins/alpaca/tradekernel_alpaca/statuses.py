"""Alpaca's order statuses onto the kernel's lifecycle.

Every status Alpaca documents is in :data:`STATUSES`. An order is reported ``filled``
only when Alpaca says ``filled`` (or ``calculated``) AND its filled quantity is the
whole order; a status the plugin does not know is treated as working (``partial_fill``
once anything filled) and reported by a ``broker.unknown_status`` warning, never as
filled. ``calculated`` wholly filled is ``filled`` (terminal) although Alpaca does not
call it final; ``replaced`` is terminal and the broker reports it as a conflict (it does
not follow the replacement). docs/brokers.md has the same table."""

from __future__ import annotations

from decimal import Decimal

from attrs import frozen
from tradekernel.api import OrderStatus

WORKING = None
"""Marker: working, or ``partial_fill`` once anything filled."""


@frozen
class StatusRule:
    """How one Alpaca status maps: the kernel status (``None``: working or partial fill
    by the filled quantity) and whether Alpaca treats it as final."""

    status: OrderStatus | None
    final: bool
    meaning: str


STATUSES: dict[str, StatusRule] = {
    "new": StatusRule(WORKING, False, "accepted and routed to the exchange"),
    "accepted": StatusRule(WORKING, False, "accepted by Alpaca, not yet routed"),
    "pending_new": StatusRule(WORKING, False, "routed, not yet acknowledged by the exchange"),
    "accepted_for_bidding": StatusRule(WORKING, False, "accepted for bidding (auction)"),
    "pending_review": StatusRule(WORKING, False, "under review by Alpaca"),
    "held": StatusRule(WORKING, False, "held until a trigger (an order leg)"),
    "stopped": StatusRule(WORKING, False, "stopped: a trade is guaranteed"),
    "suspended": StatusRule(WORKING, False, "suspended, not eligible for trading"),
    "pending_cancel": StatusRule(WORKING, False, "a cancel is pending: may still fill"),
    "pending_replace": StatusRule(WORKING, False, "a replace is pending: may still fill"),
    "done_for_day": StatusRule(WORKING, False, "done for today, works again next day"),
    "calculated": StatusRule(WORKING, False, "done for the day, settlement pending"),
    "partially_filled": StatusRule(OrderStatus.PARTIAL_FILL, False, "partly executed"),
    "filled": StatusRule(OrderStatus.FILLED, True, "fully executed"),
    "canceled": StatusRule(OrderStatus.CANCELLED, True, "cancelled (fills kept)"),
    "expired": StatusRule(OrderStatus.CANCELLED, True, "its time in force ran out"),
    "replaced": StatusRule(OrderStatus.CANCELLED, True, "replaced by another order"),
    "rejected": StatusRule(OrderStatus.REJECTED, True, "refused"),
}
"""Every Alpaca order status -> its rule."""


def map_status(venue_status: str, quantity: Decimal, filled: Decimal) -> tuple[OrderStatus, bool]:
    """The kernel status of an order in ``venue_status`` with ``filled`` of ``quantity``
    executed, and whether the status was known. ``filled`` is reported only for a whole
    fill; a fully executed order in ``calculated`` is filled as well."""
    rule = STATUSES.get(venue_status)
    whole = filled >= quantity > 0
    if rule is None:
        return (OrderStatus.PARTIAL_FILL if filled > 0 else OrderStatus.WORKING), False
    if rule.status is OrderStatus.FILLED or (venue_status == "calculated" and whole):
        return (OrderStatus.FILLED if whole else OrderStatus.PARTIAL_FILL), True
    if rule.status is None or rule.status is OrderStatus.PARTIAL_FILL:
        return (OrderStatus.PARTIAL_FILL if filled > 0 else OrderStatus.WORKING), True
    return rule.status, True
