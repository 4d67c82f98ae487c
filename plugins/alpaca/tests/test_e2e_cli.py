"""End to end through the CLI with ``broker = "alpaca"`` and ``market_data = "alpaca"``:
``tradekernel`` in its own process against the double's HTTP server on 127.0.0.1 (real
sockets, credentials from the environment, the real factories), ``sma-cross`` buying on
the double's bars, auto approval.

One run meets the faults an operator meets: the first submit's answer is lost and the
lookup that follows fails too (the intent stays ``executing``), the second submit is
refused with an error body that quotes the credentials, the third is filled in parts over
the cycles. Then ``intents reconcile`` finds the lost order without sending it again,
another run records its fills, and ``journal verify`` passes. No credential appears in
any output, event, state file or report."""

from __future__ import annotations

import json
from collections import Counter

from tradekernel_alpaca.double import serve

from .e2e import (
    QUANTITY,
    STEP,
    SYMBOLS,
    FillingDouble,
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

    # no credential anywhere, though the double echoed them in every error body
    for ran in outputs:
        assert not any(s in ran.stdout + ran.stderr for s in secrets), ran.args
    assert secret_in_files(tmp_path, secrets) == []
