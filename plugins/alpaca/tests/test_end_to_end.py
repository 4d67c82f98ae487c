"""``tradekernel`` subprocesses trading through ``broker = "alpaca"`` against the double
served on 127.0.0.1: decisions become orders, each fill is recorded once, a SIGKILL
during a submit is resolved by ``intents reconcile`` without a second order, and the
journal verifies."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from tradekernel_alpaca.double import AlpacaDouble, serve

CONFIG = """
[kernel]
state_dir = "{state}"
approval_mode = "auto"

[components]
broker = "alpaca"
market_data = "synthetic"
strategist = "sma-cross"
guards = ["max_order_notional"]
metrics_sinks = ["jsonl"]
notifiers = []

[runtime]
watchlist = ["AAA", "BBB"]

[market_data.synthetic]
symbols = ["AAA", "BBB"]
bars = 80

[strategist.sma-cross]
fast = 3
slow = 8

[guard.max_order_notional]
limit = 50000

[broker.alpaca]
base_url = "{url}"
backoff_base = 0.01
"""


@pytest.fixture
def served():
    double = AlpacaDouble(auto_fill=True, prices={"AAA": "100", "BBB": "100"}, cash=10_000_000)
    posted: list[str] = []

    def record(request, reply) -> None:
        if (request.method, request.path) == ("POST", "/v2/orders"):
            posted.append((request.json() or {}).get("client_order_id"))

    double.observers.append(record)
    with serve(double) as server:
        yield server, double, posted


def _env(double: AlpacaDouble) -> dict[str, str]:
    return {
        **os.environ,
        "APCA_API_KEY_ID": double.key_id,
        "APCA_API_SECRET_KEY": double.secret_key,
    }


def tk(cfg: Path, double: AlpacaDouble, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "tradekernel", "--config", str(cfg), *args],
        capture_output=True,
        text=True,
        timeout=300,
        env=_env(double),
    )


def _events(state: Path) -> list[dict]:
    out = []
    for path in sorted((state / "events").glob("*.jsonl")):
        out.extend(json.loads(line) for line in path.read_text().splitlines() if line)
    return out


def _setup(tmp_path: Path, server) -> tuple[Path, Path]:
    state = tmp_path / "state"
    cfg = tmp_path / "plugins.toml"
    cfg.write_text(CONFIG.format(state=state, url=server.url))
    return cfg, state


def test_run_trades_through_alpaca_and_records_each_fill_once(tmp_path, served) -> None:
    server, double, posted = served
    cfg, state = _setup(tmp_path, server)
    run = tk(cfg, double, "run", "--cycles", "60", "--json")
    assert run.returncode == 0, run.stderr
    submitted = json.loads(
        tk(cfg, double, "intents", "list", "--state", "submitted", "--json").stdout
    )
    coids = [i["client_order_id"] for i in submitted["intents"]]
    assert len(coids) >= 2
    assert Counter(posted) == Counter(set(posted)), "a client order id was posted twice"
    assert set(coids) <= set(double.trading.by_client_id)
    fills = [e for e in _events(state) if (e["stage"], e["kind"]) == ("monitor", "fill")]
    ids = [e["fields"]["fill_id"] for e in fills]
    assert len(ids) == len(set(ids))
    assert set(ids) <= {a["id"] for a in double.trading.activities}
    for secret in (double.key_id, double.secret_key):
        assert secret not in json.dumps(_events(state)) and secret not in run.stderr
    verify = tk(cfg, double, "journal", "verify")
    assert verify.returncode == 0, verify.stdout + verify.stderr


def test_a_sigkill_during_a_submit_is_resolved_by_reconcile_without_a_second_order(
    tmp_path, served
) -> None:
    server, double, posted = served
    cfg, _ = _setup(tmp_path, server)
    proc = subprocess.Popen(
        [sys.executable, "-m", "tradekernel", "--config", str(cfg), "run", "--cycles", "60"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=_env(double),
    )

    def kill_on_submit(request, reply) -> None:
        if (request.method, request.path) == ("POST", "/v2/orders") and reply.status == 200:
            double.observers.remove(kill_on_submit)
            os.kill(proc.pid, signal.SIGKILL)  # the order exists; its sender is gone

    double.observers.append(kill_on_submit)
    assert proc.wait(timeout=300) == -signal.SIGKILL
    (killed,) = posted
    stuck = json.loads(tk(cfg, double, "intents", "list", "--state", "executing", "--json").stdout)
    assert [i["client_order_id"] for i in stuck["intents"]] == [killed]
    reconcile = tk(cfg, double, "intents", "reconcile", "--json")
    assert reconcile.returncode == 0, reconcile.stderr
    assert '"found"' in reconcile.stdout
    assert posted == [killed], "reconcile sent the order again"
    again = tk(cfg, double, "run", "--cycles", "60")
    assert again.returncode == 0, again.stderr
    assert Counter(posted)[killed] == 1
    assert sum(1 for o in double.trading.orders.values() if o["client_order_id"] == killed) == 1
    verify = tk(cfg, double, "journal", "verify")
    assert verify.returncode == 0, verify.stdout + verify.stderr
