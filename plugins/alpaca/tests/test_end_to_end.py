"""End to end through the CLI: ``tradekernel`` in its own process against the double's
HTTP server on 127.0.0.1 (real sockets, credentials from the environment, the real
factories), auto approval.

With ``broker = "alpaca"`` and ``market_data = "alpaca"``, ``sma-cross`` buying on the
double's bars, one run meets the faults an operator meets: the first submit's answer is lost and the
lookup that follows fails too (the intent stays ``executing``), the second submit is
refused with an error body that quotes the credentials, the third is filled in parts over
the cycles. Then ``intents reconcile`` finds the lost order without sending it again,
another run records its fills, and ``journal verify`` passes. No credential appears in
any output, event, state file or report.

A SIGKILL of ``tradekernel run`` once its first order reached the venue is resolved by
``intents reconcile`` without a second order. With the paper broker, the feed alone
reads quotes and bars and screens a stale quote every cycle."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from collections import Counter
from datetime import UTC, datetime, timedelta

from tradekernel_alpaca.double import AlpacaDouble, serve
from tradekernel_alpaca.double.data import market

from .e2e import (
    QUANTITY,
    STEP,
    SYMBOLS,
    TK,
    FillingDouble,
    env_for,
    events,
    secret_in_files,
    seed_crossing_bars,
    stored_fills,
    tk,
    write_config,
)


def test_orders_fills_reconcile_and_journal_through_the_cli(tmp_path):
    double = FillingDouble()
    double.echo_secrets()  # every error body quotes the request's credentials
    seed_crossing_bars(double)
    double.lose_next_response()
    double.blind_after_lost = True
    double.reject_after_lost = "insufficient qty available for order"
    secrets = (double.key_id, double.secret_key)
    state = tmp_path / "state"
    outputs = []
    with serve(double) as server:
        config = write_config(tmp_path, server.url)
        first = tk(config, double, "run", "--cycles", "3", "--json")
        outputs.append(first)
        assert first.returncode == 0, first.stderr
        listed = tk(config, double, "intents", "list", "--json")
        outputs.append(listed)
        intents = json.loads(listed.stdout)["intents"]
        # the refused symbol is bought again next cycle (a new intent); the lost one is
        # still executing, so its symbol is not
        by_state = Counter(i["state"] for i in intents)
        assert by_state == {"executing": 1, "failed": 1, "submitted": 2}, by_state
        assert sorted({i["intent"]["symbol"] for i in intents}) == sorted(SYMBOLS)
        sent = len(intents)
        assert double.trading.submits == sent  # one POST per intent, none again
        (lost,) = [i for i in intents if i["state"] == "executing"]
        double.step_fills()  # the venue executes while no process runs

        reconcile = tk(config, double, "intents", "reconcile", "--json")
        outputs.append(reconcile)
        assert reconcile.returncode == 0, reconcile.stderr
        (result,) = json.loads(reconcile.stdout)
        assert (result["intent_id"], result["action"]) == (lost["id"], "found")
        assert double.trading.submits == sent  # found, never sent a second time

        cycles = -(-QUANTITY // int(STEP)) + 1
        second = tk(config, double, "run", "--cycles", str(cycles), "--json")
        outputs.append(second)
        assert second.returncode == 0, second.stderr
        double.filling = False  # a last cycle collects what the venue executed meanwhile
        outputs.append(last := tk(config, double, "run", "--once", "--json"))
        assert last.returncode == 0, last.stderr
        outputs.append(tk(config, double, "report", "daily", "--format", "md"))
        outputs.append(verify := tk(config, double, "journal", "verify"))
        assert verify.returncode == 0, verify.stdout + verify.stderr

    assert double.trading.submits == sent
    counts = double.orders_by_client_id()
    assert set(counts.values()) == {1} and len(counts) == sent - 1  # none for the refused
    assert lost["client_order_id"] in counts

    # every execution at the venue recorded once, as one fill and one monitor.fill event
    venue_fills = {(a["id"], a["order_id"]) for a in double.trading.activities}
    order_ids = {o["id"]: o["client_order_id"] for o in double.trading.orders.values()}
    recorded = stored_fills(state)
    assert sorted(recorded) == sorted((fid, order_ids[oid]) for fid, oid in venue_fills)
    assert len(venue_fills) == len(counts) * -(-QUANTITY // int(STEP))  # in parts
    fill_events = [e["fields"]["fill_id"] for e in events(state) if e["kind"] == "fill"]
    assert Counter(fill_events) == Counter(fid for fid, _ in recorded)
    assert all(o["status"] == "filled" for o in double.trading.orders.values())

    # the faults were seen: an unknown outcome, a rejection, the lookup retried
    seen = Counter((e["stage"], e["kind"]) for e in events(state))
    assert seen["broker", "outcome_unknown"] == 1
    assert seen["broker", "request_retried"] >= 1
    assert seen["executor", "failed"] == 1
    assert not [k for k in seen if k[1] == "data_quality"]  # the venue's data is fresh

    # no credential anywhere, though the double echoed them in every error body
    for ran in outputs:
        assert not any(s in ran.stdout + ran.stderr for s in secrets), ran.args
    assert secret_in_files(tmp_path, secrets) == []


def test_a_sigkill_during_a_submit_is_resolved_by_reconcile_without_a_second_order(tmp_path):
    double = FillingDouble()
    seed_crossing_bars(double)
    posted: list[str] = []

    def record(request, reply) -> None:
        if (request.method, request.path) == ("POST", "/v2/orders"):
            posted.append((request.json() or {}).get("client_order_id"))

    double.observers.append(record)
    with serve(double) as server:
        config = write_config(tmp_path, server.url)
        proc = subprocess.Popen(
            [*TK, "--config", str(config), "run", "--cycles", "2"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=env_for(double),
        )

        def kill_on_submit(request, reply) -> None:
            if (request.method, request.path) == ("POST", "/v2/orders") and reply.status == 200:
                double.observers.remove(kill_on_submit)
                os.kill(proc.pid, signal.SIGKILL)  # the order exists; its sender is gone

        double.observers.append(kill_on_submit)
        assert proc.wait(timeout=120) == -signal.SIGKILL
        (killed,) = posted
        stuck = json.loads(
            tk(config, double, "intents", "list", "--state", "executing", "--json").stdout
        )
        assert [i["client_order_id"] for i in stuck["intents"]] == [killed]
        reconcile = tk(config, double, "intents", "reconcile", "--json")
        assert reconcile.returncode == 0, reconcile.stderr
        (result,) = json.loads(reconcile.stdout)
        assert result["action"] == "found"
        assert posted == [killed], "reconcile sent the order again"
        again = tk(config, double, "run", "--cycles", "2")
        assert again.returncode == 0, again.stderr
        verify = tk(config, double, "journal", "verify")
        assert verify.returncode == 0, verify.stdout + verify.stderr
    assert Counter(posted)[killed] == 1
    assert double.orders_by_client_id()[killed] == 1
    assert set(double.orders_by_client_id().values()) == {1}


PAPER_WITH_ALPACA_DATA = """
[kernel]
state_dir = "{state}"
approval_mode = "auto"

