"""Several brokers in one agent: which broker each new intent goes to, each broker's
health, and the account view across brokers (docs/brokers.md, "Several brokers" and
"Failover").

* A route (``[routing] routes``) takes symbols by ``fnmatch`` pattern or by asset class;
  the first match wins, else the default route. A route may name a ``secondary``.
* A broker's health is the runtime's :class:`CircuitBreaker`, on a control key of its own
  (``broker_health.<name>``), opened by ``failures`` bad outcomes within ``window``: an
  error, an unknown submit outcome or an answer slower than ``max_latency``. A good
  answer does not wipe them out (the runtime's own account reads answer every cycle
  while every submit may time out); it only closes a breaker being tried again
  (half-open: after ``cooldown``, by :meth:`Router.begin_cycle`'s probe). The
  operator's switch is ``broker_disabled.<name>``.
* Availability is read once per cycle (:meth:`Router.begin_cycle`): what a route chose
  holds for the whole cycle, so health that flaps mid-cycle never moves a route back and
  forth. An unhealthy broker is tried again (one probe, :meth:`Broker.account`) after
  ``cooldown``; it takes new intents again only once the probe (or a lookup) answered.
* Routing applies to new intents only: an intent keeps the broker it was proposed for,
  and one claimed (``executing``) is resolved on that broker only.
"""

from __future__ import annotations

import contextlib
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timedelta
from decimal import Decimal
from fnmatch import fnmatchcase
from typing import Any

from ..errors import ConfigError
from ..models import Account, Position
from ..request_budget import RequestBudgetExhausted
from ..sections import Route, RoutingSettings
from .control import CircuitBreaker, Control

HEALTH_KEY = "broker_health."
DISABLED_KEY = "broker_disabled."


def route_for(symbol: str, routing: RoutingSettings) -> Route | None:
    """The first route of ``routing`` that takes ``symbol`` (``None``: the default)."""
    for route in routing.routes:
        patterns = list(route.symbols)
        if route.asset_class is not None:
            patterns += routing.asset_classes.get(route.asset_class, [])
        if any(fnmatchcase(symbol, p) for p in patterns):
            return route
    return None


class BrokerHealth:
    """One broker's health breaker and the operator's switch, both in the store's
    journaled ``control`` table."""

    def __init__(self, name: str, control: Control, routing: RoutingSettings, emit: Any) -> None:
        self.name = name
        self.control = control
        self.max_latency = float(routing.max_latency)
        self.failures = routing.failures
        self.window = timedelta(seconds=float(routing.window))
        self._bad: deque[datetime] = deque()
        """When each bad outcome within ``window`` happened (in memory)."""
        self._emit = emit
        self.breaker = CircuitBreaker(  # opened by record(), once the window holds enough
            control,
            emit=self._translate,
            key=HEALTH_KEY + name,
            failures=1,
            cooldown=routing.cooldown,
        )

    def _translate(self, stage: str, kind: str, **fields: Any) -> None:
        """The breaker's ``resilience.breaker_*`` events as this broker's health events."""
        kinds = {"breaker_opened": "unhealthy", "breaker_closed": "healthy"}
        if kind in kinds:
            fields.pop("state", None)
            severity = fields.pop("severity", "error" if kind == "breaker_opened" else "info")
            self._emit("routing", kinds[kind], severity=severity, broker=self.name, **fields)

    @property
    def disabled(self) -> dict[str, Any] | None:
        """The operator's switch: ``{"by", "reason"}`` while disabled, else ``None``."""
        return self.control.get(DISABLED_KEY + self.name, None)

    def set_disabled(self, on: bool, *, actor: str, reason: str = "") -> None:
        value = {"by": actor, "reason": reason} if on else None
        self.control.set(DISABLED_KEY + self.name, value, actor=actor, reason=reason)
        self._emit(
            "routing",
            "disabled" if on else "enabled",
            severity="warning" if on else "info",
            broker=self.name,
            actor=actor,
            reason=reason,
        )

    @property
    def state(self) -> str:
        """``closed`` (healthy), ``open`` (unhealthy) or ``half_open`` (being tried)."""
        return self.breaker.state

    def record(self, ok: bool, latency_s: float = 0.0, what: str = "error") -> None:
        """Count one call's outcome (a slow answer counts as a bad one): ``failures`` bad
        ones within ``window`` open the breaker; a good one closes it only when it is
        being tried again (half-open), it never clears the bad ones counted."""
        if ok and latency_s > self.max_latency:
            ok, what = False, f"slow: {latency_s:.3f}s"
        state = self.breaker.state
        if ok:
            if state == "half_open":
                self._bad.clear()
                self.breaker.record_success()
            return
        now = self.control.clock()
        self._bad.append(now)
        while self._bad[0] < now - self.window:
            self._bad.popleft()
        if state == "half_open" or (state == "closed" and len(self._bad) >= self.failures):
            self._bad.clear()
            self.breaker.record_failure(what)

    def timed(self, call: Callable[[], Any], what: str) -> Any:
        """``call()``, its outcome counted; exceptions pass through."""
        started = time.perf_counter()
        try:
            result = call()
        except RequestBudgetExhausted:  # our own budget said no: the venue is not unwell
            raise
        except Exception as exc:
            self.record(False, what=f"{what}: {type(exc).__name__}")
            raise
        self.record(True, time.perf_counter() - started, what)
        return result


