"""What every exchange double shares: state (orders, trades, balances), faults, the
request log, and the broker contract kit's ``Venue`` members. Each exchange's double
(:mod:`.binance`, :mod:`.kraken`) speaks its own wire format on top."""

from __future__ import annotations

import itertools
import time
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from attrs import define, field
from tradekernel_ccxt.exchanges import PROFILES

from .wire import Answer, Captured, LostResponse, Session

PRICE = Decimal("30000")


@define
class VenueOrder:
    """One order as the exchange keeps it."""

    order_id: str
    client_id: str
    symbol: str  # the unified symbol
    side: str  # buy | sell
    type: str  # market | limit
    quantity: Decimal
    price: Decimal | None
    status: str  # the exchange's own status word
    created_ms: int
    filled: Decimal = Decimal(0)
    cost: Decimal = Decimal(0)
    updated_ms: int = 0


@define
class VenueTrade:
    """One execution."""

    trade_id: str
    order: VenueOrder
    quantity: Decimal
    price: Decimal
    fee: Decimal
    ms: int
    fee_asset: str = "USDT"
    wire: dict[str, Any] = field(factory=dict)  # wire fields replaced (hostile tests)


@define
class Fault:
    status: int
    count: int
    reset_after: float | None


class ExchangeDouble:
    """A stateful exchange behind ccxt's HTTP session. Subclasses set ``exchange``,
    ``statuses``, ``symbol``, ``market`` and implement :meth:`route` and the status words."""

    exchange = ""
    symbol = "BTC/USDT"
    quantity = Decimal("0.01")
    statuses: Mapping[str, bool] = {}
    OPEN = ""
    PARTIAL = ""
    FILLED = ""
    CANCELED = ""
    submit_path = ""

    def __init__(self, api_key: str, secret: str) -> None:
        self.api_key = api_key
        self.secret = secret
        self.secrets: tuple[str, ...] = (api_key, secret)
        self.slept: list[float] = []
        self.requests: list[Captured] = []
        self.orders: dict[str, VenueOrder] = {}
        self.trades: list[VenueTrade] = []
        self.balances: dict[str, Decimal] = {"USDT": Decimal(100000), "BTC": Decimal(0)}
        self.price = PRICE
        self.fee_in_base = False  # a buy's fee charged in the asset received (Binance without BNB)
        self.clock_ms = int(time.time() * 1000) - 3_600_000  # an hour ago: never ahead
        self._ids = itertools.count(1)
        self._lose: list[bool] = []  # True: a submit, False: a read
        self._faults: list[Fault] = []
        self._submit_faults: list[Fault] = []
        self._reject: list[str] = []
        self._echo = False
        self.profile = PROFILES[self.exchange]

    # -- the transport ---------------------------------------------------------------

    def session(self) -> Session:
        """A ``requests`` session whose requests this double answers."""
        return Session(self.handle)

    def handle(self, request: Captured) -> Answer:
        self.requests.append(request)
        self.clock_ms += 1000
        is_submit = self.is_submit(request)
        if is_submit and self._submit_faults:
            return self.fault_answer(self._submit_faults.pop(0), request)
        if self._faults:
            fault = self._faults[0]
            fault.count -= 1
            if fault.count <= 0:
                self._faults.pop(0)
            return self.fault_answer(fault, request)
        if is_submit and self._reject:
            return self.reject_answer(self._reject.pop(0), request)
        answer = self.route(request)
        if self._lose and self._lose[0] == is_submit:
            self._lose.pop(0)
            raise LostResponse
        return answer

    def is_submit(self, request: Captured) -> bool:
        return request.method == "POST" and request.path == self.submit_path

    def echoed(self, message: str, request: Captured) -> str:
        """An error message that, after :meth:`echo_secrets`, quotes the credentials."""
        if not self._echo:
            return message
        return (
            f"{message} (request key={self.api_key} secret={self.secret} headers={request.headers})"
        )

    # -- subclass wire format --------------------------------------------------------

    def route(self, request: Captured) -> Answer:
        raise NotImplementedError

    def fault_answer(self, fault: Fault, request: Captured) -> Answer:
        raise NotImplementedError

    def reject_answer(self, reason: str, request: Captured) -> Answer:
        raise NotImplementedError

    # -- state -----------------------------------------------------------------------

    def new_id(self) -> int:
        return next(self._ids)

    def by_client_id(self, venue_id: str) -> VenueOrder | None:
        found = [o for o in self.orders.values() if o.client_id == venue_id]
        return found[-1] if found else None

    def place(self, **kwargs: Any) -> VenueOrder:
        order = VenueOrder(created_ms=self.clock_ms, updated_ms=self.clock_ms, **kwargs)
        self.orders[order.order_id] = order
        return order

    def execute(self, order: VenueOrder, quantity: Decimal) -> VenueTrade:
        at = order.price if order.type == "limit" and order.price else self.price
        fee = (quantity * at * Decimal("0.001")).quantize(Decimal("0.00000001"))
        order.filled += quantity
        order.cost += quantity * at
        order.status = self.FILLED if order.filled >= order.quantity else self.PARTIAL
        order.updated_ms = self.clock_ms
        base = order.symbol.split("/")[0]
        sign = 1 if order.side == "buy" else -1
        in_base = self.fee_in_base and order.side == "buy"
        if in_base:
            fee = (quantity * Decimal("0.001")).quantize(Decimal("0.00000001"))
        self.balances[base] = self.balances.get(base, Decimal(0)) + sign * quantity
        self.balances["USDT"] -= sign * quantity * at
        self.balances[base if in_base else "USDT"] -= fee
        asset = base if in_base else "USDT"
        trade = VenueTrade(self.trade_id(), order, quantity, at, fee, self.clock_ms, asset)
        self.trades.append(trade)
        return trade

    def trade_id(self) -> str:
        return str(self.new_id())

    # -- the broker contract kit's Venue members ---------------------------------------

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)

    def orders_with(self, client_order_id: str) -> int:
        venue_id = self.profile.venue_id(client_order_id)
        return sum(1 for o in self.orders.values() if o.client_id == venue_id)

    def submit_requests(self) -> int:
        return sum(1 for r in self.requests if self.is_submit(r))

    def read_requests(self) -> int:
        """Requests other than submits that reached the venue (the kit's optional member)."""
        return sum(1 for r in self.requests if not self.is_submit(r))

    def _order_of(self, client_order_id: str) -> VenueOrder:
        order = self.by_client_id(self.profile.venue_id(client_order_id))
        if order is None:
            raise KeyError(client_order_id)
        return order

    def fill(self, client_order_id: str, quantity: Decimal | None = None) -> None:
        order = self._order_of(client_order_id)
        self.execute(order, order.quantity - order.filled if quantity is None else quantity)

    def set_status(self, client_order_id: str, status: str) -> None:
        order = self._order_of(client_order_id)
        order.status = status
        order.updated_ms = self.clock_ms

    def lose_next_response(self, *, submit: bool = True) -> None:
        self._lose.append(submit)

    def fail_next(self, status: int, *, count: int = 1, reset_after: float | None = None) -> None:
        self._faults.append(Fault(status, count, reset_after))

    def fail_next_submit(self, status: int, *, reset_after: float | None = None) -> None:
        """The next submit (only) answers HTTP ``status``; reads before it are served."""
        self._submit_faults.append(Fault(status, 1, reset_after))

    def reject_next(self, reason: str) -> None:
        self._reject.append(reason)

    def echo_secrets(self) -> None:
        self._echo = True
