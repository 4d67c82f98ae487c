"""One store holds one agent: the lease covers the store (a database, or a schema chosen
by the URL's ``options=-c search_path=...``), whatever the agent's namespace; several
accounts take a database or a schema each. Also: a takeover by another namespace names
both, a holder taken over ends with ``lease.lost``, leaving a lease is bounded when its
connection is black-holed, and the local deadline counts a suspended host."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qs, quote, urlsplit

import psycopg
import pytest
from tradekernel.api import LeaseHeld, LeaseLost, hold_lease
from tradekernel_postgres import lease as lease_mod
from tradekernel_postgres.lease import PostgresLease

from .conftest import Clock


@pytest.fixture
def agent(tmp_path: Path, agent_config):
    """Agent ``name``: its own state directory, its own paper account, namespace
    ``desk-<name>``, its market from ``start``."""

    def make(name: str, url: str, start: str = "2026-01-02T14:30:00Z") -> Path:
        return agent_config(
            name,
            url,
            start,
            store=f'namespace = "desk-{name}"',
            paper=tmp_path / f"{name}-account.db",
        )

    return make


def tk(cfg: Path, *args: str) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "tradekernel", "--config", str(cfg), *args]
    return subprocess.run(cmd, capture_output=True, text=True)


def in_schema(url: str, schema: str) -> str:
    """``url`` with the libpq option that makes ``schema`` the store's."""
    return f"{url}&options={quote(f'-c search_path={schema}')}"


def test_an_agent_of_another_namespace_on_one_database_is_refused(postgres_url, tmp_path, agent):
    a, b = agent("a", postgres_url), agent("b", postgres_url)
    with PostgresLease(postgres_url, "desk-a", "tradekernel run", heartbeat=False, host="h-a"):
        refused = tk(b, "run", "--once")
    assert refused.returncode == 3, refused.stderr
    assert "this store is held by tradekernel run on host h-a" in refused.stderr
    assert "namespace 'desk-a'" in refused.stderr and "this one's: 'desk-b'" in refused.stderr
    assert "did nothing" in refused.stderr
    assert not (tmp_path / "b-account.db").exists() or "orders" not in refused.stdout
    assert tk(a, "run", "--once").returncode == 0  # the store is free again


def test_two_agents_on_two_schemas_of_one_database_both_run_and_see_only_their_own(
    postgres_url, tmp_path, agent
):
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute("CREATE SCHEMA agent_a")
        conn.execute("CREATE SCHEMA agent_b")
    a = agent("a", in_schema(postgres_url, "agent_a"))
    b = agent("b", in_schema(postgres_url, "agent_b"), "2027-01-04T14:30:00Z")
    # A holds its schema's lease (as a running agent does) while B runs in the other
    with PostgresLease(in_schema(postgres_url, "agent_a"), "desk-a", "run", heartbeat=False):
        ran_b = tk(b, "run", "--cycles", "40", "--json")
    assert ran_b.returncode == 0, ran_b.stderr
    with psycopg.connect(postgres_url, autocommit=True) as conn:  # nothing of B's in A's
        conn.execute("SET search_path = agent_a")
        assert conn.execute("SELECT to_regclass('intents')").fetchone() == (None,)
    ran_a = tk(a, "run", "--cycles", "40", "--json")
    assert ran_a.returncode == 0, ran_a.stderr
    assert json.loads(ran_a.stdout)["orders_submitted"] > 0
    assert json.loads(ran_b.stdout)["orders_submitted"] > 0
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        tables = {
            (s, t)
            for s, t in conn.execute(
                "SELECT schemaname, tablename FROM pg_tables WHERE tablename IN "
                "('intents', 'tradekernel_lease_store')"
            )
        }
        assert tables == {
            (s, t) for s in ("agent_a", "agent_b") for t in ("intents", "tradekernel_lease_store")
        }
        ids = {
            s: {r[0] for r in conn.execute(f"SELECT id FROM {s}.intents")}
            for s in ("agent_a", "agent_b")
        }
    assert ids["agent_a"] and ids["agent_b"] and not ids["agent_a"] & ids["agent_b"]
    listed = json.loads(tk(a, "intents", "list", "--json").stdout)["intents"]
    assert {i["id"] for i in listed} <= ids["agent_a"]


class Store:
    """A store whose lease runs on the injected clock, without a heartbeat thread."""

    def __init__(self, url: str, clock: Clock, host: str) -> None:
        self.url, self.clock, self.host = url, clock, host
        self.made: list[PostgresLease] = []

    def lease(self, namespace: str, holder: str) -> PostgresLease:
        made = PostgresLease(
            self.url, namespace, holder, clock=self.clock, heartbeat=False, host=self.host
        )
        self.made.append(made)
        return made


