"""The broker contract kit checks what it says: a correct in-memory broker on a stateful
double passes every check, and each deliberately faulty variant fails the check that
covers its fault (the checks are run directly, with the kit's own harness)."""

from __future__ import annotations

import contextlib
import inspect
import json
import logging
import socket
from collections import deque
from datetime import UTC, datetime
from decimal import Decimal
from itertools import count
from typing import Any

import pytest
from loguru import logger
from tradekernel.components import BrokerRejected, SubmitOutcomeUnknown
from tradekernel.errors import ConfigError
from tradekernel.models import Account, Fill, Order, OrderRequest, OrderStatus, Position
from tradekernel.testing import BrokerContract, Venue

SECRET = "sk-contract-9f8e7d6c5b4a"
LIVE_URL = "https://live.example.invalid"
PAPER_URL = "https://paper.example.invalid"

STATUSES = {
    "new": OrderStatus.WORKING,
    "accepted": OrderStatus.WORKING,
    "pending_cancel": OrderStatus.WORKING,
    "partially_filled": OrderStatus.PARTIAL_FILL,
    "filled": OrderStatus.FILLED,
    "canceled": OrderStatus.CANCELLED,
    "expired": OrderStatus.CANCELLED,
    "rejected": OrderStatus.REJECTED,
}
FINAL = {"filled", "canceled", "expired", "rejected"}


class Timeout(Exception):
    """The answer never arrived."""


class MemoryVenue:
    """A stateful double of a small REST broker: orders by client order id (a duplicate
    id answers 422 ``duplicate``), fills, statuses, and the faults of the Venue protocol.
    ``request(method, path, body, headers)`` answers ``(status, json_body, headers)``."""

    symbol = "ABC"
    quantity = Decimal("10")
    secrets = (SECRET,)
    statuses = {status: status in FINAL for status in STATUSES}

    def __init__(self) -> None:
        self.orders: list[dict[str, Any]] = []
        self.fills: list[dict[str, Any]] = []
        self.slept: list[float] = []
        self.posts = 0
        self.reads = 0
        self._ids = count(1)
        self._fail: deque[tuple[int, float | None]] = deque()
        self._lose: dict[bool, bool] = {True: False, False: False}
        self._reject: str | None = None
        self._echo = False

    # -- the Venue protocol -----------------------------------------------------------

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)

    def orders_with(self, client_order_id: str) -> int:
        return sum(o["client_order_id"] == client_order_id for o in self.orders)

    def submit_requests(self) -> int:
        return self.posts

    def read_requests(self) -> int:
        return self.reads

    def fill(self, client_order_id: str, quantity: Decimal | None = None) -> None:
        order = self._order(client_order_id)
        left = Decimal(order["qty"]) - Decimal(order["filled_qty"])
        qty = left if quantity is None else quantity
        self.fills.append(
            {"id": f"F{next(self._ids)}", "client_order_id": client_order_id, "qty": str(qty),
             "price": "100.5", "ts": datetime.now(UTC).isoformat()}
        )  # fmt: skip
        order["filled_qty"] = str(Decimal(order["filled_qty"]) + qty)
        order["status"] = "filled" if qty == left else "partially_filled"

    def set_status(self, client_order_id: str, status: str) -> None:
        self._order(client_order_id)["status"] = status

    def lose_next_response(self, *, submit: bool = True) -> None:
        self._lose[submit] = True

    def fail_next(self, status: int, *, count: int = 1, reset_after: float | None = None) -> None:
        self._fail.extend([(status, reset_after)] * count)

    def reject_next(self, reason: str) -> None:
        self._reject = reason

    def echo_secrets(self) -> None:
        self._echo = True

    # -- the wire ---------------------------------------------------------------------

    def _order(self, client_order_id: str) -> dict[str, Any]:
        return next(o for o in self.orders if o["client_order_id"] == client_order_id)

    def _error(self, status: int, message: str, headers: dict[str, str]) -> tuple:
        body = {"code": status * 100, "message": message}
        if self._echo:
            body["request_key"] = headers.get("X-Key", "")
        return status, body, {}

    def request(self, method: str, path: str, body: Any, headers: dict[str, str]) -> tuple:
        submit = method == "POST"
        if submit:
            self.posts += 1
        else:
            self.reads += 1
        if self._fail:
            status, reset = self._fail.popleft()
            return *self._error(status, "try again", headers)[:2], (
                {} if reset is None else {"X-Reset": str(reset)}
            )
        if submit:
            if self._reject is not None:
                reason, self._reject = self._reject, None
                return self._error(422, reason, headers)
            if self.orders_with(body["client_order_id"]):
                return self._error(422, "duplicate client_order_id", headers)
            order = {**body, "id": f"V{next(self._ids)}", "status": "new", "filled_qty": "0",
                     "submitted_at": datetime.now(UTC).isoformat()}  # fmt: skip
            self.orders.append(order)
            answer: tuple = (200, dict(order), {})
        elif method == "DELETE":
            order = self._order(path.rsplit("/", 1)[1])
            if order["status"] not in FINAL:
                order["status"] = "canceled"
            answer = (200, dict(order), {})
        elif path.startswith("/orders/"):
            coid = path.rsplit("/", 1)[1]
            found = [dict(o) for o in self.orders if o["client_order_id"] == coid]
            answer = (200, found[0], {}) if found else (404, {"message": "not found"}, {})
        elif path == "/orders":
            answer = (200, [dict(o) for o in self.orders], {})
        elif path == "/fills":
            answer = (200, [dict(f) for f in self.fills], {})
        else:
            answer = (404, {"message": "no such path"}, {})
        if self._lose[submit]:
            self._lose[submit] = False
            raise Timeout(f"{method} {path}: read timeout")
        return answer


