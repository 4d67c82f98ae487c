"""``broker:alpaca``: the kernel's Broker protocol over Alpaca's trading API (v2).

Outcomes of a submit (docs/brokers.md has the table):

* 200: the order as Alpaca accepted it, when it is the order requested (else a
  ``client_order_id_conflict`` rejection and a critical event). A body that cannot be
  read (or that names another client order id) is an unknown outcome.
* 422 with code 40010001 (``client_order_id must be unique`` and other validation
  errors share the code): the order is looked up by client order id; found, not
  rejected and the one requested, it is adopted (the first submit did arrive); when
  the message proves the id is taken but the lookup finds nothing, the outcome is
  unknown; otherwise a rejection.
* Any other 4xx: :class:`BrokerRejected` with the stable code ``alpaca_<code>`` (or
  ``http_<status>`` when the body has none); nothing was created.
* A timeout, a dropped connection, 429, 5xx, a redirect: :class:`SubmitOutcomeUnknown`
  (and a ``broker.outcome_unknown`` event). The POST is never repeated here; the
  executor looks the order up by client order id.

Fills come from the account's ``FILL`` activities (one per execution, with Alpaca's own
id, price, quantity and time), not from ``filled_qty``/``filled_avg_price`` deltas:
deltas need the previous snapshot, which a restarted process no longer has, so their
ids and prices would not be stable across restarts."""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import quote

import attrs
from tradekernel.api import (
    Account,
    BrokerRejected,
    Fill,
    Order,
    OrderConstraints,
    OrderRequest,
    OrderType,
    Position,
    SubmitOutcomeUnknown,
)

from .checks import PARSE_ERRORS, believe, mismatch, unaccounted
from .http import AlpacaError, AlpacaHTTP
from .parse import (
    AccountSnapshot,
    VenueOrder,
    asset_tradable,
    parse_account,
    parse_asset,
    parse_order,
    parse_position,
)
from .wire import BadResponse, array, error_fields

MAX_CLIENT_ORDER_ID = 128
"""Alpaca's limit on ``client_order_id`` (the kernel's ids are 27 characters)."""
DUPLICATE_CODE = "40010001"
"""Alpaca's validation error code, which ``client_order_id must be unique`` carries."""
DUPLICATE_MESSAGE = "client_order_id must be unique"
"""Alpaca's message proving an order with the id exists."""
CONFLICT_CODE = "client_order_id_conflict"
"""The rejection code of a submit whose id names an order other than the one requested."""
NOT_TRADABLE_CODE = "asset_not_tradable"
"""The rejection code of a submit for an asset Alpaca says is not tradable."""
PAGE = 100
"""Activities per page (Alpaca's maximum)."""
ORDERS_LIMIT = 500
"""Orders per list request (Alpaca's maximum)."""
WHOLE_SHARES = OrderConstraints(min_quantity=1, quantity_increment=1, price_tick=Decimal("0.01"))
_PARSE_ERRORS = PARSE_ERRORS
FRESH = 2.0
"""Seconds a lookup stays fresh enough for ``fills`` of the same order (the runtime's
monitor asks ``get_order`` then ``fills``: one lookup serves both)."""
_SEEN_MAX = 1024


def _plain(number: Decimal) -> str:
    """``number`` in plain notation (``10``, never ``1E+1``: Alpaca reads decimals)."""
    return format(number, "f")


