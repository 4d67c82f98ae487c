"""Shared fixtures for the store, approval and execution tests."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from tradekernel.components import BrokerRejected, SubmitOutcomeUnknown
from tradekernel.models import GuardVerdict, Intent, Order, OrderRequest, OrderStatus
from tradekernel.settings import KernelSettings, RuntimeSettings, Settings
from tradekernel.store import IntentState, Store

AS_OF = datetime(2024, 1, 2, 15, 30, tzinfo=UTC)


class RecordingBroker:
    """A fake broker whose book is a shared SQLite table with NO uniqueness constraint,
    so a second submit of one client order id shows up as a duplicate row.

    ``mode`` scripts the first submit of each order: ``ok``; ``accept_then_unknown``
    (records the order, then raises SubmitOutcomeUnknown); ``drop_before`` (raises
    SubmitOutcomeUnknown without recording); ``reject`` (BrokerRejected);
    ``accept_then_error`` (records, then raises a plain RuntimeError). ``lookup_fails``
    makes get_order raise. ``hook(point, client_order_id)`` is a crash-test checkpoint.
    """

    live_capable = False

    def __init__(
        self,
        path: Path,
        *,
        mode: str = "ok",
        lookup_fails: bool = False,
        hook: Callable[[str, str], None] | None = None,
    ) -> None:
        self.path = Path(path)
        self.mode = mode
        self.lookup_fails = lookup_fails
        self.hook = hook
        self.conn = sqlite3.connect(str(self.path), timeout=30, isolation_level=None)
        self.conn.execute("PRAGMA journal_mode = WAL")
        self.conn.execute(
            "CREATE TABLE IF NOT EXISTS submits (client_order_id TEXT, intent_id TEXT, "
            "symbol TEXT, quantity TEXT, attempt_mode TEXT)"
        )
        self.conn.execute(
            "CREATE TABLE IF NOT EXISTS attempts (client_order_id TEXT, outcome TEXT)"
        )

    def _attempted(self, coid: str) -> int:
        sql = "SELECT COUNT(*) FROM attempts WHERE client_order_id = ?"
        return self.conn.execute(sql, (coid,)).fetchone()[0]

    def submit(self, request: OrderRequest) -> Order:
        coid = request.client_order_id
        first = self._attempted(coid) == 0
        mode = self.mode if first else "ok"
        self.conn.execute("INSERT INTO attempts VALUES (?, ?)", (coid, mode))
        if mode == "reject":
            raise BrokerRejected("insufficient buying power", code="insufficient_funds")
        if mode == "drop_before":
            raise SubmitOutcomeUnknown("connection dropped before the broker answered")
        if self.hook:
            self.hook("broker_before_record", coid)
        self.conn.execute(
            "INSERT INTO submits VALUES (?, ?, ?, ?, ?)",
            (coid, request.intent_id, request.symbol, str(request.quantity), mode),
        )
        if self.hook:
            self.hook("broker_after_record", coid)
        if mode == "accept_then_unknown":
            raise SubmitOutcomeUnknown("read timeout after sending")
        if mode == "accept_then_error":
            raise RuntimeError("socket closed")
        return self._order(request.client_order_id, request.symbol, request.side, request.quantity)

    @staticmethod
    def _order(coid: str, symbol: str, side: Any, quantity: Any) -> Order:
        return Order(
            client_order_id=coid,
            symbol=symbol,
            side=side,
            quantity=quantity,
            status=OrderStatus.WORKING,
            broker_order_id="B-" + coid,
        )

    def get_order(self, client_order_id: str) -> Order | None:
        if self.lookup_fails:
            raise SubmitOutcomeUnknown("lookup timed out")
        row = self.conn.execute(
            "SELECT symbol, quantity, intent_id FROM submits WHERE client_order_id = ? LIMIT 1",
            (client_order_id,),
        ).fetchone()
        if row is None:
            return None
        return self._order(client_order_id, row[0], "buy", row[1])

    def count(self, client_order_id: str | None = None) -> int:
        if client_order_id is None:
            return self.conn.execute("SELECT COUNT(*) FROM submits").fetchone()[0]
        sql = "SELECT COUNT(*) FROM submits WHERE client_order_id = ?"
        return self.conn.execute(sql, (client_order_id,)).fetchone()[0]

    def per_order(self) -> dict[str, int]:
        sql = "SELECT client_order_id, COUNT(*) FROM submits GROUP BY client_order_id"
        return dict(self.conn.execute(sql).fetchall())

    def close(self) -> None:
        self.conn.close()


def make_settings(state_dir: Path, **kernel: Any) -> Settings:
    runtime = kernel.pop("runtime", {})
    return Settings(
        kernel=KernelSettings(state_dir=state_dir, **kernel), runtime=RuntimeSettings(**runtime)
    )


def make_intent(n: int = 0, **kwargs: Any) -> Intent:
    kwargs.setdefault("quantity", 10)
    kwargs.setdefault("rationale", f"test intent {n}")
    kwargs.setdefault("strategist", "rules")
    kwargs.setdefault("prompt_version", "p1")
    return Intent.create(
        symbol=kwargs.pop("symbol", "AAA"),
        side=kwargs.pop("side", "buy"),
        as_of=AS_OF + timedelta(minutes=n),
        **kwargs,
    )


def add_approved(store: Store, n: int, *, start: int = 0, cycle: str = "c1") -> list[str]:
    """Add ``n`` intents and approve them (through the state machine)."""
    ids = []
    for i in range(start, start + n):
        intent = make_intent(i)
        store.add_intent(intent, cycle_id=cycle, broker="rec", ref_price=Decimal("100"))
        store.transition(
            intent.id,
            IntentState.PENDING_APPROVAL,
            actor="guards",
            verdicts=[GuardVerdict.allowed("max_notional")],
        )
        store.transition(intent.id, IntentState.APPROVED, actor="tester")
        ids.append(intent.id)
    return ids


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    return tmp_path / "state"


@pytest.fixture
def store(state_dir: Path):
    with Store.open(state_dir) as s:
        yield s


@pytest.fixture
def settings(state_dir: Path) -> Settings:
    return make_settings(state_dir)


@pytest.fixture
def broker_factory(tmp_path: Path):
    brokers: list[RecordingBroker] = []

    def factory(**kwargs: Any) -> RecordingBroker:
        broker = RecordingBroker(tmp_path / "broker.db", **kwargs)
        brokers.append(broker)
        return broker

    yield factory
    for b in brokers:
        b.close()


@pytest.fixture
def helpers():
    """Module-level helpers for tests (importlib mode cannot import conftest)."""

    class H:
        RecordingBroker = RecordingBroker
        make_settings = staticmethod(make_settings)
        make_intent = staticmethod(make_intent)
        add_approved = staticmethod(add_approved)

    return H


def write_config(tmp_path: Path, state_dir: Path, **kernel: Any) -> Path:
    lines = ["[kernel]", f'state_dir = "{state_dir}"']
    for key, value in kernel.items():
        literal = str(value).lower() if isinstance(value, bool) else f'"{value}"'
        lines.append(f"{key} = {literal}")
    path = tmp_path / "plugins.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def run_cli(tmp_path: Path, state_dir: Path, capsys):
    """Run the real CLI entry point: returns (exit code, stdout, stderr)."""
    from tradekernel.cli import main

    def run(*args: str, **kernel: Any) -> tuple[int, str, str]:
        config = write_config(tmp_path, state_dir, **kernel)
        capsys.readouterr()
        with pytest.raises(SystemExit) as exc:
            main(["--config", str(config), *args])
        out = capsys.readouterr()
        return exc.value.code, out.out, out.err

    return run


class Backend:
    """One store backend for the conformance suite: ``open(state_dir, **options)`` opens
    it through :func:`open_store` (so the selection path is what is tested)."""

    _registry: Any = None

    def __init__(self, name: str, url: str | None = None) -> None:
        self.name = name
        self.url = url

    def settings(self, state_dir: Path) -> Settings:
        from tradekernel.settings import ComponentSelection, StoreSettings

        return Settings(
            kernel=KernelSettings(state_dir=Path(state_dir)),
            components=ComponentSelection(store=self.name),
            store=StoreSettings(url=self.url),
        )

    def open(self, state_dir: Path, **options: Any) -> Store:
        from tradekernel.store import open_store

        if self.name != "sqlite" and Backend._registry is None:
            from tradekernel.plugins import PluginRegistry

            Backend._registry = PluginRegistry().load()
        return open_store(self.settings(state_dir), registry=Backend._registry, **options)

    def raw(self, state_dir: Path) -> Any:
        """A plain connection to the backend's database (nothing checked or created)."""
        if self.name == "postgres":
            import psycopg

            return psycopg.connect(self.url, autocommit=True)
        Path(state_dir).mkdir(parents=True, exist_ok=True)
        return sqlite3.connect(str(Path(state_dir) / "state.db"), isolation_level=None)

    def tables(self, conn: Any) -> set[str]:
        if self.name == "postgres":
            sql = "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
        else:
            sql = "SELECT name FROM sqlite_master WHERE type = 'table'"
        return {r[0] for r in conn.execute(sql).fetchall()}

    def wipe(self, state_dir: Path) -> None:
        """Lose the whole database (the journal anchor stays)."""
        if self.name == "postgres":
            conn = self.raw(state_dir)
            conn.execute("DROP SCHEMA public CASCADE")
            conn.execute("CREATE SCHEMA public")
            conn.close()
            return
        for suffix in ("", "-wal", "-shm"):
            (Path(state_dir) / f"state.db{suffix}").unlink(missing_ok=True)

    def tamper(self, store: Store, sql: str, args: tuple = ()) -> None:
        """Run ``sql`` behind the store's back (as someone with the server's or the
        file's full rights would: on PostgreSQL the journal's append-only triggers are
        dropped for it)."""
        if self.name == "postgres":
            store.conn.execute("ALTER TABLE journal DISABLE TRIGGER USER")
        store.conn.execute(sql, args)
        if self.name == "postgres":
            store.conn.execute("ALTER TABLE journal ENABLE TRIGGER USER")


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request) -> Backend:
    """Each store backend in turn (PostgreSQL: a fresh database on the session's cluster)."""
    if request.param == "postgres":
        return Backend("postgres", request.getfixturevalue("postgres_url"))
    return Backend("sqlite")
