"""SIGKILL during submit against the Alpaca double's HTTP server, as for the paper broker
(tests/store/test_concurrency.py): a child process executing approved intents with the
kernel's executor and an :class:`AlpacaBroker` on 127.0.0.1 is killed at a checkpoint
(claimed, before the submit, after the POST reached the double but before its answer
came back, after the answer, after it was recorded) or at a random moment. After a
reconcile and a restart, every intent has exactly one order at the double, sent by
exactly one POST, and none is lost or stuck."""

from __future__ import annotations

import multiprocessing
import os
import random
import signal
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from tradekernel.api import Executor, GuardVerdict, Intent, IntentState, Settings, Store
from tradekernel_alpaca.broker import AlpacaBroker
from tradekernel_alpaca.config import AlpacaConfig
from tradekernel_alpaca.double import AlpacaDouble, serve
from tradekernel_alpaca.http import AlpacaHTTP, RateLimiter

pytestmark = pytest.mark.slow
CTX = multiprocessing.get_context("fork")
PER_TRIAL = 3
AS_OF = datetime(2026, 1, 5, 15, 0, tzinfo=UTC)
POINTS = ("claimed", "before_submit", "after_submit", "recorded")


class KillingDouble(AlpacaDouble):
    """Counts the POSTs per client order id; ``kill_on_post``: SIGKILL ``victim`` once
    the n-th POST was processed (the order exists), before its answer leaves."""

    def __init__(self) -> None:
        super().__init__()
        self.posts: dict[str, int] = {}
        self.victim: int | None = None
        self.kill_on_post = 0
        self._seen = 0

    def handle(self, request: Any) -> Any:
        reply = super().handle(request)
        if (request.method, request.path) == ("POST", "/v2/orders"):
            body = request.json()
            coid = body.get("client_order_id") if isinstance(body, dict) else None
            if isinstance(coid, str):
                self.posts[coid] = self.posts.get(coid, 0) + 1
            self._seen += 1
            if self._seen == self.kill_on_post:
                deadline = time.monotonic() + 2
                while self.victim is None and time.monotonic() < deadline:
                    time.sleep(0.001)  # the parent names the child right after starting it
                assert self.victim is not None
                os.kill(self.victim, signal.SIGKILL)
                time.sleep(0.05)  # the answer is written to a dead process, or not at all
        return reply


def _broker(url: str, double: AlpacaDouble) -> AlpacaBroker:
    config = AlpacaConfig(base_url=url, data_url=url, read_timeout=5.0, backoff_base=0.01)
    http = AlpacaHTTP(
        config,
        key_id=double.key_id,
        secret_key=double.secret_key,
        limiter=RateLimiter(100_000),
    )
    return AlpacaBroker(http)


def _settings(tmp_path: Path) -> Settings:
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / "plugins.toml"
    path.write_text(f'[kernel]\nstate_dir = "{tmp_path / "state"}"\n', "utf-8")
    return Settings.load(path, environ={})


def _add_approved(settings: Settings, n: int, start: int) -> list[str]:
    ids = []
    with Store.open(settings.state_dir) as store:
        for i in range(start, start + n):
            intent = Intent.create(
                symbol="AAPL",
                side="buy",
                quantity=1,
                rationale=f"crash trial intent {i}",
                strategist="rules",
                prompt_version="p1",
                as_of=AS_OF + timedelta(minutes=i),
            )
            store.add_intent(intent, cycle_id="c1", broker="alpaca", ref_price=Decimal(100))
            store.transition(
                intent.id,
                IntentState.PENDING_APPROVAL,
                actor="guards",
                verdicts=[GuardVerdict.allowed("max_notional")],
            )
            store.transition(intent.id, IntentState.APPROVED, actor="tester")
            ids.append(intent.id)
    return ids


def _child(settings: Settings, url: str, double: AlpacaDouble, kill_at: int) -> None:
    count = 0

    def checkpoint(_point: str, _id: str) -> None:
        nonlocal count
        count += 1
        if count == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)

    store = Store.open(settings.state_dir)
    broker = _broker(url, double)
    ex = Executor(store, broker, broker_name="alpaca", settings=settings, checkpoint=checkpoint)
    for record in store.list_intents(state="approved"):
        ex.execute(record.id)
    os._exit(0)


