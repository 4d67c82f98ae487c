"""Text a broker sends back is scrubbed of secrets before the store writes it: a
rejection quoting the API key (or its first 20 characters, upper-cased) never reaches
the intents, orders or hash-chained journal, and the journal still verifies."""

from __future__ import annotations

import sqlite3

import attrs
from tradekernel.components import BrokerRejected
from tradekernel.execution import Executor
from tradekernel.models import GuardVerdict, OrderStatus
from tradekernel.settings import Settings
from tradekernel.store import Store

KEY = "bk-live-9Fq2Lx7Tz4Wm1Rp8Ns3Vd6"


def leaks(text: str) -> list[str]:
    folded = text.lower()
    return [KEY[i : i + 8] for i in range(len(KEY) - 7) if KEY[i : i + 8].lower() in folded]


def test_broker_messages_quoting_a_key_are_stored_and_journaled_redacted(tmp_path, helpers):
    config = tmp_path / "plugins.toml"
    config.write_text(f'[kernel]\nstate_dir = "{tmp_path / "state"}"\n', encoding="utf-8")
    settings = Settings.load(config, environ={"BROKER_KEY": KEY})
    assert settings.secret("BROKER_KEY") == KEY  # the broker plugin read its key

    class EchoingBroker(helpers.RecordingBroker):
        """Rejects the first order quoting its key; reports the second as rejected with
        the key's first 20 characters upper-cased in the order's reason."""

        rejected = False

        def submit(self, request):
            if not self.rejected:
                self.rejected = True
                raise BrokerRejected(f"401 bad api key {KEY} for account", code="auth")
            order = super().submit(request)
            return attrs.evolve(
                order,
                status=OrderStatus.REJECTED,
                reason=f"key {KEY[:20].upper()}... is not permitted to trade",
            )

    broker = EchoingBroker(tmp_path / "broker.db")
    events: list = []
    try:
        with Store.open(settings.state_dir, redact=settings.redact) as store:
            ids = helpers.add_approved(store, 2)
            executor = Executor(
                store,
                broker,
                broker_name="rec",
                settings=settings,
                emit=lambda s, k, **f: events.append((s, k, f)),
            )
            results = [executor.execute(iid) for iid in ids]
            # a guard quoting what a remote said (its verdicts are journaled too)
            (third,) = helpers.add_approved(store, 1, start=2)
            store.transition(
                third,
                "cancelled",
                actor="operator",
                reason=f"remote said: {KEY.lower()}",
                payload={"echo": [KEY[4:24].upper()]},
                verdicts=[GuardVerdict.denied("remote_check", "echo", f"got {KEY[-12:]}")],
            )
            assert [r.outcome for r in results] == ["failed", "failed"]
            second = store.get(ids[1])
            assert second.reason.startswith("broker_rejected: key ********")
            assert store.get_order(second.client_order_id).reason.startswith("key ********")
            assert store.verify_journal().ok
    finally:
        broker.close()
    db = sqlite3.connect(settings.state_dir / "state.db")
    try:
        dump = "\n".join(db.iterdump())
    finally:
        db.close()
    assert "********" in dump
    assert leaks(dump) == []


def test_an_intent_whose_text_holds_a_secret_is_stored_and_journaled_redacted(tmp_path):
    """Defence in depth for any strategist: the store scrubs the free text of the intent
    it records (its row and the journal payload); a secret in a field that identifies
    the intent refuses it (masking would make another intent) and writes nothing."""
    from decimal import Decimal

    import pytest
    from tradekernel.models import Intent
    from tradekernel.store import SecretInIntent

    config = tmp_path / "plugins.toml"
    config.write_text(f'[kernel]\nstate_dir = "{tmp_path / "state"}"\n', encoding="utf-8")
    settings = Settings.load(config, environ={"BROKER_KEY": KEY})
    assert settings.secret("BROKER_KEY") == KEY
    in_rationale = Intent.create(
        symbol="AAA", side="buy", quantity=Decimal(1), rationale=f"key {KEY} (upper {KEY.upper()})"
    )
    with Store.open(settings.state_dir, redact=settings.redact) as store:
        first = store.add_intent(in_rationale, cycle_id="c1", broker="paper")
        assert first.id == in_rationale.id  # the rationale is not part of the id
        assert "********" in first.intent.rationale
        assert first.intent.created_at == in_rationale.created_at
        for field, value in [
            ("prompt_version", KEY[2:22]),
            ("strategist", KEY.upper()),
            ("symbol", KEY[:20].upper()),
        ]:
            fields = {"symbol": "BBB", "side": "buy", "quantity": Decimal(1), field: value}
            intent = Intent.create(**fields)
            with pytest.raises(SecretInIntent, match=f"its {field} holds a configured secret"):
                store.add_intent(intent, cycle_id="c1", broker="paper")
        assert [r.id for r in store.list_intents()] == [first.id]
        assert store.verify_journal().ok
    db = sqlite3.connect(settings.state_dir / "state.db")
    try:
        dump = "\n".join(db.iterdump())
    finally:
        db.close()
    assert leaks(dump) == []


def test_scrubbing_never_touches_timestamps_or_enums(tmp_path):
    """A secret that shares 8 characters with a timestamp (an API-version header value
    once was one) must not garble ``created_at``: only free text is scrubbed."""
    from datetime import UTC, datetime
    from decimal import Decimal

    from tradekernel.models import Intent

    now = datetime(2026, 11, 30, 14, 30, tzinfo=UTC)
    with Store.open(tmp_path / "state", redact=lambda t: t.replace("2026-11-", "********")) as s:
        intent = Intent.create(
            symbol="AAA", side="buy", quantity=Decimal(1), created_at=now, as_of=now
        )
        record = s.add_intent(intent, cycle_id="c1", broker="paper")
        assert record.intent == intent
        assert s.get(intent.id).intent.created_at == now
        assert s.verify_journal().ok
