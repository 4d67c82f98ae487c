"""Two agents on one namespace, as on two hosts: two ``tradekernel run`` processes with
their own state directories sharing one PostgreSQL store. The second is refused (exit 3,
naming the first); once the first is killed with SIGKILL and its lease expires, the
second takes over, reconciles, then trades."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest


@pytest.fixture
def agent(tmp_path: Path, agent_config):
    """The configuration of agent ``name``: its own state directory, the shared store
    and the shared (paper) broker account. Each host's market clock is its own (the
    synthetic feed resumes per state directory): the second starts where the market is
    by then, later than the first, rather than replaying the first one's bars."""

    def make(name: str, url: str, start: str) -> Path:
        return agent_config(
            name, url, start, store='lease_ttl = "2s"', paper=tmp_path / "account" / "paper.db"
        )

    return make


def tk(cfg: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "tradekernel", "--config", str(cfg), *args]


def events(state: Path) -> list[dict]:
    lines = [line for f in sorted((state / "events").glob("*.jsonl")) for line in f.open()]
    return [json.loads(line) for line in lines]


def test_a_second_agent_is_refused_then_takes_over_a_killed_one(postgres_url, tmp_path, agent):
    first = agent("a", postgres_url, "2026-01-02T14:30:00Z")
    second = agent("b", postgres_url, "2027-01-04T14:30:00Z")
    a = subprocess.Popen(
        tk(first, "run", "--every", "0.02s"), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:  # until it has traded
            line = a.stdout.readline()
            assert line, a.stderr.read()
            if "submitted=" in line and "submitted=0" not in line:
                break
        refused = subprocess.run(tk(second, "run", "--once"), capture_output=True, text=True)
        assert refused.returncode == 3, refused.stderr
        assert f"held by tradekernel run on host {socket.gethostname()}, pid {a.pid}, " in (
            refused.stderr
        )
        assert "namespace 'brokers=paper:" in refused.stderr and ", since " in refused.stderr
        assert "last heartbeat" in refused.stderr and "this one did nothing" in refused.stderr
        assert not (tmp_path / "b" / "events").exists() or not any(
            e["stage"] == "commander" for e in events(tmp_path / "b")
        )  # it did nothing: no cycle, no start

        os.kill(a.pid, signal.SIGKILL)
        a.wait()
        killed = time.monotonic()
        while True:  # its supervisor restarts the second agent until it is let in
            b = subprocess.run(
                tk(second, "run", "--cycles", "40", "--json"), capture_output=True, text=True
            )
            if b.returncode != 3:
                break
            assert "is held by" in b.stderr, b.stderr
            assert time.monotonic() - killed < 120, "the killed agent's lease never expired"
        assert b.returncode == 0, b.stderr
        summary = json.loads(b.stdout)
        assert summary["cycles"] == 40 and summary["orders_submitted"] > 0  # it trades
    finally:
        a.kill()
        a.wait()

    seen = events(tmp_path / "b")
    kinds = [(e["stage"], e["kind"]) for e in seen]
    taken = kinds.index(("lease", "taken_over"))
    [over] = [e for e in seen if (e["stage"], e["kind"]) == ("lease", "taken_over")]
    assert f"pid {a.pid}" in over["fields"]["previous_holder"]
    assert over["fields"]["epoch"] == over["fields"]["previous_epoch"] + 1
    # the lease first, then the start (its reconcile), then the cycles; released at the end
    assert kinds[taken + 1] == ("lease", "acquired")
    start = kinds.index(("commander", "mode"))
    assert taken < start
    assert not any(e["cycle_id"] for e in seen[: start + 1])
    assert kinds[-1] == ("lease", "released")
    # what the killed agent left is resolved, the shared journal verifies
    stuck = subprocess.run(
        tk(second, "intents", "list", "--state", "executing", "--json"),
        capture_output=True, text=True,
    )  # fmt: skip
    assert json.loads(stuck.stdout)["intents"] == [], stuck.stderr
    verify = subprocess.run(tk(second, "journal", "verify"), capture_output=True, text=True)
    assert verify.returncode == 0, verify.stdout + verify.stderr


def test_an_agent_frozen_past_its_lease_stops_before_its_next_order(postgres_url, tmp_path, agent):
    """A partition, as the holder lives it: frozen (SIGSTOP) longer than the ttl, taken
    over meanwhile, then thawed: it sends nothing more and exits 3."""
    first = agent("a", postgres_url, "2026-01-02T14:30:00Z")
    second = agent("b", postgres_url, "2027-01-04T14:30:00Z")
    pipes = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, "text": True}
    a = subprocess.Popen(tk(first, "run", "--every", "0.02s"), **pipes)
    b = None
    try:
        while "submitted=" not in (line := a.stdout.readline()) or "submitted=0" in line:
            assert line, a.stderr.read()
        os.kill(a.pid, signal.SIGSTOP)
        frozen = time.monotonic()
        log = tmp_path / "b.out"
        while True:  # the second agent is let in once the frozen one's lease expired
            with log.open("w") as out:
                b = subprocess.Popen(
                    tk(second, "run", "--every", "0.05s"), stdout=out, stderr=subprocess.STDOUT
                )
            while b.poll() is None and "cycle" not in log.read_text():
                time.sleep(0.05)
            if b.poll() is None:
                break  # it trades
            assert b.returncode == 3, log.read_text()
            assert time.monotonic() - frozen < 120, "the frozen agent's lease never expired"
        os.kill(a.pid, signal.SIGCONT)
        out, err = a.communicate(timeout=60)
        assert a.returncode == 3, err
        assert "stopped: lease lost" in out
        assert "is lost" in err and "this agent stops before its next order" in err
    finally:
        for p in (a, b):
            if p is not None:
                p.kill()
                p.wait()
    mine, theirs = events(tmp_path / "a"), events(tmp_path / "b")
    [lost] = [e for e in mine if (e["stage"], e["kind"]) == ("lease", "lost")]
    [taken] = [e for e in theirs if (e["stage"], e["kind"]) == ("lease", "taken_over")]
    sent = [e for e in mine if (e["stage"], e["kind"]) == ("executor", "submitted")]
    assert sent and all(e["ts"] < taken["ts"] for e in sent)  # nothing after the takeover
    assert lost["ts"] > taken["ts"] and lost["severity"] == "critical"
