"""A ccxt symbol (``BTC/USDT``, with its slash) end to end: an intent for it is stored,
executed on the ccxt broker, filled, and shown by the CLI."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from tradekernel.api import Executor, GuardVerdict, Intent, IntentState, Store
from tradekernel.testing import KernelFactory, invoke

from .conftest import broker_over


def test_a_btc_usdt_intent_end_to_end(tmp_path, binance):
    with KernelFactory(tmp_path) as factory:
        kernel, _ = factory.build('[components]\nbroker = "paper"\nmetrics_sinks = []\n')
        settings = kernel.settings
        intent = Intent.create(
            symbol="BTC/USDT",
            side="buy",
            quantity=Decimal("0.01"),
            as_of=datetime.now(UTC),
            rationale="a ccxt symbol end to end",
            strategist="test",
            prompt_version="1",
        )
        broker = broker_over(binance)
        with Store.open(settings.state_dir, redact=settings.redact) as store:
            store.add_intent(intent, cycle_id="c-1", broker="ccxt")
            store.transition(
                intent.id,
                IntentState.PENDING_APPROVAL,
                actor="guards",
                verdicts=[GuardVerdict.allowed("test")],
            )
            store.transition(intent.id, IntentState.APPROVED, actor="test")
            executor = Executor(
                store, broker, broker_name="ccxt", settings=settings, emit=kernel.emit
            )
            result = executor.execute(intent.id)
            assert result.outcome == "submitted", result.reason
            record = store.get(intent.id)
            assert record.intent.symbol == "BTC/USDT"
            assert binance.orders_with(record.client_order_id) == 1
            sent = binance.requests[-1]
            assert (
                sent.form["symbol"] == "BTCUSDT"
                and sent.form["newClientOrderId"] == record.client_order_id
            )
        path = factory.write_config('[components]\nbroker = "paper"\nmetrics_sinks = []\n')
        shown = invoke(
            ["--config", str(path), "intents", "show", intent.id],
            env={"TRADEKERNEL_KERNEL__STATE_DIR": str(settings.state_dir)},
        )
        assert shown.exit_code == 0, shown.stderr
        assert "BTC/USDT" in shown.stdout
        listed = invoke(
            ["--config", str(path), "intents", "list"],
            env={"TRADEKERNEL_KERNEL__STATE_DIR": str(settings.state_dir)},
        )
        assert listed.exit_code == 0 and "BTC/USDT" in listed.stdout
