"""The broker contract kit: :class:`BrokerContract` checks a broker against the safety
rules of execution, on a :class:`Venue` (the double standing in for the broker's remote).

A broker plugin's tests subclass :class:`BrokerContract`, override the ``venue`` fixture
(a fresh double per test) and :meth:`BrokerContract.make_broker` (a NEW broker instance
on that venue at every call: calling it again is a restart)::

    from tradekernel.testing import BrokerContract

    class TestMyBrokerContract(BrokerContract):
        @pytest.fixture
        def venue(self, tmp_path):
            return MyVenue(tmp_path)

        def make_broker(self, venue, *, live=False, acknowledged=False):
            return MyBroker(venue.config(live=live), acknowledged=acknowledged)

Every check is a ``test_<n>_...`` method; a check that needs a venue member the venue
cannot support (it raises :class:`NotImplementedError`) is skipped with that message,
never passed. The module is also a pytest plugin (entry point ``pytest11``
``tradekernel-broker-contract``): its fixture :func:`no_network` and marker
``broker_contract`` are available in any test suite where tradekernel is installed.
See docs/plugin-authoring.md, "Testing a broker".
"""

from __future__ import annotations

import contextlib
import logging
import socket
import uuid
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol, TypeVar, runtime_checkable

import attrs
import pytest

from .components import BrokerRejected
from .errors import ConfigError
from .models import GuardVerdict, Intent, Order, OrderRequest, OrderStatus, Side
from .testing_network import NetworkGuard, no_network

__all__ = ["CODE_PATTERN", "MAX_READ_ATTEMPTS", "BrokerContract", "Venue", "no_network"]

T = TypeVar("T")

MAX_READ_ATTEMPTS = 10
"""A read answered 429/5xx without end must give up within this many retries."""

CODE_PATTERN = r"^[a-z0-9][a-z0-9_]*$"
"""What :attr:`BrokerRejected.code` looks like: a stable snake_case (or numeric venue)
code, no free text."""


@runtime_checkable
class Venue(Protocol):
    """What a broker's double offers the contract: its state and its faults.

    A member the venue cannot support raises :class:`NotImplementedError` with a one-line
    reason; the checks that need it are skipped with that reason.

    Optional members (read with ``getattr``, default in brackets):
    ``paper_only`` [``False``]: the broker never trades real money, so check 9 asserts
    it is never ``live_capable`` instead of its live-endpoint refusal.
    ``read_requests()`` [absent]: how many requests other than submits reached the venue
    so far (any outcome); check 6 then bounds the requests of a failing read, not only
    the broker's waits (a broker retrying without waiting fails). Provide it.
    ``silent`` [``False``]: the broker emits no events at all; without it, check 9
    fails when the broker emitted nothing during its faults (``make_broker`` must wire
    the broker's emitter to :meth:`BrokerContract.emit`, or :meth:`BrokerContract.watch`
    its recorder), since an event log it never saw cannot be checked for secrets.
    """

    symbol: str
    """A symbol the venue trades (``AAPL``, ``BTC/USDT``), upper case."""
    quantity: Decimal
    """A valid order quantity for :attr:`symbol` (at least 2 smallest steps: check 4
    fills it in parts)."""
    secrets: tuple[str, ...]
    """The credential values the broker was built with (empty: nothing to leak)."""
    statuses: Mapping[str, bool]
    """Every order status the venue has -> whether the venue treats it as final."""
    slept: list[float]
    """The seconds the broker waited before retries (its sleep is wired to :meth:`sleep`)."""

    def sleep(self, seconds: float) -> None:
        """Record ``seconds`` into :attr:`slept`; does not really sleep."""

    def orders_with(self, client_order_id: str) -> int:
        """How many orders the venue holds with this client order id."""

    def submit_requests(self) -> int:
        """How many submit requests reached the venue so far (any outcome)."""

    def fill(self, client_order_id: str, quantity: Decimal | None = None) -> None:
        """Execute ``quantity`` (``None``: the rest) of a working order at the venue."""

    def set_status(self, client_order_id: str, status: str) -> None:
        """Force the venue's status of an order (one of :attr:`statuses`)."""

    def lose_next_response(self, *, submit: bool = True) -> None:
        """The next submit (``submit=False``: the next read) is processed by the venue but
        its answer never arrives (a timeout)."""

    def fail_next(self, status: int, *, count: int = 1, reset_after: float | None = None) -> None:
        """The next ``count`` requests answer HTTP ``status`` (429/5xx), with the venue's
        rate-limit reset header saying ``reset_after`` seconds when given."""

    def reject_next(self, reason: str) -> None:
        """The next submit is refused as invalid (a 4xx validation error)."""

    def echo_secrets(self) -> None:
        """From now on, the venue's error answers quote the request's credentials."""


