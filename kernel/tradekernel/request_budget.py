"""Broker request budgets: calls per minute to one broker instance, shared by every
caller in the process (``[budgets.brokers]``, docs/operations.md, "Budgets").

The kernel wraps a broker named in ``[budgets.brokers]`` in a :class:`BudgetedBroker`
when it builds it: every call of the broker protocol (``submit``, ``get_order``,
``cancel``, ``orders``, ``fills``, ``positions``, ``account``, and the optional
``known_client_order_ids``, ``server_time`` and ``order_constraints``) counts one request
against the broker's
:class:`RequestBudget`, which is one object per agent (state directory) and broker name
in the process, whatever kernel (the run, a reconcile, a CLI command) built the broker.
``order_constraints`` is counted but never refused: the executor asks it after the claim.

* A read over the budget (its share left after ``order_reserve``) raises
  :class:`RequestBudgetExhausted` (a refusal: nothing was asked; the monitor asks again
  next cycle, a reconcile leaves the intent ``executing`` for the next one).
* An order is never refused half-way: the executor asks :meth:`RequestBudget.admit_order`
  *before* it claims an intent (a refusal then leaves the intent ``approved``, untouched,
  for the next cycle), and the admitted submit itself always goes out and is counted.
  A submit is never split or retried because of the budget.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from typing import Any

from .errors import RefusedError

WINDOW = 60
"""Seconds in the budget's sliding window, counted in one-second buckets."""
READS = frozenset(
    {
        "get_order",
        "orders",
        "fills",
        "positions",
        "account",
        "known_client_order_ids",
        "server_time",
    }
)
"""Broker calls that only read: refused once the readers' share is spent."""
COUNTED = frozenset({"order_constraints"})
"""Optional broker calls that may make a venue request after the executor's claim: counted,
never refused (a refusal there would fail a claimed intent)."""
EVENT_EVERY = 60.0
"""Seconds between two ``budget.broker_refused`` events of one broker (the refusals in
between are counted in the next one)."""


class RequestBudgetExhausted(RefusedError):
    """A broker call refused because the broker's request budget for the last minute is
    spent (exit 3). Nothing was sent. The agent's own back-pressure, never a venue
    failure: the runtime neither counts it against the broker's health nor records it as
    an incident (docs/operations.md, "Broker request budgets")."""

    def __init__(self, message: str, *, broker: str = "", method: str = "") -> None:
        super().__init__(message)
        self.broker = broker
        """The broker instance whose budget is spent."""
        self.method = method
        """The broker call that was not sent."""


