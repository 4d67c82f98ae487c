"""How each exchange carries and finds the kernel's client order id.

ccxt's unified ``clientOrderId`` and its ``has[...]`` flags cannot be trusted for this
(checked by capturing ccxt 4.5's signed requests offline, see tests/test_request_capture.py):
Coinbase drops the unified ``clientOrderId`` and sends one it generates, and Kraken's
``fetch_order_with_client_order_id`` sends the integer ``userref`` field a string. So
each exchange here names the raw field the id travels in, how an order is found again
by it, and how the kernel's id (``tk-`` + 24 hex digits, 27 characters) is spelled
within the exchange's length and alphabet.
"""

from __future__ import annotations

import hashlib
import re

from attrs import frozen

KERNEL_ID = re.compile(r"tk-([0-9a-f]{24})")
_UUID_MARK = "746b0000"  # "tk" in hex, then zeros: marks a UUID spelled from a kernel id


@frozen
class Profile:
    """One exchange's client-order-id rules."""

    exchange: str
    """The ccxt exchange id."""
    create_field: str
    """The raw request field of ``create_order`` that carries the id."""
    lookup: str
    """``fetch_order``: ask for the order by id (``lookup_field``); ``open_closed``:
    list open, then closed orders filtered by the id, and match it exactly here."""
    lookup_field: str
    """The raw request field of the lookup and of ``cancel_order``."""
    spelling: str
    """``plain`` (the id as is), ``alnum`` (letters and digits only) or ``uuid``."""
    max_length: int
    """The longest id the exchange accepts."""
    reliable: bool
    """Whether a lost ``create_order`` answer can be settled by the lookup for sure."""
    scan: tuple[str, ...] = ("fetch_open_orders", "fetch_closed_orders")
    """For ``open_closed``: the ccxt methods listed, in order (their "closed" must
    include cancelled orders: Bybit's ``fetch_closed_orders`` asks for filled only)."""
    server_filter: bool = True
    """Whether the lookup endpoints filter by ``lookup_field`` (else recent orders are
    scanned, and matched here)."""
    refusals: tuple[tuple[str, str], ...] = ()
    """Error texts that refuse an order for good though ccxt leaves them unclassified
    (``ExchangeError``), with the rejection code each becomes."""
    trade_paging: str = "since"
    """How an order's trades are read: ``order_id`` (by the order's id, Binance),
    ``offset`` (the account's trades from the order's time, by offset, Kraken) or
    ``since`` (the symbol's trades from the order's time, by time)."""
    trade_order_field: str = ""
    """For ``since`` paging: the raw field that narrows the trades to one order (OKX
    ``ordId``, Bybit ``orderId``)."""
    duplicate_markers: tuple[str, ...] = ()
    """Error texts that prove the id is already in use at the exchange: a lookup that
    then misses is an unknown outcome (the order exists), never a rejection."""
    market_buy: str = "base"
    """How a market buy's amount goes out: ``base`` (base-currency units), ``uta`` (base
    units only on a unified account, with ``marketUnit=baseCoin``; a classic account
    reads it as quote to spend: refused), ``refuse`` (the exchange wants quote units)."""
    duplicate_is_invalid_order: bool = False
    """The exchange refuses an id in use as a generic ``InvalidOrder`` (Binance -2010
    "Duplicate order sent.", Kraken's ``EOrder:`` errors): look the order up before
    calling it a rejection, and adopt it when it is there."""

    def venue_id(self, client_order_id: str) -> str:
        """The id as sent to the exchange (deterministic: the same kernel id, the same
        venue id, so a lookup after a restart finds the order)."""
        match = KERNEL_ID.fullmatch(client_order_id)
        if self.spelling == "uuid":
            body = match.group(1) if match else None
            if body is None:  # not a kernel id: a one-way spelling, still deterministic
                body = hashlib.sha256(client_order_id.encode()).hexdigest()[:24]
                hexed = "746b0001" + body
            else:
                hexed = _UUID_MARK + body
            return f"{hexed[:8]}-{hexed[8:12]}-{hexed[12:16]}-{hexed[16:20]}-{hexed[20:]}"
        if self.spelling == "alnum":
            spelled = client_order_id.replace("-", "")
            if spelled.isalnum() and spelled.isascii() and len(spelled) <= self.max_length:
                return spelled
            return "tk" + hashlib.sha256(client_order_id.encode()).hexdigest()[:24]
        if len(client_order_id) <= self.max_length:
            return client_order_id
        return "tk-" + hashlib.sha256(client_order_id.encode()).hexdigest()[:24]

    def kernel_id(self, venue_id: str) -> str:
        """The kernel's id for an id read back from the exchange (ids the kernel did
        not send are returned as they are)."""
        if self.spelling == "uuid":
            flat = venue_id.replace("-", "").lower()
            if len(flat) == 32 and flat.startswith(_UUID_MARK):
                return "tk-" + flat[8:]
        elif self.spelling == "alnum" and re.fullmatch(r"tk[0-9a-f]{24}", venue_id):
            return "tk-" + venue_id[2:]
        return venue_id