class MemoryBroker:
    """A correct broker on :class:`MemoryVenue`; ``flaws`` makes it break one rule."""

    READ_ATTEMPTS = 4

    def __init__(
        self,
        venue: MemoryVenue,
        *,
        live: bool,
        acknowledged: bool,
        flaws: frozenset[str],
        emit: Any = None,
    ) -> None:
        if live and not acknowledged and "live_unguarded" not in flaws:
            raise ConfigError(f"[broker.memory] base_url: {LIVE_URL} needs live mode")
        self.venue = venue
        self.url = LIVE_URL if live else PAPER_URL
        self.live_capable = live or (acknowledged and "acknowledged_is_live" in flaws)
        self.flaws = flaws
        self._headers = {"X-Key": SECRET}
        self.emit = emit

    def _call(self, method: str, path: str, body: Any = None) -> tuple:
        if "connects_out" in self.flaws:
            with contextlib.suppress(OSError):
                socket.create_connection(("203.0.113.7", 443), timeout=0.2)
        return self.venue.request(method, path, body, self._headers)

    def _text(self, body: Any) -> str:
        raw = json.dumps(body)
        text = raw if "leaks_secret" in self.flaws else raw.replace(SECRET, "***")
        if "logs_secret" in self.flaws:
            logger.debug("memory broker: answer {}", raw)
        if "logs_secret_stdlib" in self.flaws:
            logging.getLogger("memory").debug("answer %s", raw)
        if "emits_secret" in self.flaws:
            self.emit("broker", "outcome_unknown", broker="memory", reason=raw)
        return text

    def _read(self, path: str) -> tuple[int, Any]:
        attempts = 1 if "reads_not_retried" in self.flaws else self.READ_ATTEMPTS
        if "hammers_reads" in self.flaws:
            attempts = 50
        for attempt in range(attempts):
            status, body, headers = self._call("GET", path)
            if status != 429 and status < 500:
                return status, body
            if attempt + 1 < attempts:
                wait = 0.5 * 2**attempt
                if "ignores_reset" not in self.flaws:
                    wait = max(wait, float(headers.get("X-Reset", 0)))
                if status == 429 or {"hammers_reads", "no_backoff"}.isdisjoint(self.flaws):
                    self.venue.sleep(wait)  # the flawed ones wait only when told to
                if self.emit is not None:
                    self.emit("broker", "request_retried", broker="memory", path=path,
                              status=status, attempt=attempt + 1)  # fmt: skip
        raise ConnectionError(f"GET {path}: answered {status} {attempts} times: {self._text(body)}")

    def _order(self, raw: dict[str, Any]) -> Order:
        filled = Decimal(raw["filled_qty"])
        if "fills_decrease" in self.flaws and raw["status"] == "filled":
            filled = Decimal(0)
        mapped = STATUSES.get(raw["status"], OrderStatus.WORKING)
        if "pending_cancel_is_cancelled" in self.flaws and raw["status"] == "pending_cancel":
            mapped = OrderStatus.CANCELLED
        when = datetime.fromisoformat(raw["submitted_at"])
        return Order(
            client_order_id=raw["client_order_id"],
            symbol=raw["symbol"],
            side=raw["side"],
            quantity=raw["qty"],
            status=mapped,
            broker_order_id=raw["id"],
            filled_quantity=filled,
            submitted_at=when.replace(tzinfo=None) if "naive_times" in self.flaws else when,
        )

    def submit(self, request: OrderRequest) -> Order:
        body = {"client_order_id": request.client_order_id, "symbol": request.symbol,
                "side": request.side.value, "qty": str(request.quantity)}  # fmt: skip
        tries = 3 if "retries_submit" in self.flaws else 1
        for _ in range(tries):
            try:
                status, answer, _ = self._call("POST", "/orders", body)
            except Timeout as exc:
                if "lost_is_rejected" in self.flaws:
                    raise BrokerRejected("no answer", "timeout") from None
                raise SubmitOutcomeUnknown(str(exc)) from None
            if status == 429 or status >= 500:
                continue
            if status == 422 and "duplicate" in answer["message"]:
                if "retries_submit_as_new" in self.flaws:
                    body = {**body, "client_order_id": request.client_order_id + "-r"}
                    status, answer, _ = self._call("POST", "/orders", body)
                    return self._order({**answer, "client_order_id": request.client_order_id})
                found = self.get_order(request.client_order_id)
                if found is not None:
                    return found
            if status >= 400:
                code = f"memory_{answer['code']}"
                raise BrokerRejected(f"refused: {self._text(answer)}", code)
            return self._order(answer)
        raise SubmitOutcomeUnknown(f"POST /orders answered {status}: {self._text(answer)}")

    def get_order(self, client_order_id: str) -> Order | None:
        status, body = self._read(f"/orders/{client_order_id}")
        return None if status == 404 else self._order(body)

    def cancel(self, client_order_id: str) -> Order | None:
        order = self.get_order(client_order_id)
        if order is None:
            return None
        if order.terminal and "cancel_raises_when_done" in self.flaws:
            raise BrokerRejected("order is not cancelable", "not_cancelable")
        _, body, _ = self._call("DELETE", f"/orders/{client_order_id}")
        return self._order(body)

    def orders(self, *, open_only: bool = False) -> list[Order]:
        orders = [self._order(raw) for raw in self._read("/orders")[1]]
        return [o for o in orders if not (open_only and o.terminal)]

    def fills(self, client_order_id: str | None = None) -> list[Fill]:
        out = []
        for raw in self._read("/fills")[1]:
            if client_order_id in (None, raw["client_order_id"]):
                order = self.venue._order(raw["client_order_id"])
                out.append(
                    Fill(fill_id=raw["id"], client_order_id=raw["client_order_id"],
                         symbol=order["symbol"], side=order["side"], quantity=raw["qty"],
                         price=raw["price"], ts=datetime.fromisoformat(raw["ts"]))
                )  # fmt: skip
        return out

    def positions(self) -> list[Position]:
        held = sum((f.quantity for f in self.fills()), Decimal(0))
        return [Position(symbol="ABC", quantity=held, avg_price="100.5")] if held else []

    def account(self) -> Account:
        return Account(cash="100000", equity="100000")


