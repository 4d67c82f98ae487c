"""The agent lease on PostgreSQL (docs/scale-out.md, "Several agents, several hosts"):
what taking a lease costs a starting agent (against a process start, the floor of any
agent start), what a renewal costs the heartbeat thread (against its interval, ttl / 3),
the fence checked before every order (against a paper submit), and how long a killed
holder's store waits (against the ttl it is bound by). On a throwaway cluster from
the machine's PostgreSQL (Unix socket, fsync off); no rows without it."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tradekernel.lease import LeaseHeld
from tradekernel_postgres.lease import DEFAULT_TTL, PostgresLease
from tradekernel_postgres.testing import start_server

N = 200
HOLD = """
import sys, threading
from tradekernel_postgres.lease import PostgresLease
lease = PostgresLease(sys.argv[1], "bench-kill", "bench", ttl=float(sys.argv[2])).__enter__()
print("acquired", flush=True)
threading.Event().wait()
"""


def _per(fn, n: int = N) -> float:
    started = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - started) / n


def _takeover(dsn: str, ttl: float) -> float:
    """Seconds from a SIGKILL of the holder to another agent holding the store."""
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, dsn, str(ttl)], stdout=subprocess.PIPE, text=True
    )
    try:
        holder.stdout.readline()
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait()
        killed = time.perf_counter()
        while True:
            try:
                lease = PostgresLease(dsn, "bench-kill", "bench", ttl=ttl).__enter__()
            except LeaseHeld:
                time.sleep(0.02)
                continue
            lease.__exit__(None, None, None)
            return time.perf_counter() - killed
    finally:
        holder.kill()
        holder.wait()


def run() -> list[dict]:
    base = Path(tempfile.mkdtemp(prefix="tk-bench-pg-"))
    try:
        server, prefix, pg_ctl = start_server(base)
    except (RuntimeError, OSError, subprocess.CalledProcessError):
        shutil.rmtree(base, ignore_errors=True)
        return []
    try:
        dsn = server.dsn()

        def cycle() -> None:
            with PostgresLease(dsn, "bench", "bench", heartbeat=False):
                pass

        cycle()  # the table
        acquire = _per(cycle)
        with PostgresLease(dsn, "bench", "bench", heartbeat=False) as lease:
            renew = _per(lease.renew)
            check = _per(lease.check, 100_000)
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        process = time.perf_counter() - started
        ttl = 2.0
        takeover = _takeover(dsn, ttl)
    finally:
        subprocess.run(
            [*prefix, pg_ctl, "-D", str(base / "data"), "-m", "immediate", "-w", "stop"],
            capture_output=True,
        )
        shutil.rmtree(base, ignore_errors=True)
    return [
        {
            "figure": "lease: acquire + release (a starting agent)",
            "value": round(acquire * 1000, 2),
            "unit": "ms",
            "peer": "a bare Python process start",
            "peer_value": round(process * 1000, 1),
        },
        {
            "figure": "lease: one renewal (the heartbeat)",
            "value": round(renew * 1000, 2),
            "unit": "ms",
            "peer": f"the heartbeat interval, ttl/3 (ttl {DEFAULT_TTL:g} s)",
            "peer_value": DEFAULT_TTL / 3 * 1000,
        },
        {
            "figure": "lease: the fence before an order (no database call)",
            "value": round(check * 1e6, 2),
            "unit": "µs",
            "peer": "1 ms (a paper submit's order of magnitude)",
            "peer_value": 1000.0,
        },
        {
            "figure": f"lease: SIGKILL to takeover (ttl {ttl:g} s)",
            "value": round(takeover, 2),
            "unit": "s",
            "peer": "the ttl",
            "peer_value": ttl,
        },
    ]