class RequestBudget:
    """At most ``per_minute`` calls to broker ``broker`` over any sliding minute; the last
    ``reserve`` of them only for orders (submits and cancels). Thread-safe; ``clock`` in
    seconds (injectable)."""

    def __init__(
        self,
        broker: str,
        per_minute: int,
        *,
        reserve: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.broker = broker
        self.share = reserve
        self.per_minute = per_minute
        self.reserve = 0
        self.limit_to(per_minute)
        self.clock = clock
        self.refused = 0
        """Calls refused since the budget was made."""
        self.calls: dict[str, int] = {}
        """Calls counted since the budget was made, by broker method."""
        self._counts = [0] * WINDOW
        self._now: int | None = None
        self._used = 0
        self._lock = threading.Lock()

    def limit_to(self, per_minute: int) -> None:
        """Allow ``per_minute`` calls from now on, ``share`` of them kept for orders:
        rounded up, so a share above 0 keeps at least one call, and at most
        ``per_minute - 1`` (one call left for reads; a budget of 1 with a share is refused
        by the configuration)."""
        self.per_minute = per_minute
        if per_minute > 1 and self.share > 0:
            self.reserve = min(per_minute - 1, max(1, math.ceil(per_minute * self.share - 1e-9)))
        else:
            self.reserve = 0

    def _advance(self) -> int:
        now = int(self.clock())
        last = self._now
        if last is None or now - last >= WINDOW:
            self._counts = [0] * WINDOW
            self._used = 0
        elif now > last:
            for second in range(last + 1, now + 1):  # the buckets leaving the window
                i = second % WINDOW
                self._used -= self._counts[i]
                self._counts[i] = 0
        if last is None or now > last:
            self._now = now
        return self._now  # type: ignore[return-value]

    def _add(self, method: str) -> None:
        self._counts[self._now % WINDOW] += 1  # type: ignore[operator]
        self._used += 1
        self.calls[method] = self.calls.get(method, 0) + 1

    def take(self, method: str, *, order: bool = False) -> bool:
        """Count one call of ``method`` if the budget allows it (a read: the share below
        the reserve; an order: the whole budget); ``False`` (and counted as refused) when
        it does not."""
        with self._lock:
            self._advance()
            limit = self.per_minute if order else self.per_minute - self.reserve
            if self._used >= limit:
                self.refused += 1
                return False
            self._add(method)
            return True

    def count(self, method: str) -> None:
        """Count one call that goes out whatever the budget (an admitted submit)."""
        with self._lock:
            self._advance()
            self._add(method)

    def admit_order(self) -> bool:
        """Whether an order may be sent now (the whole budget, reserve included, not
        spent). Counts nothing: the submit that follows is counted by :meth:`count`."""
        with self._lock:
            self._advance()
            if self._used >= self.per_minute:
                self.refused += 1
                return False
            return True

    def used(self) -> int:
        """Calls counted over the last minute."""
        with self._lock:
            self._advance()
            return self._used

    def usage(self) -> dict[str, Any]:
        """``broker``, ``limit``, ``reserve``, ``used`` (last minute), ``remaining``,
        ``refused`` and ``calls`` (by method, since the budget was made)."""
        with self._lock:
            self._advance()
            used = self._used
            return {
                "broker": self.broker,
                "limit": self.per_minute,
                "reserve": self.reserve,
                "used": used,
                "remaining": max(0, self.per_minute - used),
                "refused": self.refused,
                "calls": dict(sorted(self.calls.items())),
            }


_budgets: dict[tuple[str, str], RequestBudget] = {}
_budgets_lock = threading.Lock()


def broker_budget(
    broker: str, per_minute: int, *, reserve: float = 0.0, agent: str = ""
) -> RequestBudget:
    """The process-wide budget of broker instance ``broker`` of agent ``agent`` (its
    state directory: every kernel of one agent in the process shares it), made on first
    use. A later caller configured with a lower limit lowers it for every caller: the
    smallest budget wins, a larger one never loosens it."""
    with _budgets_lock:
        budget = _budgets.get((agent, broker))
        if budget is None:
            budget = RequestBudget(broker, per_minute, reserve=reserve)
            _budgets[(agent, broker)] = budget
        elif per_minute < budget.per_minute:
            with budget._lock:
                budget.limit_to(per_minute)
        return budget


def broker_budgets(agent: str | None = None) -> list[RequestBudget]:
    """The broker budgets made in this process (of agent ``agent`` only, when given), by
    broker name."""
    with _budgets_lock:
        return [_budgets[key] for key in sorted(_budgets) if agent is None or key[0] == agent]


class BudgetedBroker:
    """A broker whose every call counts against ``budget`` (see the module). Everything
    else (``live_capable``, ``order_constraints``, a plugin's own attributes) is the
    wrapped broker's."""

    def __init__(self, broker: Any, budget: RequestBudget, emit: Callable[..., Any]) -> None:
        self.wrapped = broker
        self.request_budget = budget
        self._emit = emit
        self._last_event = -1e18
        self._unreported = 0
        self._event_lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.wrapped, name)
        if name in READS and callable(attr):
            return self._counted(name, attr)
        if name in COUNTED and callable(attr):
            return self._counted_only(name, attr)
        return attr

    def __repr__(self) -> str:
        return f"BudgetedBroker({self.wrapped!r}, {self.request_budget.per_minute}/min)"

    def _counted(self, name: str, call: Callable[..., Any]) -> Callable[..., Any]:
        def counted(*args: Any, **kwargs: Any) -> Any:
            self._take(name)
            return call(*args, **kwargs)

        return counted

    def _counted_only(self, name: str, call: Callable[..., Any]) -> Callable[..., Any]:
        def counted(*args: Any, **kwargs: Any) -> Any:
            self.request_budget.count(name)
            return call(*args, **kwargs)

        return counted

    def _take(self, method: str, *, order: bool = False) -> None:
        budget = self.request_budget
        if budget.take(method, order=order):
            return
        self._refused(method)
        raise RequestBudgetExhausted(
            f"broker {budget.broker}: request budget spent ({budget.per_minute} per minute"
            f"{'' if order else f', {budget.reserve} kept for orders'}): {method} was not sent",
            broker=budget.broker,
            method=method,
        )

    def _refused(self, method: str) -> None:
        """One ``budget.broker_refused`` event a minute at most (the count in between).
        The count, the rate check and the swap happen under a lock (several threads may
        be refused at once); the event is written outside it, and its count is put back
        if writing fails."""
        with self._event_lock:
            self._unreported += 1
            now = self.request_budget.clock()
            if now - self._last_event < EVENT_EVERY:
                return
            self._last_event = now
            refused, self._unreported = self._unreported, 0
        usage = self.request_budget.usage()
        try:
            self._emit(
                "budget",
                "broker_refused",
                severity="warning",
                broker=usage["broker"],
                method=method,
                used=usage["used"],
                limit=usage["limit"],
                refused=refused,
            )
        except BaseException:
            with self._event_lock:
                self._unreported += refused
            raise

    def submit(self, request: Any) -> Any:
        """Send ``request``: counted, never refused here (the executor admitted it)."""
        self.request_budget.count("submit")
        return self.wrapped.submit(request)

    def cancel(self, client_order_id: str) -> Any:
        """Cancel an order: an order action, so the reserve is open to it."""
        self._take("cancel", order=True)
        return self.wrapped.cancel(client_order_id)

    # the protocol's reads, spelt out so that protocol checks see them
    def get_order(self, client_order_id: str) -> Any:
        self._take("get_order")
        return self.wrapped.get_order(client_order_id)

    def orders(self, *, open_only: bool = False) -> Any:
        self._take("orders")
        return self.wrapped.orders(open_only=open_only)

    def fills(self, client_order_id: str | None = None) -> Any:
        self._take("fills")
        return self.wrapped.fills(client_order_id)

    def positions(self) -> Any:
        self._take("positions")
        return self.wrapped.positions()

    def account(self) -> Any:
        self._take("account")
        return self.wrapped.account()


def order_admitted(broker: Any) -> RequestBudget | None:
    """``None`` when an order may go to ``broker`` now (no budget, or one with room);
    else the spent budget (the executor then refuses before claiming anything)."""
    budget = getattr(broker, "request_budget", None)
    if not isinstance(budget, RequestBudget) or budget.admit_order():
        return None
    if isinstance(broker, BudgetedBroker):
        broker._refused("submit")
    return budget