[components]
broker = "paper"
market_data = "alpaca"
strategist = "hold"
notifiers = []
metrics_sinks = ["jsonl"]

[runtime]
watchlist = ["AAPL", "MSFT"]

[market_data.alpaca]
base_url = "{url}"
data_url = "{url}"
timeframe = "1Min"
"""


def test_the_feed_reads_quotes_and_bars_and_screens_a_stale_quote(tmp_path):
    double = AlpacaDouble()
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    for symbol, price in (("AAPL", 190.0), ("MSFT", 410.0)):
        market(double).seed(symbol, now - timedelta(minutes=90), 100, price=price)
    market(double).stale_quote("MSFT", timedelta(minutes=30))
    state = tmp_path / "state"
    with serve(double) as server:
        config = tmp_path / "plugins.toml"
        config.write_text(PAPER_WITH_ALPACA_DATA.format(state=state, url=server.url), "utf-8")
        ran = tk(config, double, "run", "--cycles", "3", "--json")
    assert ran.returncode == 0, ran.stderr
    assert secret_in_files(tmp_path, (double.key_id, double.secret_key)) == []
    assert double.secret_key not in ran.stdout + ran.stderr
    logged = events(state)
    skills = [e for e in logged if e["stage"] == "hydrate" and e["kind"] == "skill"]
    assert skills and all(e["fields"]["ok"] for e in skills)
    stale = [e["fields"] for e in logged if e["kind"] == "data_quality"]
    assert [(f["symbol"], f["code"]) for f in stale] == [("MSFT", "stale_quote")] * 3
    reports = [e for e in logged if (e["stage"], e["kind"]) == ("report", "cycle")]
    assert len(reports) == 3
    paths = [p for p, _query in market(double).requests]
    assert paths.count("/v2/stocks/snapshots") == 3  # one a cycle for both symbols
    assert paths.count("/v2/stocks/bars") == 2 + 2  # each window filled once, then one a cycle
