"""The agent lease on a real PostgreSQL, with an injected clock: acquire, refuse, expire,
take over, renew late, lose it."""

from __future__ import annotations

from datetime import timedelta

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tradekernel.api import LeaseHeld, LeaseLost, TradekernelError
from tradekernel_postgres.lease import TABLE, PostgresLease

from .conftest import T0, Clock


@pytest.fixture
def clock() -> Clock:
    return Clock()


def lease(url: str, clock: Clock, host: str, ns: str = "acct-1") -> PostgresLease:
    return PostgresLease(
        url, ns, "tradekernel run", ttl=30, clock=clock, heartbeat=False, host=host
    )


def test_the_first_agent_acquires_and_a_second_is_refused_naming_the_holder(postgres_url, clock):
    with lease(postgres_url, clock, "host-a") as a:
        assert a.mine.epoch == 1 and a.previous is None and a.check() == []
        clock.advance(10)
        with pytest.raises(LeaseHeld) as refused:
            lease(postgres_url, clock, "host-b").__enter__()
        text = str(refused.value)
        assert "this store is held by tradekernel run on host host-a" in text
        assert "namespace 'acct-1'" in text
        assert f"pid {a.pid}" in text
        assert "since 2026-11-30T09:00:00+00:00" in text
        assert "last heartbeat 2026-11-30T09:00:00+00:00" in text
        assert "this one did nothing" in text
        assert refused.value.exit_code == 3


def test_another_namespace_is_refused_too(postgres_url, clock):
    with lease(postgres_url, clock, "host-a"), pytest.raises(LeaseHeld, match="'acct-1'"):
        lease(postgres_url, clock, "host-b", "acct-2").__enter__()


def test_a_released_lease_is_taken_at_once_and_is_no_takeover(postgres_url, clock):
    with lease(postgres_url, clock, "host-a"):
        pass
    with lease(postgres_url, clock, "host-b") as b:
        assert b.mine.epoch == 2  # the epoch only grows: the fencing token
        assert b.previous is None


def test_heartbeats_keep_it_and_an_expired_one_is_taken_over(postgres_url, clock):
    a = lease(postgres_url, clock, "host-a").__enter__()
    clock.advance(20)
    assert a.renew() and a.check() == []
    clock.advance(20)  # 40s after start, 20s after the renewal: still live
    with pytest.raises(LeaseHeld, match="last heartbeat 2026-11-30T09:00:20"):
        lease(postgres_url, clock, "host-b").__enter__()
    clock.advance(10.001)  # 30s after the last heartbeat: expired
    with lease(postgres_url, clock, "host-b") as b:
        assert b.mine.epoch == 2
        assert b.previous is not None
        assert (b.previous.host, b.previous.epoch) == ("host-a", 1)
        assert b.previous.heartbeat == T0 + timedelta(seconds=20)
        # the old holder learns it at its next renewal, and stops for good
        assert a.renew() is False
        with pytest.raises(LeaseLost, match="taken over by tradekernel run on host host-b"):
            a.check()
        with pytest.raises(LeaseLost):
            a.check()
        # its release does not free the new holder's lease
        a.__exit__(None, None, None)
        with pytest.raises(LeaseHeld, match="host-b"):
            lease(postgres_url, clock, "host-c").__enter__()


def test_a_holder_past_its_local_deadline_stops_before_the_server_expires_it(postgres_url, clock):
    with lease(postgres_url, clock, "host-a") as a:
        clock.advance(23.9)  # ttl 30, margin 6: the local deadline is at 24s
        assert a.check() == []
        clock.advance(0.1)
        with pytest.raises(LeaseLost, match="not renewed within 24s"):
            a.check()
        # a renewal now still succeeds (nobody took it), but a lapsed lease stays lost
        assert a.renew() is True
        with pytest.raises(LeaseLost):
            a.check()


def test_a_late_renewal_nobody_took_over_is_reported(postgres_url, clock):
    with lease(postgres_url, clock, "host-a") as a:
        clock.advance(20)
        assert a.renew()
        assert a.check() == []
        clock.advance(32)  # expired 2s ago in the database; nobody took it
        assert a.renew()
        # the renewal started 8s past the local deadline (20 + 24)
        assert a.check() == [pytest.approx(8.0)]
        assert a.check() == []


def test_two_acquirers_of_an_expired_lease_one_wins(postgres_url, clock):
    a = lease(postgres_url, clock, "host-a").__enter__()
    clock.advance(31)
    b = lease(postgres_url, clock, "host-b").__enter__()
    with pytest.raises(LeaseHeld, match="host-b"):
        lease(postgres_url, clock, "host-c").__enter__()
    assert b.previous.host == "host-a"
    a._drop_connection()
    b.__exit__(None, None, None)


def test_the_row_holds_the_holder_and_text_from_it_is_made_inert(postgres_url, clock):
    with lease(postgres_url, clock, "evil\x1b[2Jhost"):
        with psycopg.connect(postgres_url) as conn:
            row = conn.execute(f"SELECT host, epoch, released FROM {TABLE}").fetchone()
        assert row == ("evil\x1b[2Jhost", 1, False)
        with pytest.raises(LeaseHeld) as refused:
            lease(postgres_url, clock, "host-b").__enter__()
        assert "\x1b" not in str(refused.value) and "evil\\x1b[2Jhost" in str(refused.value)


def test_a_bad_ttl_is_refused():
    with pytest.raises(ValueError, match="ttl must be positive"):
        PostgresLease("postgresql:///x", "ns", "h", ttl=0)


def test_a_server_that_cannot_be_reached_is_one_line_without_the_password(tmp_path):
    url = f"postgresql://agent:s3cret-pw@/db?host={tmp_path}&port=5999"
    with pytest.raises(TradekernelError) as exc:
        PostgresLease(url, "acct-1", "run", heartbeat=False).__enter__()
    text = str(exc.value)
    assert "s3cret-pw" not in text and "********" in text and "\n" not in text
    assert exc.value.exit_code == 1


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(namespace=st.text(max_size=300), host=st.text(min_size=1, max_size=80))
def test_any_namespace_and_holder_text_round_trips_or_is_refused_naming_it(
    postgres_url, namespace, host
):
    clock = Clock()
    try:
        with lease(postgres_url, clock, host, namespace) as held:
            with pytest.raises(LeaseHeld) as refused:
                lease(postgres_url, clock, "other", namespace).__enter__()
            text = str(refused.value)
            assert "\n" not in text and "\x1b" not in text
            assert held.mine.epoch >= 1
    except ValueError as exc:  # PostgreSQL text cannot hold a NUL byte
        assert "\x00" in namespace + host and "NUL byte" in str(exc)
