"""``broker:alpaca``: the kernel's Broker protocol over Alpaca's trading API (v2).

Outcomes of a submit (docs/brokers.md has the table):

* 200: the order as Alpaca accepted it. A body that cannot be read (or that names
  another client order id) is an unknown outcome: the order may exist.
* 422 with code 40010001 (``client_order_id must be unique`` and other validation
  errors share the code): the order is looked up by client order id; found and not
  rejected, it is adopted (the first submit did arrive); otherwise a rejection.
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

from datetime import timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import quote

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

from .http import AlpacaError, AlpacaHTTP
from .parse import (
    AccountSnapshot,
    VenueOrder,
    activity_order_id,
    parse_account,
    parse_asset,
    parse_fill,
    parse_order,
    parse_position,
)
from .wire import BadResponse, array, error_fields

MAX_CLIENT_ORDER_ID = 128
"""Alpaca's limit on ``client_order_id`` (the kernel's ids are 27 characters)."""
DUPLICATE_CODE = "40010001"
"""Alpaca's validation error code, which ``client_order_id must be unique`` carries."""
PAGE = 100
"""Activities per page (Alpaca's maximum)."""
ORDERS_LIMIT = 500
"""Orders per list request (Alpaca's maximum)."""
WHOLE_SHARES = OrderConstraints(min_quantity=1, quantity_increment=1, price_tick=Decimal("0.01"))
_PARSE_ERRORS = (BadResponse, TypeError, ValueError, ArithmeticError)


class AlpacaBroker:
    """Places and tracks orders of one Alpaca account. ``submit`` is idempotent on the
    client order id (Alpaca refuses a second order with the same id) and never resent."""

    def __init__(self, http: AlpacaHTTP, *, live_capable: bool = False) -> None:
        self.http = http
        self.live_capable = live_capable
        self._constraints: dict[str, OrderConstraints] = {}
        self.last_account: AccountSnapshot | None = None
        """The last ``/v2/account`` read (buying power, blocks), or ``None``."""

    def __repr__(self) -> str:
        return f"AlpacaBroker({self.http!r}, live_capable={self.live_capable})"

    def close(self) -> None:
        """Close the HTTP client."""
        self.http.close()

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
        if not venue.known_status:
            self.http.emit(
                "unknown_status",
                severity="warning",
                client_order_id=venue.order.client_order_id,
                status=self.http.clean(venue.venue_status),
            )
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
        payload: dict[str, Any] = {
            "symbol": request.symbol,
            "qty": str(request.quantity),
            "side": str(request.side),
            "type": str(request.order_type),
            "time_in_force": str(request.time_in_force),
            "client_order_id": coid,
        }
        if request.order_type is OrderType.LIMIT:
            if request.limit_price is None:
                raise BrokerRejected("a limit order needs a limit price", "no_limit_price")
            payload["limit_price"] = str(request.limit_price)
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
            return venue.order
        if 300 <= status < 400 or 200 < status < 300:
            raise self._unknown(coid, f"unexpected HTTP {status}")
        error = self._error(response, "submit")
        if status == 422 and error.code == DUPLICATE_CODE:
            existing = self.get_order(coid)  # the first submit may have arrived
            if existing is not None and str(existing.status) != "rejected":
                return existing
        code = f"alpaca_{error.code}" if error.code else f"http_{status}"
        raise BrokerRejected(str(error), code)

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
        return venue

    def get_order(self, client_order_id: str) -> Order | None:
        """The order with this client order id; ``None`` only when Alpaca answers 404.
        Any other failure raises (the executor then keeps the intent unresolved)."""
        venue = self._lookup(client_order_id)
        return None if venue is None else venue.order

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
        """Executions from the ``FILL`` activities, oldest first, unique by id: all of
        the latest orders', or one order's (none asked when nothing filled yet)."""
        if client_order_id is not None:
            venue = self._lookup(client_order_id)
            if venue is None or venue.order.filled_quantity == 0:
                return []
            owners = {venue.order_id: venue}
            since = venue.order.submitted_at
        else:
            owners = {v.order_id: v for v in self._orders("all", ORDERS_LIMIT)}
            since = None
        fills: dict[str, Fill] = {}
        for item in self._activities(since):
            try:
                owner = owners.get(activity_order_id(item))
                if owner is None:
                    continue
                _, fill = parse_fill(item, owner.order.client_order_id)
            except _PARSE_ERRORS as exc:
                raise AlpacaError(
                    f"alpaca: fills: bad activity: {self.http.clean(str(exc))}"
                ) from None
            fills.setdefault(fill.fill_id, fill)
        result = sorted(fills.values(), key=lambda f: f.ts)  # stable: the venue's order
        self._check_fills(result, owners)
        return result

    def _activities(self, since: Any) -> list[Any]:
        params: dict[str, Any] = {"direction": "asc", "page_size": PAGE}
        if since is not None:  # a second of slack: the fill can carry the same timestamp
            params["after"] = (since - timedelta(seconds=1)).isoformat().replace("+00:00", "Z")
        items: list[Any] = []
        for _ in range(self.http.config.max_fill_pages):
            page = self._get("/v2/account/activities/FILL", "fills", params)
            try:
                page = array(page, "activities")
            except BadResponse as exc:
                raise AlpacaError(f"alpaca: fills: bad response: {exc}") from None
            last = page[-1].get("id") if page and isinstance(page[-1], dict) else None
            items.extend(page)
            if len(page) < PAGE or not isinstance(last, str):
                break
            params["page_token"] = last
        return items

    def _check_fills(self, fills: list[Fill], owners: dict[str, VenueOrder]) -> None:
        """Fills never exceed their order: a venue that says so is not believed."""
        total: dict[str, Decimal] = {}
        for fill in fills:
            assert fill.broker_order_id is not None
            total[fill.broker_order_id] = (
                total.get(fill.broker_order_id, Decimal(0)) + fill.quantity
            )
            order = owners[fill.broker_order_id].order
            if total[fill.broker_order_id] > order.quantity or fill.side != order.side:
                raise AlpacaError(
                    f"alpaca: fills of {order.client_order_id} disagree with the order "
                    "(more than its quantity, or the other side)"
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

    def order_constraints(self, symbol: str) -> OrderConstraints:
        """What Alpaca accepts for ``symbol`` (``/v2/assets/{symbol}``, cached): whole
        shares unless the asset is fractionable; an unknown asset gets whole shares (the
        venue refuses its orders anyway)."""
        if symbol in self._constraints:
            return self._constraints[symbol]
        response = self.http.read("GET", f"/v2/assets/{quote(symbol, safe='/')}")
        if response.status_code == 404:
            return WHOLE_SHARES
        if response.status_code != 200:
            raise self._error(response, "asset")
        try:
            constraints = parse_asset(self._json(response, "asset"))
        except _PARSE_ERRORS as exc:
            raise AlpacaError(f"alpaca: asset: bad response: {self.http.clean(str(exc))}") from None
        self._constraints[symbol] = constraints
        return constraints
