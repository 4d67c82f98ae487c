"""The lease between real processes ("hosts"): agents racing for a namespace, and a
holder killed with SIGKILL whose lease is taken over once it expires."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from tradekernel.api import LeaseHeld
from tradekernel_postgres.lease import PostgresLease

HOLD = """
import os, sys, threading, time
from tradekernel.api import LeaseHeld
from tradekernel_postgres.lease import PostgresLease

url, host, ttl, go = sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4]
while not os.path.exists(go):  # all contenders start together
    time.sleep(0.005)
try:
    lease = PostgresLease(url, "acct-1", "tradekernel run", ttl=ttl, host=host).__enter__()
except LeaseHeld as exc:
    print("refused", exc, flush=True)
    sys.exit(exc.exit_code)
prev = lease.previous
print("acquired", lease.mine.epoch, prev.pid if prev else "-", flush=True)
threading.Event().wait()  # hold it (the heartbeat thread renews) until killed
"""


def contender(url: str, host: str, ttl: float, go: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", HOLD, url, host, str(ttl), go],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_of_agents_racing_for_a_namespace_one_holds_it_the_others_are_refused(
    postgres_url, tmp_path
):
    go = tmp_path / "go"
    procs = [contender(postgres_url, f"host-{i}", 30, str(go)) for i in range(4)]
    try:
        go.touch()
        firsts = {p: p.stdout.readline().split() for p in procs}
        winners = [p for p, words in firsts.items() if words[:1] == ["acquired"]]
        assert len(winners) == 1, firsts
        [winner] = winners
        assert firsts[winner][1:] == ["1", "-"]  # epoch 1, nobody taken over
        for p in procs:
            if p is not winner:
                assert p.wait(timeout=60) == 3
                line = " ".join(firsts[p])
                assert f"pid {winner.pid}" in line and "this one did nothing" in line
    finally:
        for p in procs:
            p.kill()
            p.wait()


def test_a_killed_holders_lease_is_taken_over_after_it_expires(postgres_url, tmp_path):
    go = tmp_path / "go"
    go.touch()
    ttl = 2.0
    holder = contender(postgres_url, "host-a", ttl, str(go))
    try:
        assert holder.stdout.readline().split() == ["acquired", "1", "-"]
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait()
        killed = time.monotonic()
        # at once: its last heartbeat is at most ttl / 3 old, the lease is live
        with pytest.raises(LeaseHeld, match=f"pid {holder.pid}"):
            PostgresLease(postgres_url, "acct-1", "run", ttl=ttl, host="host-b").__enter__()
        while True:  # an agent restarted by its supervisor until the lease is free
            try:
                lease = PostgresLease(postgres_url, "acct-1", "run", ttl=ttl, host="host-b")
                lease.__enter__()
                break
            except LeaseHeld:
                assert time.monotonic() - killed < 60, "the dead holder's lease never expired"
                time.sleep(0.1)
        try:
            assert lease.mine.epoch == 2
            assert (lease.previous.host, lease.previous.pid) == ("host-a", holder.pid)
        finally:
            lease.__exit__(None, None, None)
    finally:
        holder.kill()
        holder.wait()


def test_the_heartbeat_thread_keeps_a_live_holders_lease_past_its_ttl(postgres_url):
    with PostgresLease(postgres_url, "acct-1", "run", ttl=1.2, host="host-a") as lease:
        until = time.monotonic() + 2.5  # two lifetimes: the thread renewed it
        while time.monotonic() < until:
            assert lease.check() == []
            time.sleep(0.05)
        with pytest.raises(LeaseHeld, match="host-a"):
            PostgresLease(postgres_url, "acct-1", "run", ttl=1.2, host="host-b").__enter__()
        assert lease.mine.heartbeat > lease.mine.since