PROFILES: dict[str, Profile] = {
    # newClientOrderId (^[.A-Z:/a-z0-9_-]{1,36}$), looked up with origClientOrderId;
    # a reused id is refused with -2010 NEW_ORDER_REJECTED ("Duplicate order sent.")
    "binance": Profile(
        "binance",
        "newClientOrderId",
        "fetch_order",
        "origClientOrderId",
        "plain",
        36,
        reliable=True,
        duplicate_is_invalid_order=True,
        trade_paging="order_id",
        duplicate_markers=("Duplicate order sent",),
    ),
    # cl_ord_id: a UUID or free text of up to 18 characters (27 is too long: spelled
    # as a UUID); OpenOrders and ClosedOrders filter by it
    # Kraken's order errors carry a detail ccxt's exact matching misses
    # ("EGeneral:Invalid arguments:volume"): every EOrder/EGeneral:Invalid refuses
    "kraken": Profile(
        "kraken",
        "cl_ord_id",
        "open_closed",
        "cl_ord_id",
        "uuid",
        36,
        reliable=True,
        refusals=(('"EGeneral:Invalid arguments', "bad_request"), ('"EOrder:', "invalid_order")),
        duplicate_is_invalid_order=True,
        trade_paging="offset",
        duplicate_markers=("EOrder:Duplicate order",),
    ),
    # clOrdId: up to 32 letters and digits (no '-'); an id in use: 51016 "Duplicated clOrdId"
    "okx": Profile(
        "okx",
        "clOrdId",
        "fetch_order",
        "clOrdId",
        "alnum",
        32,
        reliable=True,
        duplicate_is_invalid_order=True,
        duplicate_markers=("51016",),
        trade_order_field="ordId",
    ),
    # orderLinkId: up to 36 characters; realtime and history orders filter by it
    "bybit": Profile(
        "bybit",
        "orderLinkId",
        "open_closed",
        "orderLinkId",
        "plain",
        36,
        reliable=True,
        scan=("fetch_open_orders", "fetch_canceled_and_closed_orders"),
        duplicate_is_invalid_order=True,
        duplicate_markers=("110072",),  # "OrderLinkedID is duplicate"
        trade_order_field="orderId",
        market_buy="uta",
    ),
    # client_order_id passes through raw (the unified clientOrderId is dropped), but no
    # endpoint filters by it: found only by scanning recent orders
    "coinbase": Profile(
        "coinbase",
        "client_order_id",
        "open_closed",
        "client_order_id",
        "plain",
        64,
        reliable=False,
        scan=("fetch_orders",),
        server_filter=False,
        market_buy="refuse",  # market buys are sized in quote (ccxt wants a price)
    ),
}
"""The exchanges whose client-order-id handling was checked by request capture."""


def profile_for(exchange: str) -> Profile | None:
    """The exchange's rules, or ``None`` when it has none here."""
    return PROFILES.get(exchange)


def fallback(exchange: str) -> Profile:
    """For an exchange without rules: the unified ``clientOrderId``, found by scanning
    open and closed orders; not reliable (trading needs the operator's acceptance)."""
    return Profile(
        exchange,
        "clientOrderId",
        "open_closed",
        "clientOrderId",
        "plain",
        32,
        False,
        server_filter=False,
    )