def _needs(call: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``call(...)``, skipping the check when the venue cannot do it."""
    try:
        return call(*args, **kwargs)
    except NotImplementedError as exc:
        pytest.skip(f"{getattr(call, '__qualname__', call)}: {exc}")


def _reads(venue: Any) -> int | None:
    """``venue.read_requests()``, or ``None`` when the venue does not count them."""
    count = getattr(venue, "read_requests", None)
    if count is None:
        return None
    try:
        return int(count())
    except NotImplementedError:
        return None


def _must(what: str, call: Callable[..., T], *args: Any) -> T:
    """``call(*args)``; an exception fails the check, saying ``what`` was expected."""
    try:
        return call(*args)
    except Exception as exc:
        raise AssertionError(f"{what}, it raised {type(exc).__name__}: {exc}") from exc


class _ListHandler(logging.Handler):
    """Keeps every standard-library log line (httpx logs its requests there)."""

    def __init__(self, lines: list[str]) -> None:
        super().__init__(level=1)
        self.lines = lines

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(f"{record.levelname} {record.name} {record.getMessage()}")


def pytest_configure(config: pytest.Config) -> None:
    """Registers the ``broker_contract`` marker (every :class:`BrokerContract` check has it)."""
    config.addinivalue_line(
        "markers", "broker_contract: a check of tradekernel's broker contract kit"
    )


def _utc(value: datetime | None, what: str) -> None:
    if value is None:
        return
    assert isinstance(value, datetime), f"{what} is {type(value).__name__}, not a datetime"
    offset = value.utcoffset()
    assert offset is not None, f"{what} {value} is naive (no time zone)"
    assert not offset, f"{what} {value} is not UTC"


@pytest.mark.broker_contract
class BrokerContract:
    """The checks every broker must pass; subclass it in the broker's tests
    (docs/plugin-authoring.md, "Testing a broker"). Override ``venue`` (a fixture: a
    fresh :class:`Venue` per test) and :meth:`make_broker`; optionally
    :meth:`order_request` (the order the checks send).

    Events: a broker built with a :class:`~tradekernel.components.ComponentContext`
    should get :meth:`emit` as its ``ctx.emit`` (or hand its kernel's
    :class:`~tradekernel.testing.Recorder` to :meth:`watch`), so check 9 sees what it
    emits."""

    def make_broker(self, venue: Any, *, live: bool = False, acknowledged: bool = False) -> Any:
        """A NEW broker instance on ``venue`` (the same remote account; calling it again
        is a restart). ``live``: built for the venue's live endpoint; ``acknowledged``:
        with live mode acknowledged. A broker refusing the combination raises
        :class:`~tradekernel.errors.ConfigError`."""
        raise NotImplementedError(f"{type(self).__name__} must override make_broker")

    @pytest.fixture
    def venue(self) -> Any:
        """The double of the broker's remote, fresh for every check: override it."""
        raise NotImplementedError(f"{type(self).__name__} must override the venue fixture")

    def order_request(self, venue: Any, client_order_id: str | None = None) -> OrderRequest:
        """The order the checks send: a market buy of ``venue.quantity`` ``venue.symbol``,
        day, under a fresh client order id shaped as the kernel's (``tk-`` and 24 hex digits).
        Override to shape it (a limit order, ...)."""
        return OrderRequest(
            client_order_id=client_order_id or f"tk-{uuid.uuid4().hex[:24]}",
            symbol=venue.symbol,
            side=Side.BUY,
            quantity=venue.quantity,
        )

    # -- harness ---------------------------------------------------------------------

    @pytest.fixture(autouse=True)
    def _contract_harness(self, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
        self._begin(monkeypatch)
        try:
            yield
        finally:
            self._end()

    def _begin(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Start a check: the network guard, the log capture, the event list."""
        from loguru import logger

        self.emitted: list[dict[str, Any]] = []
        self.logs: list[str] = []
        self._recorders: list[Any] = []
        self._brokers: list[Any] = []
        self._guard = NetworkGuard(monkeypatch)
        self._handler = _ListHandler(self.logs)
        root = logging.getLogger()
        self._root_level = root.level
        root.addHandler(self._handler)
        root.setLevel(1)
        self._sink = logger.add(
            lambda message: self.logs.append(str(message)),
            level=0,
            format="{level} {name} {message} {extra}",
            backtrace=False,
            diagnose=False,
        )

    def _end(self) -> None:
        from loguru import logger

        logger.remove(self._sink)
        root = logging.getLogger()
        root.removeHandler(self._handler)
        root.setLevel(self._root_level)
        for broker in self._brokers:
            close = getattr(broker, "close", None)
            if callable(close):
                close()
        assert not self._guard.attempts, (
            f"check 10: the broker tried to leave the machine: {self._guard.attempts}"
        )

    def broker(self, venue: Any, *, live: bool = False, acknowledged: bool = False) -> Any:
        """:meth:`make_broker`, remembered so that it is closed after the check."""
        broker = self.make_broker(venue, live=live, acknowledged=acknowledged)
        self._brokers.append(broker)
        return broker

    def emit(self, stage: str, kind: str, **fields: Any) -> dict[str, Any]:
        """A ``ctx.emit`` for brokers built by :meth:`make_broker`: records the event."""
        event = {"stage": stage, "kind": kind, **fields}
        self.emitted.append(event)
        return event

    def watch(self, recorder: Any) -> None:
        """Also count the events ``recorder`` (a :class:`~tradekernel.testing.Recorder`)
        records as the broker's (check 9 scans them for secrets)."""
        self._recorders.append(recorder)

    def _events(self) -> list[Any]:
        out: list[Any] = list(self.emitted)
        for recorder in self._recorders:
            out.extend(recorder.events)
        return out

    def _submit(self, broker: Any, venue: Any) -> tuple[OrderRequest, Order]:
        request = self.order_request(venue)
        order = broker.submit(request)
        assert order.client_order_id == request.client_order_id
        return request, order

    # -- the checks -----------------------------------------------------------------

    def test_1_same_client_order_id_twice_makes_one_order(self, venue: Any) -> None:
        """Check 1: a second submit of one client order id returns the same order and
        the venue holds one."""
        broker = self.broker(venue)
        request, first = self._submit(broker, venue)
        again = broker.submit(request)
        assert again.client_order_id == first.client_order_id
        assert again.broker_order_id == first.broker_order_id, (
            f"check 1: the resubmit returned order {again.broker_order_id}, "
            f"the first submit {first.broker_order_id}"
        )
        held = venue.orders_with(request.client_order_id)
        assert held == 1, f"check 1: the venue holds {held} orders with one client order id"
        restarted = self.broker(venue)
        restarted.submit(request)
        held = venue.orders_with(request.client_order_id)
        assert held == 1, f"check 1: after a restart the venue holds {held} orders"

    def test_2_lookup_by_client_order_id_survives_a_restart(self, venue: Any) -> None:
        """Check 2: ``get_order`` finds an order by client order id, from the broker that
        sent it and from a new instance (a restart); an unknown id is ``None``."""
        request, order = self._submit(self.broker(venue), venue)
        for who, broker in (("the same broker", self._brokers[-1]), ("a restart", None)):
            broker = broker or self.broker(venue)
            found = broker.get_order(request.client_order_id)
            assert found is not None, f"check 2: {who} does not find the order by its id"
            assert found.client_order_id == request.client_order_id
            assert found.broker_order_id == order.broker_order_id
            assert found.symbol == order.symbol and found.quantity == request.quantity
        missing = self._brokers[-1].get_order(f"tk-{uuid.uuid4().hex[:24]}")
        assert missing is None, f"check 2: an id the venue never saw gave {missing}"

    def test_3_lost_submit_response_is_found_never_resent(self, venue: Any, tmp_path: Path) -> None:
        """Check 3: a submit whose answer is lost raises (``SubmitOutcomeUnknown``) or
        returns the venue's order, never a "not submitted" answer; the order is then
        found by lookup. Through the kernel's executor: ``execute`` resolves it as found,
        and ``reconcile`` after a restart finds a claimed intent's order; one order each."""
        broker = self.broker(venue)
        request = self.order_request(venue)
        _needs(venue.lose_next_response, submit=True)
        sent = venue.submit_requests()
        try:
            answer = broker.submit(request)
        except BrokerRejected as exc:
            raise AssertionError(
                f"check 3: a lost answer became a rejection ({exc.code}): the order exists"
            ) from None
        except Exception:  # the outcome is unknown: the right answer
            answer = None
        if answer is not None:
            assert answer.status is not OrderStatus.REJECTED, "check 3: lost answer -> rejected"
        found = broker.get_order(request.client_order_id)
        assert found is not None, "check 3: the order whose answer was lost is not found"
        assert venue.orders_with(request.client_order_id) == 1
        assert venue.submit_requests() - sent == 1, "check 3: the lost submit was sent again"
        self._check_executor(venue, tmp_path)

    def _check_executor(self, venue: Any, tmp_path: Path) -> None:
        from .execution import Executor
        from .hookspecs import hookimpl
        from .store import IntentState, open_store
        from .testing import KernelFactory

        contract = self

        class _Plugin:
            @hookimpl
            def register_brokers(self, register: Any) -> None:
                register("contract", lambda config, ctx: contract.make_broker(venue))

        directory = tmp_path / "broker-contract-kernel"
        directory.mkdir(parents=True, exist_ok=True)
        with KernelFactory(directory) as factory:
            kernel, recorder = factory.build(
                '[components]\nbroker = "contract"\n', plugins=[(_Plugin(), "broker-contract")]
            )
            self.watch(recorder)
            settings = kernel.settings
            with open_store(settings, redact=settings.redact) as store:
                ids = [self._approved(store, venue, n) for n in range(2)]

                def executor(broker: Any) -> Executor:
                    return Executor(
                        store, broker, broker_name="contract", settings=settings, emit=kernel.emit
                    )

                _needs(venue.lose_next_response, submit=True)
                result = executor(kernel.component("broker")).execute(ids[0])
                record = store.get(ids[0])
                assert (result.outcome, record.state) == ("submitted", IntentState.SUBMITTED), (
                    f"check 3: the executor left a lost submit {result.outcome} ({result.reason})"
                )
                assert result.reason == "found_at_broker", f"check 3: {result.reason}"
                assert venue.orders_with(record.client_order_id) == 1

                # claimed, sent, answer lost, process gone: reconcile after a restart
                record = store.transition(
                    ids[1],
                    IntentState.EXECUTING,
                    expected_from=IntentState.APPROVED,
                    actor="executor",
                    payload={"broker": "contract"},
                )
                intent = record.intent
                lost = attrs.evolve(
                    self.order_request(venue, record.client_order_id), intent_id=intent.id
                )
                _needs(venue.lose_next_response, submit=True)
                with contextlib.suppress(Exception):  # an unknown outcome, as expected
                    self.broker(venue).submit(lost)
                sent = venue.submit_requests()
                results = {r.intent_id: r for r in executor(self.broker(venue)).reconcile()}
                assert results[ids[1]].action == "found", f"check 3: reconcile {results[ids[1]]}"
                assert store.get(ids[1]).state is IntentState.SUBMITTED
                assert venue.orders_with(record.client_order_id) == 1
                assert venue.submit_requests() == sent, "check 3: reconcile resubmitted"

    def _approved(self, store: Any, venue: Any, n: int) -> str:
        from .store import IntentState

        order = self.order_request(venue)  # the intent of the order the checks send
        intent = Intent.create(
            symbol=order.symbol,
            side=order.side,
            quantity=order.quantity,
            order_type=order.order_type,
            limit_price=order.limit_price,
            time_in_force=order.time_in_force,
            as_of=datetime.now(UTC),
            rationale=f"broker contract check {n}",
            strategist="broker-contract",
            prompt_version="1",
        )
        store.add_intent(intent, cycle_id=f"contract-{n}", broker="contract")
        store.transition(
            intent.id,
            IntentState.PENDING_APPROVAL,
            actor="guards",
            verdicts=[GuardVerdict.allowed("broker_contract")],
        )
        store.transition(intent.id, IntentState.APPROVED, actor="broker-contract")
        return intent.id

    def test_4_fills_only_grow_and_are_unique(self, venue: Any) -> None:
        """Check 4: filled in parts, ``filled_quantity`` never decreases nor exceeds the
        order's quantity; fills are unique by id and add up to ``filled_quantity``, for
        the broker that sent the order and after a restart."""
        broker = self.broker(venue)
        request, order = self._submit(broker, venue)
        coid = request.client_order_id
        step = Decimal(1).scaleb(min(request.quantity.as_tuple().exponent, 0))  # type: ignore[arg-type]
        part = (request.quantity / 2).quantize(step, rounding="ROUND_DOWN")
        parts = [part, None] if 0 < part < request.quantity else [None]
        seen = order.filled_quantity
        for quantity in parts:
            _needs(venue.fill, coid, quantity)
            for who, b in (("the broker", broker), ("a restart", self.broker(venue))):
                now = b.get_order(coid)
                assert now is not None
                assert now.filled_quantity >= seen, (
                    f"check 4: {who}: filled quantity fell from {seen} to {now.filled_quantity}"
                )
                assert now.filled_quantity <= now.quantity == request.quantity, (
                    f"check 4: {who}: filled {now.filled_quantity} of {now.quantity}"
                )
                fills = b.fills(coid)
                ids = [f.fill_id for f in fills]
                assert len(ids) == len(set(ids)), f"check 4: {who}: duplicate fill ids {ids}"
                total = sum((f.quantity for f in fills), Decimal(0))
                assert total == now.filled_quantity, (
                    f"check 4: {who}: fills add up to {total}, the order says {now.filled_quantity}"
                )
                assert all(f.quantity > 0 and f.client_order_id == coid for f in fills)
                seen = now.filled_quantity
        assert seen == request.quantity, f"check 4: filled {seen} of {request.quantity}"
        final = broker.get_order(coid)
        assert final is not None and final.status is OrderStatus.FILLED, (
            f"check 4: a completely filled order is {final and final.status}"
        )

    def test_5_every_venue_status_maps_and_terminal_stays(self, venue: Any) -> None:
        """Check 5: every venue status maps onto the kernel's :class:`OrderStatus`; a final
        one onto a terminal status and a non-final one onto a working one; a terminal
        order stays terminal through a cancel, the open-orders list and a restart."""
        statuses = dict(venue.statuses)
        assert statuses, "check 5: the venue lists no statuses"
        broker = self.broker(venue)
        for status, final in statuses.items():
            request, _ = self._submit(broker, venue)
            coid = request.client_order_id
            _needs(venue.set_status, coid, status)
            order = broker.get_order(coid)
            assert order is not None, f"check 5: an order in venue status {status!r} is gone"
            assert isinstance(order.status, OrderStatus), (
                f"check 5: venue status {status!r} became {order.status!r}"
            )
            assert order.status.terminal == bool(final), (
                f"check 5: venue status {status!r} ({'final' if final else 'not final'}) "
                f"maps to {order.status.value}"
            )
            if not final:
                continue
            cancelled = broker.cancel(coid)
            assert cancelled is not None and cancelled.status is order.status, (
                f"check 5: cancelling a {status!r} order made it "
                f"{cancelled and cancelled.status.value}"
            )
            open_ids = {o.client_order_id for o in broker.orders(open_only=True)}
            assert coid not in open_ids, f"check 5: a {status!r} order is listed as open"
            again = self.broker(venue).get_order(coid)
            assert again is not None and again.status is order.status, (
                f"check 5: after a restart a {status!r} order is {again and again.status.value}"
            )

    def test_6a_reads_retry_a_bounded_number_of_times(self, venue: Any) -> None:
        """Check 6: a read answered 5xx or 429 is retried (waiting at least the venue's
        reset on a 429) and gives up, raising, after a bounded number of attempts (counted
        at the venue when it offers ``read_requests``, each retry after a wait); it never
        answers "no such order" because the venue was failing."""
        broker = self.broker(venue)
        request, _ = self._submit(broker, venue)
        coid = request.client_order_id
        _needs(venue.fail_next, 503, count=2)
        found = _must("check 6: a read should survive two 503s", broker.get_order, coid)
        assert found is not None, "check 6: after two 503s the order is not found"
        del venue.slept[:]
        _needs(venue.fail_next, 429, count=1, reset_after=7.0)
        found = _must("check 6: a read should survive a 429", broker.get_order, coid)
        assert found is not None, "check 6: after a 429 the order is not found"
        assert venue.slept and max(venue.slept) >= 7.0, (
            f"check 6: the reset header said 7 s, the broker waited {venue.slept}"
        )
        del venue.slept[:]
        reads = _reads(venue)
        _needs(venue.fail_next, 503, count=MAX_READ_ATTEMPTS * 10)
        try:
            answer = broker.get_order(coid)
        except Exception:
            answer = "raised"
        assert answer == "raised", f"check 6: a read failing without end answered {answer!r}"
        assert len(venue.slept) <= MAX_READ_ATTEMPTS, (
            f"check 6: {len(venue.slept)} retries of a failing read (at most {MAX_READ_ATTEMPTS})"
        )
        if reads is None:
            return
        sent = _reads(venue) - reads  # type: ignore[operator]
        assert sent <= MAX_READ_ATTEMPTS, (
            f"check 6: a failing read reached the venue {sent} times (at most {MAX_READ_ATTEMPTS})"
        )
        waits = [s for s in venue.slept if s > 0]
        assert len(waits) >= sent - 1, (
            f"check 6: {sent} requests of a failing read with {len(waits)} waits between "
            "them: retries must back off"
        )

    def test_6b_submit_is_never_retried(self, venue: Any) -> None:
        """Check 6: a submit answered 5xx or 429 is sent once: its outcome is unknown (an
        exception) or a rejection, never a success built from a second send."""
        broker = self.broker(venue)
        for status in (503, 500, 429):
            request = self.order_request(venue)
            sent = venue.submit_requests()
            _needs(venue.fail_next, status, count=1, reset_after=1.0 if status == 429 else None)
            try:
                answer = broker.submit(request)
            except Exception:
                answer = None
            assert answer is None, f"check 6: a submit answered {status} returned {answer}"
            assert venue.submit_requests() - sent == 1, (
                f"check 6: a submit answered {status} reached the venue "
                f"{venue.submit_requests() - sent} times"
            )
            assert venue.orders_with(request.client_order_id) <= 1

    def test_6c_validation_errors_are_permanent_rejections(self, venue: Any) -> None:
        """Check 6: a 4xx validation error is :class:`BrokerRejected` with a stable code
        (:data:`CODE_PATTERN`, the same for the same refusal), sent once."""
        import re

        broker = self.broker(venue)
        codes = []
        for _ in range(2):
            sent = venue.submit_requests()
            _needs(venue.reject_next, "qty must be a positive number")
            with pytest.raises(BrokerRejected) as info:
                broker.submit(self.order_request(venue))
            assert venue.submit_requests() - sent == 1, "check 6: a rejected submit was retried"
            code = info.value.code
            assert isinstance(code, str) and re.match(CODE_PATTERN, code), (
                f"check 6: rejection code {code!r} is not a stable code"
            )
            codes.append(code)
        assert codes[0] == codes[1], f"check 6: one refusal gave the codes {codes}"

    def test_7_cancelling_a_finished_order_is_not_an_error(self, venue: Any) -> None:
        """Check 7: cancelling an order already cancelled or filled returns it as it
        stands (also from a restarted broker)."""
        broker = self.broker(venue)
        request, _ = self._submit(broker, venue)
        coid = request.client_order_id
        first = broker.cancel(coid)
        assert first is not None and first.status is OrderStatus.CANCELLED, (
            f"check 7: cancelling a working order gave {first}"
        )
        for who, b in (("the broker", broker), ("a restart", self.broker(venue))):
            again = _must(f"check 7: {who}: cancelling a cancelled order", b.cancel, coid)
            assert again is not None and again.status is OrderStatus.CANCELLED, (
                f"check 7: {who}: cancelling a cancelled order gave {again}"
            )
        request, _ = self._submit(broker, venue)
        _needs(venue.fill, request.client_order_id, None)
        filled = _must("check 7: cancelling a filled order", broker.cancel, request.client_order_id)
        assert filled is not None and filled.status is OrderStatus.FILLED, (
            f"check 7: cancelling a filled order gave {filled}"
        )
        assert filled.filled_quantity == request.quantity

    def test_8_numbers_are_decimal_and_times_utc(self, venue: Any) -> None:
        """Check 8: quantities, prices and money are ``Decimal``; timestamps are aware UTC."""
        broker = self.broker(venue)
        request, order = self._submit(broker, venue)
        _needs(venue.fill, request.client_order_id, None)
        orders = [order, broker.get_order(request.client_order_id), *broker.orders()]
        for o in orders:
            assert o is not None
            for name in ("quantity", "filled_quantity", "limit_price", "avg_fill_price"):
                value = getattr(o, name)
                assert value is None or type(value) is Decimal, (
                    f"check 8: order {name} is {type(value).__name__}"
                )
            _utc(o.submitted_at, "check 8: order submitted_at")
            _utc(o.updated_at, "check 8: order updated_at")
        fills = broker.fills(request.client_order_id)
        assert fills, "check 8: a filled order has no fills"
        for f in fills:
            for name in ("quantity", "price", "commission"):
                assert type(getattr(f, name)) is Decimal, f"check 8: fill {name} is not Decimal"
            _utc(f.ts, "check 8: fill ts")
        account = broker.account()
        for name in ("cash", "equity", "realized_pnl"):
            assert type(getattr(account, name)) is Decimal, f"check 8: account {name}"
        for p in broker.positions():
            assert type(p.quantity) is Decimal and type(p.avg_price) is Decimal, "check 8"

    def test_9a_live_needs_acknowledgement(self, venue: Any) -> None:
        """Check 9: a broker for the live endpoint is refused (:class:`ConfigError`)
        unless live mode is acknowledged, and then it says ``live_capable``; built for
        paper it does not, and with live acknowledged it is refused or still not
        ``live_capable``. A ``paper_only`` venue's broker is never ``live_capable``."""
        if getattr(venue, "paper_only", False):
            for live, acknowledged in ((False, False), (False, True), (True, False), (True, True)):
                try:
                    broker = self.broker(venue, live=live, acknowledged=acknowledged)
                except ConfigError:
                    continue
                assert broker.live_capable is False, (
                    f"check 9: a paper-only broker built with live={live}, "
                    f"acknowledged={acknowledged} says it is live_capable"
                )
            return
        with pytest.raises(ConfigError):
            self.broker(venue, live=True, acknowledged=False)
        assert self.broker(venue, live=True, acknowledged=True).live_capable is True, (
            "check 9: an acknowledged live broker does not say live_capable"
        )
        assert self.broker(venue).live_capable is False, (
            "check 9: a broker for the paper endpoint says live_capable"
        )
        try:  # a broker may refuse the paper endpoint in live mode, or build it harmless
            paper_in_live = self.broker(venue, acknowledged=True)
        except ConfigError:
            return
        assert paper_in_live.live_capable is False, (
            "check 9: a broker for the paper endpoint says live_capable once live is acknowledged"
        )

    def test_9b_secrets_never_leak(self, venue: Any) -> None:
        """Check 9: with a venue that quotes the credentials back in its error answers,
        no secret appears in a log line (loguru and the standard library's logging, every
        level), an emitted event, or an exception's message or repr (the whole chain)."""
        secrets = [s for s in venue.secrets if s]
        if not secrets:
            pytest.skip("the venue has no secrets (venue.secrets is empty)")
        _needs(venue.echo_secrets)
        broker = self.broker(venue)
        request, _ = self._submit(broker, venue)
        faults: list[tuple[str, Callable[[], Any], Callable[[], Any]]] = [
            ("a rejection", lambda: venue.reject_next("invalid qty"), broker.submit),
            ("a 503 on submit", lambda: venue.fail_next(503), broker.submit),
            ("a 500 on every read", lambda: venue.fail_next(500, count=100), None),
        ]
        ran = []
        for what, inject, call in faults:
            try:
                inject()
            except NotImplementedError:
                continue
            ran.append(what)
            try:
                if call is None:
                    broker.get_order(request.client_order_id)
                else:
                    call(self.order_request(venue))
            except Exception as exc:
                self._no_secret_in(exc, secrets, what)
        if not ran:
            pytest.skip("the venue can inject no error to echo the secrets in")
        assert self._events() or getattr(venue, "silent", False), (
            f"check 9: the broker emitted no event during {ran}: wire its emitter to "
            "self.emit in make_broker (or self.watch its recorder) so its events are "
            "checked, or declare venue.silent = True if it emits none"
        )
        for line in self.logs:
            for secret in secrets:
                masked = line.replace(secret, "<SECRET>")  # the failure must not leak it either
                assert secret not in line, f"check 9: a secret is in the log line {masked!r}"
        for event in self._events():
            text = repr(getattr(event, "fields", event))
            for secret in secrets:
                assert secret not in text, f"check 9: a secret is in an event ({ran})"

    @staticmethod
    def _no_secret_in(exc: BaseException, secrets: list[str], what: str) -> None:
        seen: set[int] = set()
        current: BaseException | None = exc
        while current is not None and id(current) not in seen:
            seen.add(id(current))
            texts = [str(current), repr(current), *map(str, current.args)]
            texts += [str(v) for v in getattr(current, "__dict__", {}).values()]
            for text in texts:
                for secret in secrets:
                    assert secret not in text, (
                        f"check 9: after {what}, a secret is in {type(current).__name__}"
                    )
            current = current.__cause__ or current.__context__

    def test_10_no_socket_leaves_the_machine(self, venue: Any) -> None:
        """Check 10: the whole broker (orders, lookups, cancels, fills, positions,
        account, a restart) runs against the double without any connection outside
        loopback (every check runs under the same guard)."""
        with pytest.raises(OSError, match="no_network"):
            socket.create_connection(("192.0.2.1", 443), timeout=0.5)  # TEST-NET-1
        assert self._guard.attempts, "check 10: the network guard is not active"
        del self._guard.attempts[:]
        for broker in (self.broker(venue), self.broker(venue)):
            request, _ = self._submit(broker, venue)
            broker.get_order(request.client_order_id)
            broker.orders()
            broker.orders(open_only=True)
            broker.fills()
            broker.positions()
            broker.account()
            broker.cancel(request.client_order_id)
        assert not self._guard.attempts, (
            f"check 10: the broker tried to leave the machine: {self._guard.attempts}"
        )