def _recover(settings: Settings, url: str, double: AlpacaDouble) -> None:
    """What a restarted runtime does: reconcile first, then execute what is approved."""
    broker = _broker(url, double)
    with Store.open(settings.state_dir) as store:
        ex = Executor(store, broker, broker_name="alpaca", settings=settings)
        for result in ex.reconcile():
            assert result.action in ("found", "resubmitted"), result
        for record in store.list_intents(state="approved"):
            assert ex.execute(record.id).outcome == "submitted"
    broker.close()


def _trial(double: KillingDouble, settings: Settings, url: str, kill_at: int, post: int) -> Any:
    """Start a child executing the approved intents (the caller joins it, or kills it at
    a random moment first)."""
    double.victim, double.kill_on_post, double._seen = None, post, 0
    child = CTX.Process(target=_child, args=(settings, url, double, kill_at))
    child.start()
    double.victim = child.pid
    return child


def _join(double: KillingDouble, child: Any) -> int | None:
    child.join(timeout=30)
    double.victim, double.kill_on_post = None, 0
    return child.exitcode


def _check(settings: Settings, double: KillingDouble, ids: list[str]) -> None:
    with Store.open(settings.state_dir) as store:
        records = {r.id: r for r in store.list_intents()}
        assert set(records) == set(ids)
        assert {r.state for r in records.values()} == {IntentState.SUBMITTED}
        coids = {r.client_order_id for r in records.values()}
        assert double.posts == dict.fromkeys(coids, 1)  # one POST each, never a second
        per_order: dict[str, int] = {}
        for order in double.trading.orders.values():
            coid = order["client_order_id"]
            per_order[coid] = per_order.get(coid, 0) + 1
        assert per_order == dict.fromkeys(coids, 1)
        assert all(r.broker_order_id for r in records.values())
        assert store.verify_journal().ok


def test_each_checkpoint_leaves_what_reconcile_expects(tmp_path):
    """Killed at each point of the first intent: the state left, then one order after
    recovery (the POST point is the double's: the order exists, the answer never came)."""
    settings = _settings(tmp_path)
    double = KillingDouble()
    ids: list[str] = []
    expected = [  # (checkpoint n, kill on POST n) -> state after the kill, orders
        ((1, 0), "executing", 0),  # claimed
        ((2, 0), "executing", 0),  # before_submit
        ((0, 1), "executing", 1),  # the POST reached the double, no answer yet
        ((3, 0), "executing", 1),  # after_submit, before recording it
        ((4, 0), "submitted", 1),  # recorded
    ]
    with serve(double) as server:
        for n, ((kill_at, post), state, orders) in enumerate(expected):
            (iid,) = _add_approved(settings, 1, start=100 + n)
            ids.append(iid)
            child = _trial(double, settings, server.url, kill_at, post)
            assert _join(double, child) == -signal.SIGKILL
            with Store.open(settings.state_dir) as store:
                record = store.get(iid)
            assert record.state.value == state, (kill_at, post)
            assert double.posts.get(record.client_order_id, 0) == orders, (kill_at, post)
            _recover(settings, server.url, double)
        _check(settings, double, ids)


def test_sigkill_at_random_points_loses_and_duplicates_nothing(tmp_path):
    """Trials in groups, each on a fresh state directory and account: a restart's
    reconcile asks about the latest 50 sent orders, so one long history would make
    every recovery slower than the trial."""
    rng = random.Random(20261130)
    killed = trials = 0
    for group in range(6):
        settings = _settings(tmp_path / f"group{group}")
        double = KillingDouble()
        ids: list[str] = []
        with serve(double) as server:
            for trial in range(6):
                ids += _add_approved(settings, PER_TRIAL, start=trial * PER_TRIAL)
                kind = trial % 3  # a checkpoint, a POST at the double, a random moment
                kill_at = rng.randint(1, PER_TRIAL * len(POINTS)) if kind == 0 else 0
                post = rng.randint(1, PER_TRIAL) if kind == 1 else 0
                child = _trial(double, settings, server.url, kill_at, post)
                if kind == 2:
                    time.sleep(rng.uniform(0.0, 0.08))
                    os.kill(child.pid, signal.SIGKILL)
                killed += _join(double, child) == -signal.SIGKILL
                trials += 1
                _recover(settings, server.url, double)
            _check(settings, double, ids)
    assert killed >= trials * 2 // 3
