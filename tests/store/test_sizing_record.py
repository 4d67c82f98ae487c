"""A sized intent keeps its sizing record through the store and the journal, and
``intents preview`` / ``intents show`` show the size and its inputs."""

from __future__ import annotations

import json
from decimal import Decimal

from tradekernel.approval import ApprovalService
from tradekernel.components import SizeResult
from tradekernel.models import Account, GuardVerdict, Quote
from tradekernel.portfolio.sizing import SizingContext, size_intents
from tradekernel.store import Store

ALLOW = [GuardVerdict.allowed("max_notional")]


class Kelly:
    def size(self, request):
        return SizeResult("4.9", "kelly", {"confidence": Decimal("0.7"), "kelly": "0.4"})


def _sized(helpers):
    unsized = helpers.make_intent(1, quantity=None, confidence=0.7, stop_price="47.5")
    context = SizingContext(
        quotes={"AAA": Quote("AAA", unsized.as_of, "50")},
        sizer_for=lambda strategy: ("kelly", Kelly()),
        account=Account(cash=1000, equity=1000),
    )
    [sized], denials = size_intents([unsized], context)
    assert denials == []
    return sized


def test_the_sizing_record_survives_the_store_and_the_journal_verifies(state_dir, helpers):
    sized = _sized(helpers)
    with Store.open(state_dir) as store:
        store.add_intent(sized, cycle_id="c1", broker="paper", ref_price=Decimal("50"))
        ApprovalService(store, helpers.make_settings(state_dir)).submit(sized.id, ALLOW)
        back = store.get(sized.id).intent
        assert back == sized and back.sizing["sizer"] == "kelly"
        assert store.verify_journal().ok


def test_preview_and_show_give_the_size_and_its_inputs(run_cli, state_dir, helpers):
    sized = _sized(helpers)
    with Store.open(state_dir) as store:
        store.add_intent(sized, cycle_id="c1", broker="paper", ref_price=Decimal("50"))
        ApprovalService(store, helpers.make_settings(state_dir)).submit(sized.id, ALLOW)
    code, out, err = run_cli("intents", "preview", sized.id)
    assert code == 0, err
    assert "  order:     buy 4 AAA market via paper" in out, out
    line = next(line for line in out.splitlines() if line.startswith("  sizing:"))
    assert "kelly (kelly):" in line and "confidence=0.7" in line and "budget=1000" in line
    assert "raw_quantity=4.9" in line and "quantity=4" in line
    code, out, _ = run_cli("intents", "preview", sized.id, "--json")
    assert json.loads(out)["sizing"]["kelly"] == "0.4"
    code, out, _ = run_cli("intents", "show", sized.id)
    assert code == 0 and "  sizing: kelly (kelly): " in out
    code, out, _ = run_cli("intents", "show", sized.id, "--json")
    shown = json.loads(out)["intent"]["intent"]
    assert shown["sizing"]["sizer"] == "kelly" and shown["stop_price"] == "47.5"