class MemoryContract(BrokerContract):
    """The kit on the in-memory broker, with the given flaws."""

    flaws: frozenset[str] = frozenset()

    @pytest.fixture
    def venue(self) -> MemoryVenue:
        return MemoryVenue()

    def make_broker(self, venue: Any, *, live: bool = False, acknowledged: bool = False) -> Any:
        emit = None if "emit_unwired" in self.flaws else self.emit
        return MemoryBroker(
            venue, live=live, acknowledged=acknowledged, flaws=self.flaws, emit=emit
        )


class TestMemoryBrokerContract(MemoryContract):
    """A correct broker passes every check."""


def test_the_double_satisfies_the_venue_protocol():
    assert isinstance(MemoryVenue(), Venue)


def _run(check: str, flaws: set[str], monkeypatch, tmp_path) -> None:
    contract = MemoryContract()
    contract.flaws = frozenset(flaws)
    method = getattr(contract, check)
    kwargs: dict[str, Any] = {"venue": MemoryVenue()}
    if "tmp_path" in inspect.signature(method).parameters:
        kwargs["tmp_path"] = tmp_path
    contract._begin(monkeypatch)
    try:
        method(**kwargs)
    except pytest.skip.Exception as exc:
        raise CheckSkipped(f"{check} skipped: {exc}") from None
    finally:
        contract._end()


class CheckSkipped(BaseException):
    """A check skipped: neither a pass nor the failure a fault must cause."""


