"""The readiness item ``notifiers`` reads the notification log where it lives: the
store's database, on each store."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from tradekernel.api import open_store
from tradekernel.testing import invoke
from tradekernel_deploy import readiness


@pytest.fixture(params=["sqlite", "postgres"])
def store_lines(request) -> str:
    if request.param == "postgres":
        url = request.getfixturevalue("postgres_url")
        return f'store = "postgres"\n[store]\nurl = "{url}"\n'
    return ""


def test_a_delivered_test_notification_counts_on_each_store(kernel_factory, store_lines):
    config = (
        '[kernel]\nstate_dir = "{state_dir}"\n[components]\nnotifiers = ["log"]\n'
        "metrics_sinks = []\n" + store_lines
    )
    kernel, _ = kernel_factory.build(config)
    path = kernel_factory.write_config(config, name="cli.toml")

    def item():
        with open_store(kernel.settings) as store:
            return readiness._notifiers(kernel, store, datetime.now(UTC))

    before = item()  # no log yet: nothing was ever delivered
    assert not before.passed and "no test delivered" in before.evidence
    sent = invoke(["--config", str(path), "notify", "test", "log"])
    assert sent.exit_code == 0, sent.stderr
    assert item().passed


@pytest.mark.parametrize("ts", ["future", "nan", "old"])
def test_a_test_notification_out_of_its_window_does_not_count(kernel_factory, store_lines, ts):
    """Only a test sent within [now - notify_test_max_age, now + 60 s] counts: a row
    stamped in the future (a host of a shared store whose clock runs ahead) or NaN
    (kept by PostgreSQL, NULL on SQLite) never passes the gate."""
    from tradekernel.api import Tables
    from tradekernel_notify.store import NotifyStore

    config = (
        '[kernel]\nstate_dir = "{state_dir}"\n[components]\nnotifiers = ["log"]\n'
        "metrics_sinks = []\n" + store_lines
    )
    kernel, _ = kernel_factory.build(config)
    now = datetime.now(UTC)
    stamp = {"future": now.timestamp() + 10**8, "nan": float("nan"), "old": 1.0}[ts]
    NotifyStore(kernel.settings).close()
    with open_store(kernel.settings) as store:
        tables = Tables(store.conn, store.dialect)
        with tables.write() as conn:
            tables.insert(
                conn,
                "notify_log",
                {
                    "ts": stamp,
                    "notifier": "log",
                    "event_kind": "notify.test",
                    "dedup_key": "k",
                    "status": "sent",
                },
            )
        item = readiness._notifiers(kernel, store, now)
    assert not item.passed, item.evidence
