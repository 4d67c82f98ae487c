"""Exactly-once under concurrency and crashes.

* Race: 8 processes execute the same 200 approved intents; the recording broker's book
  (no uniqueness constraint) must hold exactly one submit per intent.
* Both run against every store backend (SQLite and PostgreSQL).
* Crash: a child executing intents is SIGKILLed at a random point (a checkpoint chosen
  by the parent, or a random moment); after reconcile and a restart every intent has
  exactly one order at the broker and none is lost or stuck.
"""

from __future__ import annotations

import multiprocessing
import os
import random
import signal
import time

import pytest
from tradekernel.execution import Executor
from tradekernel.store import IntentState

pytestmark = pytest.mark.slow
CTX = multiprocessing.get_context("fork")


def _race_worker(state_dir, broker_path, settings, seed, broker_cls, queue, backend) -> None:
    outcomes: dict[str, int] = {}
    with backend.open(state_dir) as store:
        broker = broker_cls(broker_path)
        ex = Executor(store, broker, broker_name="rec", settings=settings)
        ids = [r.id for r in store.list_intents()]
        random.Random(seed).shuffle(ids)
        for iid in ids:
            outcome = ex.execute(iid).outcome
            outcomes[outcome] = outcomes.get(outcome, 0) + 1
    queue.put(outcomes)


def test_eight_processes_submit_each_intent_exactly_once(tmp_path, helpers, backend):
    state_dir, broker_path = tmp_path / "state", tmp_path / "broker.db"
    settings = helpers.make_settings(state_dir)
    with backend.open(state_dir) as store:
        ids = helpers.add_approved(store, 200)
    helpers.RecordingBroker(broker_path).close()
    queue = CTX.Queue()
    procs = [
        CTX.Process(
            target=_race_worker,
            args=(state_dir, broker_path, settings, seed, helpers.RecordingBroker, queue, backend),
        )
        for seed in range(8)
    ]
    for p in procs:
        p.start()
    totals: dict[str, int] = {}
    for _ in procs:
        for outcome, n in queue.get(timeout=60).items():
            totals[outcome] = totals.get(outcome, 0) + n
    for p in procs:
        p.join(timeout=30)
        assert p.exitcode == 0
    assert totals == {"submitted": 200, "already_claimed": 7 * 200}
    broker = helpers.RecordingBroker(broker_path)
    with backend.open(state_dir) as store:
        expected = {store.get(i).client_order_id: 1 for i in ids}
        assert broker.per_order() == expected
        assert {r.state for r in store.list_intents()} == {IntentState.SUBMITTED}
        assert store.verify_journal().ok
    broker.close()


def _crash_child(state_dir, broker_path, settings, kill_at, broker_cls, backend) -> None:
    count = 0

    def checkpoint(point: str, _id: str) -> None:
        nonlocal count
        count += 1
        if count == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)

    store = backend.open(state_dir)
    broker = broker_cls(broker_path, hook=checkpoint)
    ex = Executor(store, broker, broker_name="rec", settings=settings, checkpoint=checkpoint)
    for record in store.list_intents(state="approved"):
        ex.execute(record.id)
    os._exit(0)


def _recover(state_dir, broker, settings, backend) -> None:
    """What a restarted runtime does: reconcile first, then execute what is approved."""
    with backend.open(state_dir) as store:
        ex = Executor(store, broker, broker_name="rec", settings=settings)
        for result in ex.reconcile():
            assert result.action in ("found", "resubmitted"), result
        for record in store.list_intents(state="approved"):
            assert ex.execute(record.id).outcome == "submitted"


PER_TRIAL = 4
POINTS_PER_INTENT = 6  # claimed, before_submit, broker before/after record, after_submit, recorded


def test_sigkill_at_random_points_loses_and_duplicates_nothing(tmp_path, helpers, backend):
    rng = random.Random(20240102)
    state_dir, broker_path = tmp_path / "state", tmp_path / "broker.db"
    settings = helpers.make_settings(state_dir)
    broker = helpers.RecordingBroker(broker_path)
    all_ids: list[str] = []
    killed = 0
    trials = 75
    for trial in range(trials):
        with backend.open(state_dir) as store:
            all_ids += helpers.add_approved(store, PER_TRIAL, start=trial * PER_TRIAL)
        timed = trial % 3 == 2  # every third trial: kill at a random moment instead
        kill_at = 0 if timed else rng.randint(1, PER_TRIAL * POINTS_PER_INTENT)
        child = CTX.Process(
            target=_crash_child,
            args=(state_dir, broker_path, settings, kill_at, helpers.RecordingBroker, backend),
        )
        child.start()
        if timed:
            time.sleep(rng.uniform(0.0, 0.015))
            os.kill(child.pid, signal.SIGKILL)
        child.join(timeout=30)
        killed += child.exitcode == -signal.SIGKILL
        _recover(state_dir, broker, settings, backend)
    assert killed >= 50
    with backend.open(state_dir) as store:
        records = {r.id: r for r in store.list_intents()}
        assert set(records) == set(all_ids)
        assert {r.state for r in records.values()} == {IntentState.SUBMITTED}
        assert broker.per_order() == {r.client_order_id: 1 for r in records.values()}
        assert store.verify_journal().ok
    broker.close()


def test_crash_points_cover_the_execute_path(tmp_path, helpers, backend):
    """Each checkpoint kill leaves the state the recovery rules expect."""
    state_dir, broker_path = tmp_path / "state", tmp_path / "broker.db"
    settings = helpers.make_settings(state_dir)
    broker = helpers.RecordingBroker(broker_path)
    expected = {  # kill at point n of the first intent -> (state after the kill, orders)
        1: ("executing", 0),  # claimed
        2: ("executing", 0),  # before_submit
        3: ("executing", 0),  # broker: before recording
        4: ("executing", 1),  # broker: recorded, no answer yet
        5: ("executing", 1),  # after_submit, before recording it
        6: ("submitted", 1),  # recorded
    }
    for n, (state, orders) in expected.items():
        with backend.open(state_dir) as store:
            (iid,) = helpers.add_approved(store, 1, start=1000 + n)
        child = CTX.Process(
            target=_crash_child,
            args=(state_dir, broker_path, settings, n, helpers.RecordingBroker, backend),
        )
        child.start()
        child.join(timeout=30)
        assert child.exitcode == -signal.SIGKILL
        with backend.open(state_dir) as store:
            record = store.get(iid)
            assert record.state.value == state, n
            assert broker.count(record.client_order_id) == orders, n
        _recover(state_dir, broker, settings, backend)
        assert broker.count(record.client_order_id) == 1
    broker.close()