class Router:
    """Routes new intents across the configured brokers, cycle by cycle."""

    def __init__(
        self,
        names: Iterable[str],
        routing: RoutingSettings,
        default: str,
        control: Control,
        *,
        broker: Callable[[str], Any],
        emit: Any,
    ) -> None:
        self.names = list(names)
        self.routing = routing
        self.default = default
        self.broker = broker
        self._emit = emit
        self.health = {n: BrokerHealth(n, control, routing, emit) for n in self.names}
        self.available: dict[str, bool] = dict.fromkeys(self.names, True)
        self.unchecked: set[str] = set()
        """Brokers whose start checks wait for their first answer (unavailable)."""
        self._chosen: dict[int, str | None] = {}
        self._current: dict[int, str | None] = {}
        """Each route's broker as last chosen (``None``: held)."""

    def begin_cycle(self) -> dict[str, bool]:
        """Read every broker's availability for this cycle: not disabled and healthy; an
        unhealthy one whose cooldown elapsed is probed once (``account()``)."""
        for name, health in self.health.items():
            if health.disabled is not None:
                self.available[name] = False
                continue
            if health.state != "closed" and health.breaker.allow():  # open -> half-open
                with contextlib.suppress(Exception):  # counted: open again for a cooldown
                    health.timed(self.broker(name).account, "probe")
            self.available[name] = health.state == "closed" and name not in self.unchecked
        self._chosen = {}
        return dict(self.available)

    def choose(self, symbol: str) -> str | None:
        """The broker a new intent for ``symbol`` goes to this cycle: its route's primary,
        else (unavailable) its secondary, else ``None`` (held: ``broker_unavailable``).
        Decided once per route and cycle; every failover is a ``routing`` event."""
        route = route_for(symbol, self.routing)
        index = -1 if route is None else self.routing.routes.index(route)
        if index in self._chosen:
            return self._chosen[index]
        primary = self.default if route is None else route.broker
        secondary = self.routing.secondary if route is None else route.secondary
        chosen: str | None = primary
        if not self.usable(primary):
            ok = secondary is not None and self.usable(secondary)
            chosen = secondary if ok else None
        if chosen != self._current.get(index, primary):  # once per change, not every cycle
            if chosen == primary:
                self._emit("routing", "failback", route=route_label(route), broker=primary)
            else:
                self._emit(
                    "routing",
                    "failover" if chosen else "held",
                    severity="warning" if chosen else "error",
                    route=route_label(route),
                    primary=primary,
                    secondary=secondary,
                    broker=chosen,
                    reason=self.why(primary),
                )
        self._current[index] = chosen
        self._chosen[index] = chosen
        return chosen

    def usable(self, name: str) -> bool:
        """Available this cycle and still healthy: a broker whose account read in this
        cycle's hydrate failed takes no new intent (availability only ever drops within
        a cycle, it never comes back before the next one)."""
        return self.available.get(name, False) and self.health[name].state == "closed"

    def why(self, name: str) -> str:
        """Why broker ``name`` takes nothing new (``disabled`` or ``unhealthy``)."""
        health = self.health.get(name)
        if health is None:
            return "not_configured"
        if health.disabled is not None:
            return "disabled"
        if name in self.unchecked:
            return "not answered since start"
        return f"unhealthy ({health.state})"


def route_label(route: Route | None) -> str:
    """How events and reports name a route."""
    if route is None:
        return "default"
    return ",".join(route.symbols + ([f"class:{route.asset_class}"] if route.asset_class else []))


def aggregate(
    accounts: Mapping[str, Account],
    positions: Mapping[str, Iterable[Position]],
    routing: RoutingSettings,
    default: str,
) -> tuple[Account, dict[str, Position]]:
    """One account view across brokers, in the account currency (``[routing] currency``,
    else the default broker's): amounts are added; an account in another currency is a
    :class:`ConfigError` unless that currency is listed in ``[routing] at_par`` (counted
    one for one). Nothing is converted at a rate. A symbol held at several brokers is one
    position (quantities added, the entry price weighted by quantity)."""
    first = accounts.get(default) or next(iter(accounts.values()))
    currency = routing.currency or first.currency
    cash = equity = realized = Decimal(0)
    for name, account in accounts.items():
        if account.currency != currency and account.currency not in routing.at_par:
            raise ConfigError(
                f"[routing] currency: broker {name}'s account is in {account.currency}, the "
                f"account view in {currency}: no exchange rate is applied; list "
                f'{account.currency} in [routing] at_par = ["{account.currency}"] to count '
                "it one for one, or route only brokers of one currency"
            )
        cash += account.cash
        equity += account.equity
        realized += account.realized_pnl
    merged: dict[str, Position] = {}
    for held in positions.values():
        for p in held:
            other = merged.get(p.symbol)
            if other is None:
                merged[p.symbol] = p
                continue
            quantity = other.quantity + p.quantity
            cost = other.quantity * other.avg_price + p.quantity * p.avg_price
            merged[p.symbol] = Position(
                p.symbol,
                quantity,
                cost / quantity if quantity else Decimal(0),
                p.market_price if p.market_price is not None else other.market_price,
            )
    return Account(cash=cash, equity=equity, realized_pnl=realized, currency=currency), merged
