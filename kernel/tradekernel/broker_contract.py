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

import ipaddress
import socket
import uuid
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol, TypeVar, runtime_checkable

import pytest

from .components import BrokerRejected
from .errors import ConfigError
from .models import GuardVerdict, Intent, Order, OrderRequest, OrderStatus, Side

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


_LOOPBACK_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost"}


def _loopback(address: Any) -> bool:
    if isinstance(address, str | bytes):  # an AF_UNIX path
        return True
    host = address[0] if isinstance(address, tuple) and address else address
    if not isinstance(host, str):
        return False
    if host.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


class _NetworkGuard:
    """Patches socket connects and name lookups: only loopback is allowed; anything else
    raises and is remembered (so a broker that swallows the error still fails)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.attempts: list[str] = []
        connect = socket.socket.connect
        connect_ex = socket.socket.connect_ex
        getaddrinfo = socket.getaddrinfo

        def refuse(what: str) -> OSError:
            self.attempts.append(what)
            return ConnectionRefusedError(f"no_network: {what} is outside the test's double")

        def guarded_connect(sock: socket.socket, address: Any) -> Any:
            if not _loopback(address):
                raise refuse(f"connect to {address!r}")
            return connect(sock, address)

        def guarded_connect_ex(sock: socket.socket, address: Any) -> Any:
            if not _loopback(address):
                raise refuse(f"connect to {address!r}")
            return connect_ex(sock, address)

        def guarded_getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
            name = host.decode() if isinstance(host, bytes) else host
            if name is not None and not _loopback((name,)):
                raise refuse(f"name lookup of {name!r}")
            return getaddrinfo(host, *args, **kwargs)

        monkeypatch.setattr(socket.socket, "connect", guarded_connect)
        monkeypatch.setattr(socket.socket, "connect_ex", guarded_connect_ex)
        monkeypatch.setattr(socket, "getaddrinfo", guarded_getaddrinfo)


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Within the test, a socket may connect only to loopback (127.0.0.1, ::1, a local
    socket file) and only loopback names resolve; anything else raises and FAILS the
    test at teardown even if the code under test swallowed the error. Yields the list
    of refused attempts."""
    guard = _NetworkGuard(monkeypatch)
    yield guard.attempts
    if guard.attempts:
        pytest.fail(f"no_network: the test tried to leave the machine: {guard.attempts}")


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
    """The checks every broker must pass; subclass it in the broker's tests (see the
    module docstring). Override ``venue`` (a fixture: a fresh :class:`Venue` per test)
    and :meth:`make_broker`; optionally :meth:`order_request` (the order the checks send).

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
        day, under a fresh client order id. Override to shape it (a limit order, ...)."""
        return OrderRequest(
            client_order_id=client_order_id or f"tkc-{uuid.uuid4().hex[:20]}",
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
        self._guard = _NetworkGuard(monkeypatch)
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
        missing = self._brokers[-1].get_order(f"tkc-absent-{uuid.uuid4().hex[:12]}")
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
        from .store import IntentState, Store
        from .testing import KernelFactory

        contract = self

        class _Plugin:
            @hookimpl
            def register_brokers(self, register: Any) -> None:
                register("contract", lambda config, ctx: contract.make_broker(venue))

        with KernelFactory(tmp_path / "kernel") as factory:
            kernel, recorder = factory.build(
                '[components]\nbroker = "contract"\n', plugins=[(_Plugin(), "broker-contract")]
            )
            self.watch(recorder)
            settings = kernel.settings
            with Store.open(settings.state_dir, redact=settings.redact) as store:
                ids = [self._approved(store, venue, n) for n in range(2)]

                def executor() -> Executor:
                    return Executor(
                        store, kernel.component("broker"), broker_name="contract",
                        settings=settings, emit=kernel.emit,
                    )  # fmt: skip

                _needs(venue.lose_next_response, submit=True)
                result = executor().execute(ids[0])
                record = store.get(ids[0])
                assert (result.outcome, record.state) == ("submitted", IntentState.SUBMITTED), (
                    f"check 3: the executor left a lost submit {result.outcome} ({result.reason})"
                )
                assert result.reason == "found_at_broker", f"check 3: {result.reason}"
                assert venue.orders_with(record.client_order_id) == 1

                # claimed, sent, answer lost, process gone: reconcile after a restart
                store.transition(
                    ids[1], IntentState.EXECUTING, expected_from=IntentState.APPROVED,
                    actor="executor", payload={"broker": "contract"},
                )  # fmt: skip
                record = store.get(ids[1])
                intent = record.intent
                _needs(venue.lose_next_response, submit=True)
                try:
                    self.broker(venue).submit(
                        OrderRequest(
                            client_order_id=record.client_order_id, symbol=intent.symbol,
                            side=intent.side, quantity=intent.quantity, intent_id=intent.id,
                        )  # fmt: skip
                    )
                except Exception:
                    pass  # an unknown outcome, as expected
                sent = venue.submit_requests()
                kernel.close()  # the restart: the next component() builds a new broker
                results = {r.intent_id: r for r in executor().reconcile()}
                assert results[ids[1]].action == "found", f"check 3: reconcile {results[ids[1]]}"
                assert store.get(ids[1]).state is IntentState.SUBMITTED
                assert venue.orders_with(record.client_order_id) == 1
                assert venue.submit_requests() == sent, "check 3: reconcile resubmitted"

    def _approved(self, store: Any, venue: Any, n: int) -> str:
        from .store import IntentState

        intent = Intent.create(
            symbol=venue.symbol,
            side=Side.BUY,
            quantity=venue.quantity,
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