FAULTS = [
    ("test_1_same_client_order_id_twice_makes_one_order", "retries_submit_as_new"),
    ("test_3_lost_submit_response_is_found_never_resent", "lost_is_rejected"),
    ("test_4_fills_only_grow_and_are_unique", "fills_decrease"),
    ("test_5_every_venue_status_maps_and_terminal_stays", "pending_cancel_is_cancelled"),
    ("test_6a_reads_retry_a_bounded_number_of_times", "reads_not_retried"),
    ("test_6a_reads_retry_a_bounded_number_of_times", "ignores_reset"),
    ("test_6a_reads_retry_a_bounded_number_of_times", "hammers_reads"),
    ("test_6a_reads_retry_a_bounded_number_of_times", "no_backoff"),
    ("test_6b_submit_is_never_retried", "retries_submit"),
    ("test_7_cancelling_a_finished_order_is_not_an_error", "cancel_raises_when_done"),
    ("test_8_numbers_are_decimal_and_times_utc", "naive_times"),
    ("test_9a_live_needs_acknowledgement", "live_unguarded"),
    ("test_9a_live_needs_acknowledgement", "acknowledged_is_live"),
    ("test_9b_secrets_never_leak", "emit_unwired"),
    ("test_9b_secrets_never_leak", "leaks_secret"),
    ("test_9b_secrets_never_leak", "logs_secret"),
    ("test_9b_secrets_never_leak", "logs_secret_stdlib"),
    ("test_9b_secrets_never_leak", "emits_secret"),
    ("test_10_no_socket_leaves_the_machine", "connects_out"),
]


@pytest.mark.parametrize(("check", "flaw"), FAULTS)
def test_each_check_fails_a_broker_with_its_fault(check, flaw, monkeypatch, tmp_path):
    _run(check, set(), monkeypatch, tmp_path)  # the same check passes without the fault
    with pytest.raises((AssertionError, pytest.fail.Exception)):
        _run(check, {flaw}, monkeypatch, tmp_path)


def test_the_kit_is_a_pytest_plugin_of_every_suite(request):
    from importlib.metadata import entry_points

    (point,) = [
        e for e in entry_points(group="pytest11") if e.value == "tradekernel.broker_contract"
    ]
    assert request.config.pluginmanager.get_plugin(point.name) is not None
    markers = request.config.getini("markers")
    assert any(m.startswith("broker_contract:") for m in markers)


def test_the_network_guard_lets_loopback_through_and_remembers_the_rest(monkeypatch):
    from tradekernel.testing_network import NetworkGuard

    server = socket.create_server(("127.0.0.1", 0))
    guard = NetworkGuard(monkeypatch)
    try:
        with socket.create_connection(server.getsockname(), timeout=2):
            pass
        for address in (("192.0.2.1", 443), ("example.com", 80), ("::ffff:8.8.8.8", 53)):
            with contextlib.suppress(OSError):  # a client that swallows the error ...
                socket.create_connection(address, timeout=0.5)
    finally:
        server.close()
    assert len(guard.attempts) == 3  # ... is still caught
    assert all("no_network" not in a and "127.0.0.1" not in a for a in guard.attempts)


def test_the_network_guard_stops_datagrams_and_old_resolver_calls(monkeypatch):
    from tradekernel.testing_network import NetworkGuard

    local = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    local.bind(("127.0.0.1", 0))
    out = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    guard = NetworkGuard(monkeypatch)
    try:
        out.sendto(b"ok", local.getsockname())  # loopback goes through
        out.sendmsg([b"ok"], [], 0, local.getsockname())
        assert socket.gethostbyname("localhost").startswith("127.")
        calls = (
            lambda: out.sendto(b"\0" * 12, ("192.0.2.1", 53)),
            lambda: out.sendto(b"\0" * 12, 0, ("192.0.2.1", 53)),
            lambda: out.sendmsg([b"\0" * 12], [], 0, ("192.0.2.1", 53)),
            lambda: socket.gethostbyname("example.com"),
            lambda: socket.gethostbyname_ex("example.com"),
            lambda: socket.gethostbyaddr("192.0.2.1"),
        )
        for call in calls:
            with pytest.raises(OSError, match="no_network"):
                call()
        assert local.recv(16) == b"ok"
    finally:
        local.close()
        out.close()
    assert len(guard.attempts) == 6


def test_the_documented_example_is_the_paper_brokers_contract_test():
    """docs/plugin-authoring.md shows code that runs: its broker example is the paper
    broker's contract test, verbatim."""
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    doc = (root / "docs" / "plugin-authoring.md").read_text("utf-8")
    section = doc.split("## Testing a broker", 1)[1].split("\n## ", 1)[0]
    (example,) = re.findall(r"```python\n(.*?)```", section, re.S)
    test = (root / "plugins" / "paper" / "tests" / "test_contract.py").read_text("utf-8")
    assert "class TestPaperBrokerContract(BrokerContract):" in example
    assert example in test