def test_a_takeover_by_another_namespace_names_both(postgres_url):
    clock = Clock()
    PostgresLease(postgres_url, "desk-a", "run", clock=clock, heartbeat=False).__enter__()
    clock.now += timedelta(seconds=31)  # A died: its lease expired
    events: list[tuple[str, dict]] = []
    store = Store(postgres_url, clock, "h-b")
    with hold_lease(store, "desk-b", "run", lambda *a, **k: events.append((a[1], k))):
        pass
    kinds = [k for k, _ in events]
    assert kinds == ["taken_over", "acquired", "released"]
    over = events[0][1]
    assert over["namespace"] == "desk-b" and over["previous_namespace"] == "desk-a"
    assert "namespace 'desk-a'" in over["previous_holder"]


def test_a_holder_taken_over_ends_with_lease_lost_not_released(postgres_url):
    clock = Clock()
    events: list[tuple[str, dict]] = []
    store = Store(postgres_url, clock, "h-a")
    with (
        pytest.raises(LeaseLost),
        hold_lease(store, "desk-a", "run", lambda *a, **k: events.append((a[1], k))) as fence,
    ):
        fence()
        clock.now += timedelta(seconds=31)
        with PostgresLease(postgres_url, "desk-b", "run", clock=clock, heartbeat=False):
            pass  # another agent took the store over (and released it)
        assert store.made[0].renew() is False  # the heartbeat learns it; no fence call after
    kinds = [k for k, _ in events]
    assert kinds == ["acquired", "lost"], kinds
    assert events[-1][1]["severity"] == "critical"


def test_a_second_live_holder_is_refused_whatever_its_namespace(postgres_url):
    clock = Clock()
    a = PostgresLease(postgres_url, "desk-a", "run", clock=clock, heartbeat=False, host="h-a")
    with a, pytest.raises(LeaseHeld) as refused:
        PostgresLease(postgres_url, "desk-b", "run", clock=clock, heartbeat=False).__enter__()
    assert "namespace 'desk-a'" in str(refused.value) and refused.value.exit_code == 3


def test_the_local_deadline_counts_a_suspended_host(postgres_url, monkeypatch):
    """CLOCK_MONOTONIC stops while the host is suspended; CLOCK_BOOTTIME does not. The
    suspend is injected: the boot-time clock jumps by 60 s, the monotonic one does not."""
    if not hasattr(time, "CLOCK_BOOTTIME"):
        pytest.skip("no CLOCK_BOOTTIME on this platform: the monotonic clock is used")
    boot = [1000.0]
    real = time.clock_gettime
    monkeypatch.setattr(
        lease_mod.time,
        "clock_gettime",
        lambda which: boot[0] if which == time.CLOCK_BOOTTIME else real(which),
    )
    with PostgresLease(postgres_url, "desk-a", "run", ttl=30, heartbeat=False) as held:
        assert held.check() == []
        boot[0] += 60  # the host slept a minute: the server expired the lease
        with pytest.raises(LeaseLost, match="not renewed within"):
            held.check()


class BlackHole:
    """A TCP proxy on 127.0.0.1 to the cluster's Unix socket that can stop forwarding
    while keeping both connections open (a partition that drops packets)."""

    def __init__(self, unix_path: str) -> None:
        self.unix_path, self.frozen = unix_path, threading.Event()
        self.srv = socket.socket()
        self.srv.bind(("127.0.0.1", 0))
        self.srv.listen()
        self.port = self.srv.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            client, _ = self.srv.accept()
            server = socket.socket(socket.AF_UNIX)
            server.connect(self.unix_path)
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, a: socket.socket, b: socket.socket) -> None:
        while data := a.recv(65536):
            while self.frozen.is_set():
                time.sleep(0.05)  # held back, never delivered while frozen
            b.sendall(data)


def test_leaving_a_lease_whose_connection_is_black_holed_is_bounded(postgres_url):
    parts = urlsplit(postgres_url)
    query = parse_qs(parts.query)
    proxy = BlackHole(f"{query['host'][0]}/.s.PGSQL.{query.get('port', ['5432'])[0]}")
    url = f"postgresql://postgres@127.0.0.1:{proxy.port}{parts.path}"
    held = PostgresLease(url, "desk-a", "run", ttl=0.6, host="h")
    held.__enter__()
    proxy.frozen.set()  # the next renewal (every 0.2 s) hangs in recv
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # the local deadline passes (0.48 s)
        try:
            held.check()
        except LeaseLost:
            break
        threading.Event().wait(0.05)
    else:
        pytest.fail("the lease was never lost")
    started = time.monotonic()
    held.__exit__(None, None, None)
    # the heartbeat's join (0.6 s) and the release on a fresh connection (0.6 s), no more
    assert time.monotonic() - started < 2 * 0.6 + 1
    assert held.released is False
