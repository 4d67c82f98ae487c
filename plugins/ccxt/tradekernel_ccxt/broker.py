"""``broker:ccxt``: orders on a crypto exchange through ccxt.

An order is sent at most once: ``create_order`` is never retried, by this plugin or by
ccxt (its ``maxRetriesOnFailure`` is forced to 0). An answer that does not come back
(a ``NetworkError``, an unreadable answer, an error ccxt cannot classify) is
:class:`SubmitOutcomeUnknown`; the executor then looks the order up by client order
id, which each exchange carries in its own field (:mod:`.exchanges`).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Any

import attrs
from loguru import logger
from tradekernel.api import (
    Account,
    BrokerRejected,
    Fill,
    Order,
    OrderConstraints,
    OrderRequest,
    OrderStatus,
    OrderType,
    Position,
    Side,
    SubmitOutcomeUnknown,
    TimeInForce,
)

from .client import not_found, rate_limited, rejection_code, transient
from .config import CcxtConfig
from .exchanges import PROFILES, Profile
from .fills import FillsIncomplete, disagreement, gross_amount, trades_of
from .numbers import BadAnswer, number, price, signed, text
from .orders import fill_from, order_from
from .reads import Reader

DEFAULT_INCREMENT = Decimal("0.00000001")
MAX_ORDERS = 500
"""The most orders one listing asks for (per method and symbol): the newest."""
TICK_SIZE = 4  # ccxt.base.decimal_to_precision.TICK_SIZE
SIGNIFICANT_DIGITS = 3
DECIMAL_PLACES = 2


class CcxtBroker:
    """A ``Broker`` over one ccxt exchange (spot)."""

    def __init__(
        self,
        config: CcxtConfig,
        exchange: Any,
        profile: Profile,
        *,
        name: str = "ccxt",
        emit: Callable[..., Any] | None = None,
        redact: Callable[[str], str] | None = None,
        secrets: Iterable[str] = (),
        sleep: Callable[[float], None] = time.sleep,
        live_capable: bool = False,
    ) -> None:
        """``exchange`` is the ccxt exchange object (markets loaded on first use);
        ``redact`` strips secrets from any text that leaves (the kernel's redactor);
        ``secrets`` are stripped as well, whatever ``redact`` does; ``sleep`` waits
        between read retries."""
        self.config = config
        self.exchange = exchange
        self.profile = profile
        self.live_capable = live_capable
        """Whether orders go to the exchange's real-money endpoint (not its sandbox)."""
        self.name = name
        self._emit = emit
        self._redact = redact
        self._secrets = tuple(s for s in secrets if s)
        self.read = Reader(
            config.read_retries,
            sleep=sleep,
            on_retry=self._retried,
            retry_after=self._reset,
            scrub=self.scrub,
        )
        self._symbols: dict[str, str] = {}  # client order id -> symbol, as submitted

    # -- plumbing --------------------------------------------------------------------

    def account_key(self) -> tuple[str, str, str] | None:
        """The account: the exchange, sandbox or live, and a one-way fingerprint of the
        API key (never the key); ``None`` without a key (nothing to compare). One account
        reached with two different keys is not recognised as one."""
        api_key = getattr(self.exchange, "apiKey", None)
        if not api_key or not isinstance(api_key, str):
            return None
        digest = hashlib.sha256(b"tradekernel account key\0" + api_key.encode()).hexdigest()
        where = "sandbox" if self.config.sandbox else "live"
        return ("ccxt", f"{self.config.exchange}:{where}", digest[:16])

    def scrub(self, text: str, limit: int = 300) -> str:
        """``text`` (an exchange's error message) safe to show: secrets masked, one
        line, printable, at most ``limit`` characters."""
        for value in self._secrets:
            text = text.replace(value, "********")
        if self._redact is not None:
            text = self._redact(text)
        text = "".join(c if c.isprintable() else " " for c in text)
        return " ".join(text.split())[:limit]

    def _event(self, kind: str, severity: str = "warning", **fields: Any) -> None:
        if self._emit is not None:
            self._emit("broker", kind, severity=severity, broker=self.name, **fields)

    def _conflict(self, request: OrderRequest, order: Order, reason: str) -> BrokerRejected:
        """The order under the id is not the one requested: never adopted, a critical
        ``broker.order_conflict``, the submit rejected (``client_order_id_conflict``)."""
        reason = self.scrub(f"the order under the id is not the one requested: {reason}")
        self._event(
            "order_conflict",
            severity="critical",
            client_order_id=request.client_order_id,
            broker_order_id=order.broker_order_id or "",
            reason=reason,
        )
        return BrokerRejected(reason, "client_order_id_conflict")

    def _reset(self) -> float | None:
        """The exchange's ``Retry-After`` on its last answer, in seconds."""
        headers = getattr(self.exchange, "last_response_headers", None) or {}
        return _seconds(headers.get("Retry-After") or headers.get("retry-after"))

    def _retried(self, what: str, error: BaseException, attempt: int, wait: float) -> None:
        if rate_limited(error):
            reset = self._reset()
            self._event("rate_limit", **({"reset_s": reset} if reset else {}))
        self._event(
            "request_retried",
            path=what,
            error=type(error).__name__,
            attempt=attempt,
            wait_s=round(wait, 3),
        )

    def _unknown_status(self, client_order_id: str, status: str) -> None:
        self._event("unknown_status", client_order_id=client_order_id, status=status)

    def _order(self, raw: Any) -> Order:
        step = None
        if isinstance(raw, dict):
            market = (self.exchange.markets or {}).get(raw.get("symbol"))
            if isinstance(market, dict):
                step = self._step((market.get("precision") or {}).get("amount"))
        return order_from(raw, self.profile, self._unknown_status, step)

    def markets(self) -> dict[str, Any]:
        """The exchange's markets (loaded once, a retried read)."""
        if not self.exchange.markets:
            self.read("load_markets", self.exchange.load_markets)
        return self.exchange.markets

    def _market(self, symbol: str) -> dict[str, Any]:
        if self.config.symbols and symbol not in self.config.symbols:
            raise BrokerRejected(
                f"{symbol} is not in [broker.{self.name}] symbols", "symbol_not_configured"
            )
        market = self.markets().get(symbol)
        if not market:
            raise BrokerRejected(f"{self.exchange.id} has no market {symbol}", "bad_symbol")
        return market

    def _symbols_to_ask(self) -> list[str | None]:
        if not self.profile_per_symbol():
            return [None]
        return list(self.config.symbols)

    def profile_per_symbol(self) -> bool:
        """Whether order reads need a symbol (Binance, OKX, Bybit) or list every market."""
        return self.profile.exchange not in ("kraken", "coinbase")

    # -- constraints -----------------------------------------------------------------

    def order_constraints(self, symbol: str) -> OrderConstraints:
        """Precision and limits of ``symbol`` from the loaded markets."""
        market = self.markets().get(symbol)
        if not market:
            return OrderConstraints()
        precision = market.get("precision") or {}
        limits = market.get("limits") or {}
        amount = (limits.get("amount") or {}).get("min")
        cost = (limits.get("cost") or {}).get("min")
        return OrderConstraints(
            min_quantity=number(amount, "market min amount") if amount is not None else 0,
            quantity_increment=self._step(precision.get("amount")) or DEFAULT_INCREMENT,
            min_notional=number(cost, "market min cost") if cost is not None else 0,
            price_tick=self._step(precision.get("price")),
        )

    def _step(self, value: Any) -> Decimal | None:
        if value is None:
            return None
        mode = getattr(self.exchange, "precisionMode", TICK_SIZE)
        step = number(value, "market precision")
        if mode == DECIMAL_PLACES:
            return Decimal(1).scaleb(-int(step))
        if mode == TICK_SIZE and step > 0:
            return step
        return None

    # -- orders ----------------------------------------------------------------------

    def submit(self, request: OrderRequest) -> Order:
        """Place ``request`` once; the same client order id again returns the order."""
        market = self._market(request.symbol)
        symbol = market["symbol"]
        if request.client_order_id in self._symbols:  # sent (or seen) by this instance
            existing, failed = self._lookup(request.client_order_id, symbol)
            if failed:  # nothing sent now; the executor's lookup settles it
                raise SubmitOutcomeUnknown(f"lookup failed: {failed}")
            if existing is not None:
                problem = _differs(existing, request)
                if problem:  # nothing sent: the id already holds another order
                    raise self._conflict(request, existing, problem)
                return existing
        try:  # ccxt refuses an amount below one step: that is the same refusal
            amount = self.exchange.amount_to_precision(symbol, str(request.quantity))
        except Exception:
            amount = "0"
        if Decimal(amount) != request.quantity:
            raise BrokerRejected(
                f"quantity {request.quantity} is not a multiple of {symbol}'s amount precision",
                "quantity_precision",
            )
        limit = None
        if request.order_type is OrderType.LIMIT and request.limit_price is not None:
            limit = self._safe_price(market, request.side, request.limit_price)
        venue_id = self.profile.venue_id(request.client_order_id)
        params: dict[str, Any] = {self.profile.create_field: venue_id}
        if request.order_type is OrderType.MARKET and request.side is Side.BUY:
            params.update(self._market_buy_params())
        if request.time_in_force is TimeInForce.IOC:
            params["timeInForce"] = "IOC"
        self._symbols[request.client_order_id] = symbol
        error: Exception | None = None
        try:
            raw = self.exchange.create_order(
                symbol, str(request.order_type), str(request.side), amount, limit, params
            )
        except Exception as exc:
            error = exc
        if error is not None:  # handled outside the except: no exception chain to leak
            return self._refused(request, error)
        return self._accepted(raw, request)

    def _safe_price(self, market: dict[str, Any], side: Side, limit: Decimal) -> str:
        """``limit`` on the market's price grid, rounded the safe way (a buy down, a
        sell up: never beyond the limit asked for), in every ccxt precision mode."""
        precision = (market.get("precision") or {}).get("price")
        if precision is None:
            return format(limit, "f")
        mode = getattr(self.exchange, "precisionMode", TICK_SIZE)
        if mode == SIGNIFICANT_DIGITS:
            digits = int(number(precision, "market price precision"))
            quantum = Decimal(1).scaleb(limit.adjusted() - max(digits, 1) + 1)
        else:
            quantum = self._step(precision) or Decimal(0)
        if quantum <= 0:
            return format(limit, "f")
        rounding = ROUND_FLOOR if side is Side.BUY else ROUND_CEILING
        safe = (limit / quantum).to_integral_value(rounding) * quantum
        if safe <= 0:
            raise BrokerRejected(f"limit {limit} is below one price step", "price_precision")
        return format(safe.normalize(), "f")

    def _market_buy_params(self) -> dict[str, Any]:
        """Extra fields that make a market buy's amount base-currency units; refused
        (nothing sent) where the exchange would read it as quote currency to spend."""
        how = self.profile.market_buy
        requires_price = (getattr(self.exchange, "options", None) or {}).get(
            "createMarketBuyOrderRequiresPrice"
        )
        if how == "refuse" or (how == "base" and requires_price is True and not self._tabled()):
            raise BrokerRejected(
                f"{self.exchange.id} sizes market buys in the quote currency: use a limit order",
                "market_buy_in_quote",
            )
        if how == "uta":
            try:
                unified = self.read("is_unified_enabled", self.exchange.is_unified_enabled)
            except Exception as exc:
                error = self._why(exc)
            else:
                # [unified margin, unified trade account]: ccxt sends marketUnit only on
                # the second (UTA); the first is sized in quote like a classic account
                if isinstance(unified, list) and len(unified) > 1 and unified[1] is True:
                    return {"marketUnit": "baseCoin"}
                error = ""
            raise BrokerRejected(
                f"{self.exchange.id}: a classic (non-unified) account reads a market buy's "
                f"amount as quote to spend: use a limit order {error}".strip(),
                "market_buy_in_quote",
            )
        if self.profile.exchange == "okx":
            return {"tgtCcy": "base_ccy"}
        return {}

    def _tabled(self) -> bool:
        return self.profile.exchange in PROFILES

    def _lookup(self, client_order_id: str, symbol: str | None) -> tuple[Order | None, str]:
        """``get_order``, its failure told as scrubbed text rather than raised."""
        try:
            return self.get_order(client_order_id, symbol=symbol), ""
        except Exception as exc:
            return None, self._why(exc)

    def _accepted(self, raw: Any, request: OrderRequest) -> Order:
        """The order the exchange accepted. Some answer a create with little more than
        the order id (Kraken: ``txid`` and a description): what the answer lacks is the
        request's; an answer without a readable id is an unknown outcome."""
        broker_id, problem = "", ""
        try:
            broker_id = text(raw.get("id") if isinstance(raw, dict) else None, "order id")
        except BadAnswer as exc:
            problem = f"unreadable answer: {exc}"
        if problem:
            self._event("outcome_unknown", client_order_id=request.client_order_id, reason=problem)
            raise SubmitOutcomeUnknown(problem)
        try:
            order = self._order(raw)
        except BadAnswer:
            order = None
        if order is not None and order.client_order_id == request.client_order_id:
            problem = _differs(order, request)
            if problem:
                raise self._conflict(request, order, problem)
            return order
        return _as_request(broker_id, order, request)

    def _refused(self, request: OrderRequest, exc: Exception) -> Order:
        code = rejection_code(exc)
        reason = self._why(exc)
        if code is None and not transient(exc) and type(exc).__name__ == "ExchangeError":
            text = str(exc)
            code = next((c for marker, c in self.profile.refusals if marker in text), None)
        if code is None:
            self._event("outcome_unknown", client_order_id=request.client_order_id, reason=reason)
            raise SubmitOutcomeUnknown(reason)
        proven = code == "duplicate_client_order_id" or any(
            marker in str(exc) for marker in self.profile.duplicate_markers
        )
        duplicate = proven or (code == "invalid_order" and self.profile.duplicate_is_invalid_order)
        if duplicate:
            found, failed = self._lookup(request.client_order_id, request.symbol)
            if failed or (found is None and proven):
                # the id is in use: the order exists, the lookup does not see it yet
                reason = f"{reason}; lookup failed: {failed or 'not found yet'}"
                self._event(
                    "outcome_unknown", client_order_id=request.client_order_id, reason=reason
                )
                raise SubmitOutcomeUnknown(reason)
            if found is not None and found.status is not OrderStatus.REJECTED:
                problem = _differs(found, request)
                if problem:
                    raise self._conflict(request, found, problem)
                return found  # the first submit arrived: adopt it
        raise BrokerRejected(reason, code)

    def _why(self, exc: BaseException) -> str:
        return self.scrub(f"{type(exc).__name__}: {exc}")

    def get_order(self, client_order_id: str, *, symbol: str | None = None) -> Order | None:
        """The order with this client order id, ``None`` when the exchange has none."""
        venue_id = self.profile.venue_id(client_order_id)
        if self.profile.lookup == "fetch_order":
            known = symbol or self._symbols.get(client_order_id)
            for each in [known] if known else self.config.symbols:
                raw = self._fetch_by_client_id(venue_id, each)
                found = None if raw is None else self._found(raw, client_order_id, each)
                if found is not None:
                    return found
            return None
        raw = self._scan_for(venue_id, symbol)
        return None if raw is None else self._found(raw, client_order_id, symbol)

    def _found(self, raw: Any, client_order_id: str, symbol: str | None) -> Order | None:
        """The order found by ``client_order_id``, only when it carries that id (in the
        exchange's spelling) and is of the symbol asked for: an exchange's filter is
        not trusted to be one."""
        order = self._order(raw)
        venue_id = self.profile.venue_id(client_order_id)
        ours = isinstance(raw, dict) and raw.get("clientOrderId") in (venue_id, client_order_id)
        if not ours or (symbol is not None and order.symbol != symbol):
            logger.warning(
                "{}: the lookup of {} answered another order ({} {})",
                self.name,
                client_order_id,
                order.symbol,
                order.broker_order_id,
            )
            return None
        self._symbols[client_order_id] = order.symbol
        if order.client_order_id == client_order_id:
            return order
        return attrs.evolve(order, client_order_id=client_order_id)

    def _scan_for(self, venue_id: str, symbol: str | None) -> Any:
        """Open, then closed orders (filtered by the id where the exchange can), matched
        on the id exactly here: an exchange's filter is not trusted to be one."""
        params = {self.profile.lookup_field: venue_id} if self.profile.server_filter else {}
        symbols = [symbol] if symbol and self.profile_per_symbol() else self._symbols_to_ask()
        for method in self.profile.scan:
            for each in symbols:
                call = getattr(self.exchange, method)
                raws = self.read(method, lambda c=call, s=each: c(s, None, None, dict(params)))
                matches = [
                    raw
                    for raw in _list(raws)
                    if isinstance(raw, dict) and raw.get("clientOrderId") == venue_id
                ]
                if matches:
                    return matches[-1]
        return None

    def _fetch_by_client_id(self, venue_id: str, symbol: str) -> Any:
        params = {self.profile.lookup_field: venue_id}
        try:
            return self.read("fetch_order", lambda: self.exchange.fetch_order(None, symbol, params))
        except Exception as exc:
            if not_found(exc):
                return None
            raise

    def cancel(self, client_order_id: str) -> Order | None:
        """Cancel the order; an order already final is returned unchanged."""
        order = self.get_order(client_order_id)
        if order is None or order.terminal:
            return order
        try:
            self.exchange.cancel_order(order.broker_order_id, order.symbol)
        except Exception as exc:
            if not not_found(exc) and rejection_code(exc) is None:
                logger.warning("{}: cancel {}: {}", self.name, client_order_id, self._why(exc))
        return self.get_order(client_order_id, symbol=order.symbol)

    def orders(self, *, open_only: bool = False) -> list[Order]:
        """Open orders, and unless ``open_only`` the recent closed ones, of the symbols
        (at most :data:`MAX_ORDERS` per listing: the exchange's newest)."""
        if open_only:
            methods = ["fetch_open_orders"]
        elif self.exchange.has.get("fetchOrders") is True:
            methods = ["fetch_orders"]  # every status (Binance's closed ones omit cancelled)
        else:
            methods = list(self.profile.scan)
        seen: dict[str, Order] = {}
        for method in methods:
            for symbol in self._symbols_to_ask():
                raws = self.read(
                    method,
                    lambda m=method, s=symbol: getattr(self.exchange, m)(s, None, MAX_ORDERS),
                )
                for raw in _list(raws):
                    try:
                        order = self._order(raw)
                    except BadAnswer as exc:
                        logger.warning("{}: an unreadable order skipped: {}", self.name, exc)
                        continue
                    if self.config.symbols and order.symbol not in self.config.symbols:
                        continue
                    seen[order.broker_order_id or order.client_order_id] = order
        return list(seen.values())

    def known_client_order_ids(self, prefix: str, limit: int) -> list[str]:
        """Up to ``limit`` client order ids starting with ``prefix`` among the orders
        :meth:`orders` lists (open and recent), newest first: the runtime checks them
        against its store at every start (a store that lost them is refused)."""
        oldest = datetime.min.replace(tzinfo=UTC)
        newest_first = sorted(self.orders(), key=lambda o: o.submitted_at or oldest, reverse=True)
        ids = [o.client_order_id for o in newest_first if o.client_order_id.startswith(prefix)]
        return list(dict.fromkeys(ids))[:limit]

    def fills(self, client_order_id: str | None = None) -> list[Fill]:
        """Executions of the order (of every listed order with a fill when ``None``),
        oldest first; each trade checked against its order (:mod:`.fills`)."""
        if client_order_id is not None:
            order = self.get_order(client_order_id)
            orders = [order] if order is not None else []
        else:
            orders = [o for o in self.orders() if o.filled_quantity > 0]
        unique: dict[str, Fill] = {}
        for order in orders:
            for fill in self._fills_of(order):
                unique.setdefault(fill.fill_id, fill)
        return sorted(unique.values(), key=lambda f: f.ts)

    def _fills_of(self, order: Order) -> list[Fill]:
        def fetch(symbol: str | None, since: int | None, limit: int | None, params: Any) -> Any:
            return self.read(
                "fetch_my_trades",
                lambda: self.exchange.fetch_my_trades(symbol, since, limit, params),
            )

        try:
            raws = trades_of(
                order, self.profile.trade_paging, fetch, self.profile.trade_order_field
            )
        except FillsIncomplete as exc:
            self._mismatch(order, "", str(exc))
            raise
        mine = [r for r in raws if r.get("order") == order.broker_order_id]
        accepted: list[Fill] = []
        booked = Decimal(0)
        for raw in sorted(mine, key=_trade_time):
            trade_id = str(raw.get("id"))[:64]
            try:
                fill = fill_from(raw, order.client_order_id, self.config.quote_currency, self.name)
                gross = gross_amount(raw)
            except BadAnswer as exc:
                self._mismatch(order, trade_id, f"unreadable trade: {exc}")
                continue
            problem = disagreement(fill, gross, order, booked)
            if problem:
                self._mismatch(order, trade_id, problem)
                continue
            booked += gross
            accepted.append(fill)
        if booked < order.filled_quantity and order.terminal:
            self._mismatch(
                order, "", f"trades sum {booked}, less than its filled {order.filled_quantity}"
            )
        return accepted

    def _mismatch(self, order: Order, trade_id: str, reason: str) -> None:
        logger.warning("{}: {} trade {}: {}", self.name, order.client_order_id, trade_id, reason)
        fields = {"trade_id": trade_id} if trade_id else {}
        self._event(
            "fill_mismatch",
            severity="critical",
            client_order_id=order.client_order_id,
            broker_order_id=order.broker_order_id or "",
            reason=self.scrub(reason),
            **fields,
        )

    # -- account ---------------------------------------------------------------------

    def _balance(self) -> dict[str, Any]:
        balance = self.read("fetch_balance", self.exchange.fetch_balance)
        total = balance.get("total") if isinstance(balance, dict) else None
        if not isinstance(total, dict):
            raise BadAnswer("balance: no totals")
        return total

    def positions(self) -> list[Position]:
        """Holdings of the symbols' base assets, valued at the last price (a spot
        exchange reports no entry price: ``avg_price`` is the last price too)."""
        return self._positions(self._balance())

    def _positions(self, total: dict[str, Any]) -> list[Position]:
        positions = []
        for symbol in self.config.symbols:
            base, _, quote = symbol.partition("/")
            held = total.get(base)
            if held is None or quote != self.config.quote_currency:
                continue
            quantity = signed(held, f"balance {base}")  # negative: a margin debt (short)
            if not quantity:
                continue
            ticker = self.read("fetch_ticker", lambda s=symbol: self.exchange.fetch_ticker(s))
            last = price(ticker.get("last") if isinstance(ticker, dict) else None, "ticker last")
            positions.append(Position(symbol, quantity, avg_price=last, market_price=last))
        return positions

    def account(self) -> Account:
        """Cash in ``quote_currency`` plus the positions' value."""
        total = self._balance()
        cash = signed(total.get(self.config.quote_currency, 0), "balance cash")
        equity = cash + sum((p.market_value for p in self._positions(total)), Decimal(0))
        return Account(cash=cash, equity=equity, currency=self.config.quote_currency)

    def close(self) -> None:
        """Release the HTTP session."""
        session = getattr(self.exchange, "session", None)
        if session is not None and hasattr(session, "close"):
            session.close()


def _list(value: Any) -> list[Any]:
    if not isinstance(value, list):
        raise BadAnswer(f"expected a list, got {type(value).__name__}")
    return value


def _trade_time(raw: Any) -> float:
    stamp = raw.get("timestamp")
    return float(stamp) if isinstance(stamp, int | float) and not isinstance(stamp, bool) else 0.0


def _seconds(value: Any) -> float | None:
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        return None
    return seconds if 0 < seconds < 3600 else None


def _differs(order: Order, request: OrderRequest) -> str:
    """How ``order`` is not the one ``request`` asked for (``""``: it is)."""
    if order.symbol != request.symbol:
        return f"symbol {order.symbol}, not {request.symbol}"
    if order.side != request.side:
        return f"side {order.side}, not {request.side}"
    if order.quantity != request.quantity:
        return f"quantity {order.quantity}, not {request.quantity}"
    limit, asked = order.limit_price, request.limit_price
    if request.order_type is OrderType.LIMIT and limit is not None and asked is not None:
        beyond = limit > asked if request.side is Side.BUY else limit < asked
        if beyond:
            return f"limit {limit}, beyond {asked}"
    return ""


def _as_request(broker_id: str, order: Order | None, request: OrderRequest) -> Order:
    """An order the exchange acknowledged by id only, completed from the request."""
    return Order(
        client_order_id=request.client_order_id,
        symbol=request.symbol,
        side=request.side,
        quantity=request.quantity,
        status=order.status if order is not None else OrderStatus.WORKING,
        broker_order_id=broker_id,
        order_type=request.order_type,
        limit_price=request.limit_price,
        filled_quantity=order.filled_quantity if order is not None else 0,
        avg_fill_price=order.avg_fill_price if order is not None else None,
        submitted_at=(order.submitted_at if order is not None else None) or datetime.now(UTC),
    )


__all__ = ["CcxtBroker"]