class AlpacaBroker:
    """Places and tracks orders of one Alpaca account. ``submit`` is idempotent on the
    client order id (Alpaca refuses a second order with the same id) and never resent."""

    def __init__(self, http: AlpacaHTTP, *, live_capable: bool = False) -> None:
        self.http = http
        self.live_capable = live_capable
        self._constraints: dict[str, OrderConstraints] = {}
        self._seen: dict[str, tuple[float, VenueOrder]] = {}
        self._filled: dict[str, tuple[str, Decimal]] = {}
        """client order id -> (order id, the highest filled quantity read)."""
        self._untradable: set[str] = set()
        self.last_account: AccountSnapshot | None = None
        """The last ``/v2/account`` read (buying power, blocks), or ``None``."""

    def __repr__(self) -> str:
        return f"AlpacaBroker({self.http!r}, live_capable={self.live_capable})"

    def close(self) -> None:
        """Close the HTTP client."""
        self.http.close()

    def account_key(self) -> tuple[str, str, str] | None:
        """The account: the trading endpoint (paper or live) and a one-way fingerprint of
        the API key id (never the key). One account reached with two different keys is
        not recognised as one."""
        fingerprint = getattr(self.http, "key_fingerprint", None)
        if not fingerprint:
            return None
        return ("alpaca", self.http.config.base_url.rstrip("/"), fingerprint)

    # -- helpers -----------------------------------------------------------------------

    def _json(self, response: Any, what: str) -> Any:
        try:
            return self.http.body(response)
        except BadResponse as exc:
            raise AlpacaError(
                f"alpaca: {what}: bad response: {self.http.clean(str(exc))}"
            ) from None

    def _error(self, response: Any, what: str) -> AlpacaError:
        try:
            body = self.http.body(response)
        except BadResponse:
            body = None
        code, message = error_fields(body)
        detail = self.http.clean(message) if message else ""
        return AlpacaError(
            f"alpaca: {what}: HTTP {response.status_code}" + (f": {detail}" if detail else ""),
            status=response.status_code,
            code=code,
        )

    def _order(self, value: Any, what: str) -> VenueOrder:
        try:
            venue = parse_order(value)
        except _PARSE_ERRORS as exc:
            raise AlpacaError(f"alpaca: {what}: bad order: {self.http.clean(str(exc))}") from None
        coid = venue.order.client_order_id
        if not venue.known_status:
            self.http.emit(
                "unknown_status",
                severity="warning",
                client_order_id=coid,
                status=self.http.clean(venue.venue_status),
            )
        seen = self._filled.get(coid)
        if seen is not None and venue.order.filled_quantity < seen[1] and seen[0] == venue.order_id:
            self.http.emit(
                "filled_qty_decreased",
                severity="warning",
                client_order_id=coid,
                broker_order_id=venue.order_id,
                filled_quantity=str(venue.order.filled_quantity),
                previous=str(seen[1]),
            )
            # what was seen executed stays executed: the lower figure is not passed on
            return attrs.evolve(venue, order=attrs.evolve(venue.order, filled_quantity=seen[1]))
        if len(self._filled) >= _SEEN_MAX:
            self._filled.clear()
        self._filled[coid] = (venue.order_id, venue.order.filled_quantity)
        return venue

    def _get(self, path: str, what: str, params: dict[str, Any] | None = None) -> Any:
        response = self.http.read("GET", path, params=params)
        if response.status_code != 200:
            raise self._error(response, what)
        return self._json(response, what)

    # -- orders ------------------------------------------------------------------------

    def submit(self, request: OrderRequest) -> Order:
        """Place ``request`` once (see the module's outcome table)."""
        coid = request.client_order_id
        if not 0 < len(coid) <= MAX_CLIENT_ORDER_ID:
            raise BrokerRejected(
                f"client order id is {len(coid)} characters (Alpaca allows 1..128)",
                "client_order_id_length",
            )
        if request.symbol in self._untradable:
            raise BrokerRejected(
                f"alpaca: {request.symbol} is not tradable (its asset says tradable: false)",
                NOT_TRADABLE_CODE,
            )
        payload: dict[str, Any] = {
            "symbol": request.symbol,
            "qty": _plain(request.quantity),
            "side": str(request.side),
            "type": str(request.order_type),
            "time_in_force": str(request.time_in_force),
            "client_order_id": coid,
        }
        if request.order_type is OrderType.LIMIT:
            if request.limit_price is None:
                raise BrokerRejected("a limit order needs a limit price", "no_limit_price")
            payload["limit_price"] = _plain(request.limit_price)
        try:
            response = self.http.send_once("POST", "/v2/orders", json=payload)
        except SubmitOutcomeUnknown as exc:
            raise self._unknown(coid, str(exc)) from None
        status = response.status_code
        if status == 200:
            try:
                venue = self._order(self.http.body(response), "submit")
            except (AlpacaError, BadResponse) as exc:
                raise self._unknown(coid, f"unreadable answer: {exc}") from None
            if venue.order.client_order_id != coid:
                raise self._unknown(coid, "the answer names another client order id")
            return self._adopt(request, venue, "the answer to the submit")
        if 300 <= status < 400 or 200 < status < 300:
            raise self._unknown(coid, f"unexpected HTTP {status}")
        error = self._error(response, "submit")
        if status == 422 and error.code == DUPLICATE_CODE:
            return self._duplicate(request, error)
        code = f"alpaca_{error.code}" if error.code else f"http_{status}"
        raise BrokerRejected(str(error), code)

    def _duplicate(self, request: OrderRequest, error: AlpacaError) -> Order:
        """A 422 40010001: the first submit may have arrived. The order of that id is
        adopted when it is the one requested. When the message proves the id is taken
        (``client_order_id must be unique``) and the lookup cannot show the order (404,
        or it fails), the outcome is unknown, never a permanent rejection: the order
        exists and the executor resolves it by a later lookup."""
        coid = request.client_order_id
        proven = DUPLICATE_MESSAGE in str(error).lower()
        try:
            existing = self._lookup(coid)
        except AlpacaError as exc:
            if proven:
                raise self._unknown(coid, f"duplicate id, lookup failed: {exc}") from None
            raise
        if existing is None:
            if proven:
                raise self._unknown(coid, "duplicate id, but the lookup found no order yet")
        elif existing.venue_status != "rejected":
            return self._adopt(request, existing, "the order already under this id")
        code = f"alpaca_{error.code}" if error.code else "http_422"
        raise BrokerRejected(str(error), code)

    def _adopt(self, request: OrderRequest, venue: VenueOrder, what: str) -> Order:
        """``venue``'s order when it is the one ``request`` asked for; otherwise a
        ``client_order_id_conflict`` rejection and a critical ``broker.order_conflict``
        event (an order under our id that we did not ask for is never adopted)."""
        problem = mismatch(request, venue)
        if problem is None:
            return venue.order
        coid = request.client_order_id
        self.http.emit(
            "order_conflict",
            severity="critical",
            client_order_id=coid,
            broker_order_id=venue.order_id,
            reason=self.http.clean(f"{what}: {problem}"),
        )
        raise BrokerRejected(
            f"alpaca: {what} is not the order requested ({self.http.clean(problem)})",
            CONFLICT_CODE,
        )

    def _unknown(self, coid: str, reason: str) -> SubmitOutcomeUnknown:
        reason = self.http.clean(reason)
        self.http.emit("outcome_unknown", severity="warning", client_order_id=coid, reason=reason)
        return SubmitOutcomeUnknown(reason)

    def _lookup(self, coid: str) -> VenueOrder | None:
        response = self.http.read(
            "GET", "/v2/orders:by_client_order_id", params={"client_order_id": coid}
        )
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise self._error(response, "order lookup")
        venue = self._order(self._json(response, "order lookup"), "order lookup")
        if venue.order.client_order_id != coid:
            raise AlpacaError("alpaca: order lookup: the answer names another client order id")
        if venue.venue_status == "replaced":  # terminal here; an operator must look
            self.http.emit(
                "order_replaced",
                severity="critical",
                client_order_id=coid,
                broker_order_id=venue.order_id,
                replaced_by=venue.replaced_by,
            )
        return venue

    def _recent(self, coid: str) -> VenueOrder | None:
        """The order ``get_order`` looked up less than :data:`FRESH` seconds ago (used
        once), else a new lookup. A fill in between is not lost: the next ``fills``
        reads it."""
        seen = self._seen.pop(coid, None)
        if seen is not None and time.monotonic() - seen[0] < FRESH:
            return seen[1]
        return self._lookup(coid)

    def get_order(self, client_order_id: str) -> Order | None:
        """The order with this client order id; ``None`` only when Alpaca answers 404.
        Any other failure raises (the executor then keeps the intent unresolved)."""
        venue = self._lookup(client_order_id)
        if venue is None:
            return None
        if len(self._seen) >= _SEEN_MAX:
            self._seen.clear()
        self._seen[client_order_id] = (time.monotonic(), venue)
        return venue.order

    def cancel(self, client_order_id: str) -> Order | None:
        """Cancel the order; one already finished is returned as it stands (Alpaca's 422
        ``order is not cancelable`` is not an error)."""
        venue = self._lookup(client_order_id)
        if venue is None or venue.order.terminal:
            return None if venue is None else venue.order
        response = self.http.read("DELETE", f"/v2/orders/{quote(venue.order_id, safe='')}")
        if response.status_code not in (200, 204, 404, 422):
            raise self._error(response, "cancel")
        return self.get_order(client_order_id)

    def orders(self, *, open_only: bool = False) -> list[Order]:
        """The account's orders, newest first (at most 500: Alpaca's page)."""
        return [v.order for v in self._orders("open" if open_only else "all", ORDERS_LIMIT)]

    def _orders(self, status: str, limit: int) -> list[VenueOrder]:
        params = {"status": status, "limit": limit, "direction": "desc", "nested": "false"}
        items = self._get("/v2/orders", "orders", params)
        try:
            items = array(items, "orders")
        except BadResponse as exc:
            raise AlpacaError(f"alpaca: orders: bad response: {exc}") from None
        return [self._order(item, "orders") for item in items]

    def known_client_order_ids(self, prefix: str, limit: int) -> list[str]:
        """Up to ``limit`` client order ids starting with ``prefix``, newest first (from
        the latest 500 orders of the account)."""
        ids = [
            v.order.client_order_id
            for v in self._orders("all", ORDERS_LIMIT)
            if v.order.client_order_id.startswith(prefix)
        ]
        return ids[: max(0, limit)]

    # -- fills -------------------------------------------------------------------------

    def fills(self, client_order_id: str | None = None) -> list[Fill]:
        """Executions from the ``FILL`` activities, oldest first, unique by id: those of
        the latest 500 orders (read from the oldest one's submission on), or one
        order's (no activity request while nothing of it filled). An activity that
        disagrees with its order is not returned (a ``broker.fill_mismatch`` event names
        the order); the other orders' fills are. More activities than
        ``max_fill_pages`` pages before the order's fills are all read raise."""
        if client_order_id is not None:
            venue = self._recent(client_order_id)
            if venue is None or venue.order.filled_quantity == 0:
                return []
            owners = {venue.order_id: venue}
            since = venue.order.submitted_at
        else:
            owners = {v.order_id: v for v in self._orders("all", ORDERS_LIMIT)}
            if not owners:
                return []
            times = [v.order.submitted_at for v in owners.values() if v.order.submitted_at]
            since = min(times) if len(times) == len(owners) else None
        items = self._activities(since, owners)
        fresh = False
        while True:
            try:
                believed, rejected = believe(items, owners)
            except _PARSE_ERRORS as exc:  # whose activity it is cannot be told
                raise AlpacaError(
                    f"alpaca: fills: bad activity: {self.http.clean(str(exc))}"
                ) from None
            late = [oid for oid, why in rejected.items() if why[1]]
            if not late or fresh:
                break
            # the order may have filled after the lookup that listed it: look again once
            for oid in late:
                again = self._lookup(owners[oid].order.client_order_id)
                if again is not None and again.order_id == oid:
                    owners[oid] = again
            fresh = True
        for oid, (reason, _) in rejected.items():
            self.http.emit(
                "fill_mismatch",
                severity="critical",
                client_order_id=owners[oid].order.client_order_id,
                broker_order_id=oid,
                reason=self.http.clean(reason),
            )
        return sorted(believed, key=lambda f: f.ts)  # stable: the venue's order

    def _activities(self, since: Any, owners: dict[str, VenueOrder]) -> list[Any]:
        """The ``FILL`` activities from ``since`` (less a second) on, oldest first, until
        every owner's filled quantity is accounted for or the activities end; past
        ``max_fill_pages`` pages an error (and a ``broker.fill_pages_exhausted`` event),
        never a silent cut."""
        params: dict[str, Any] = {"direction": "asc", "page_size": PAGE}
        if since is not None:  # a second of slack: the fill can carry the same timestamp
            params["after"] = (since - timedelta(seconds=1)).isoformat().replace("+00:00", "Z")
        items: list[Any] = []
        pages = self.http.config.max_fill_pages
        for _ in range(pages):
            page = self._get("/v2/account/activities/FILL", "fills", params)
            try:
                page = array(page, "activities")
            except BadResponse as exc:
                raise AlpacaError(f"alpaca: fills: bad response: {exc}") from None
            last = page[-1].get("id") if page and isinstance(page[-1], dict) else None
            items.extend(page)
            if len(page) < PAGE or not isinstance(last, str):
                return items
            short = unaccounted(items, owners)
            if not short:
                return items
            params["page_token"] = last
        short = unaccounted(items, owners)
        self.http.emit(
            "fill_pages_exhausted",
            severity="critical",
            client_order_id=short[0] if len(short) == 1 else None,
            pages=pages,
            orders=len(short),
        )
        raise AlpacaError(
            f"alpaca: fills: {pages} pages of FILL activities read (max_fill_pages) and "
            f"the fills of {len(short)} order(s) ({', '.join(short[:3])}) are not all "
            "found yet: raise max_fill_pages"
        )

    # -- account -----------------------------------------------------------------------

    def positions(self) -> list[Position]:
        """The open positions (zero quantities skipped)."""
        items = self._get("/v2/positions", "positions")
        try:
            parsed = [parse_position(item) for item in array(items, "positions")]
        except _PARSE_ERRORS as exc:
            raise AlpacaError(
                f"alpaca: positions: bad response: {self.http.clean(str(exc))}"
            ) from None
        return [p for p in parsed if p.quantity != 0]

    def account(self) -> Account:
        """Cash and equity (buying power and blocks: :attr:`last_account`)."""
        value = self._get("/v2/account", "account")
        try:
            self.last_account = parse_account(value)
        except _PARSE_ERRORS as exc:
            raise AlpacaError(
                f"alpaca: account: bad response: {self.http.clean(str(exc))}"
            ) from None
        return self.last_account.account

    def server_time(self) -> datetime:
        """Alpaca's clock now (``/v2/clock``'s ``timestamp``, UTC): a read, which the
        readiness gate compares with this machine's clock (docs/deploy.md)."""
        from .marketwire import parse_clock

        value = self._get("/v2/clock", "clock")
        try:
            return parse_clock(value)[0]
        except _PARSE_ERRORS as exc:
            raise AlpacaError(f"alpaca: clock: bad response: {self.http.clean(str(exc))}") from None

    def order_constraints(self, symbol: str) -> OrderConstraints:
        """What Alpaca accepts for ``symbol`` (``/v2/assets/{symbol}``, cached): whole
        shares unless the asset is fractionable; an unknown asset gets whole shares (the
        venue refuses its orders anyway). An asset Alpaca says is not ``tradable`` is
        remembered: :meth:`submit` refuses its orders before sending."""
        if symbol in self._constraints:
            return self._constraints[symbol]
        response = self.http.read("GET", f"/v2/assets/{quote(symbol, safe='/')}")
        if response.status_code == 404:
            return WHOLE_SHARES
        if response.status_code != 200:
            raise self._error(response, "asset")
        try:
            body = self._json(response, "asset")
            constraints = parse_asset(body)
            tradable = asset_tradable(body)
        except _PARSE_ERRORS as exc:
            raise AlpacaError(f"alpaca: asset: bad response: {self.http.clean(str(exc))}") from None
        if not tradable:
            self._untradable.add(symbol)
        self._constraints[symbol] = constraints
        return constraints
