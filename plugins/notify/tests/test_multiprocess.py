"""Dedup and rate limits hold across processes sharing one store: one state directory
on the SQLite store; on the PostgreSQL store, two state directories sharing one database
(two hosts)."""

from __future__ import annotations

import multiprocessing
import os

import pytest
from tradekernel.api import DeliveryResult, Notification, Settings
from tradekernel_notify import Notifications

ROUNDS = 10


@pytest.fixture
def store_toml(any_store: str) -> str:
    return any_store


class FileNotifier:
    """Appends one line per delivered message (O_APPEND: safe across processes)."""

    def __init__(self, path: str, who: str) -> None:
        self.path, self.who = path, who

    def send(self, notification: Notification) -> DeliveryResult:
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(f"{self.who} {notification.body}\n")
        return DeliveryResult(ok=True, status="sent")


def _worker(config: str, sink: str, who: str, distinct: bool, barrier) -> None:
    settings = Settings.load(config, environ={})
    service = Notifications(settings, {"a": FileNotifier(sink, who)})
    barrier.wait(10)
    for i in range(ROUNDS):
        body = f"{who}-{i}" if distinct else "same alert"
        service.publish(Notification(kind="trade.fill", title="Filled", body=body))
    service.close()


def _run_two(configs: list[str], sink: str, distinct: bool) -> None:
    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Barrier(2)
    procs = [
        ctx.Process(target=_worker, args=(config, sink, who, distinct, barrier))
        for who, config in zip(("p1", "p2"), configs, strict=True)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert [p.exitcode for p in procs] == [0, 0]


def _configs(make_settings, store_toml: str, extra: str) -> list[str]:
    """One configuration per process: the same one on SQLite (one state directory); on
    a server store one per "host", each with its own state directory."""
    toml = '[notify]\nroutes = [{ kinds = ["trade.*"] }]\n' + extra
    first = str(make_settings(toml).config_path)
    if not store_toml:
        return [first, first]
    second = make_settings(toml, state="host2")
    assert second.state_dir != make_settings(toml).state_dir
    return [first, str(second.config_path)]


def _lines(path: str) -> list[str]:
    if not os.path.exists(path):
        return []
    with open(path, encoding="utf-8") as f:
        return f.read().splitlines()


def test_dedup_across_processes_sends_once(make_settings, store_toml, tmp_path):
    configs = _configs(make_settings, store_toml, "")
    sink = str(tmp_path / "delivered.txt")
    _run_two(configs, sink, distinct=False)
    assert len(_lines(sink)) == 1
    for config in configs:  # each host sees the same log
        service = Notifications(Settings.load(config, environ={}), {})
        assert service.counts() == {"sent": 1, "dedup_suppressed": 2 * ROUNDS - 1}
        service.close()


def test_rate_limit_across_processes(make_settings, store_toml, tmp_path):
    configs = _configs(make_settings, store_toml, 'rate_limit = { count = 3, per = "1h" }\n')
    sink = str(tmp_path / "delivered.txt")
    _run_two(configs, sink, distinct=True)
    assert len(_lines(sink)) == 3
    service = Notifications(Settings.load(configs[-1], environ={}), {})
    assert service.counts() == {"sent": 3, "rate_limited": 2 * ROUNDS - 3}
    service.close()
