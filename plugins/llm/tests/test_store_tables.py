"""The spend ledger and decision cache on every store: in ``state.db`` with the default
``sqlite`` store (an existing file keeps its rows), in the server with ``postgres`` (one
ledger for every process and host of the store), concurrent spend never lost, and a
damaged cache entry a miss, never a crash."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import textwrap
import threading
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tradekernel.api import (
    ChatResponse,
    ComponentContext,
    Store,
    Usage,
    open_store,
)
from tradekernel_llm import LLMStore, LLMStrategistConfig, budget_status, create

from .conftest import StoreKind, strategist

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)

# What the first versions (sqlite-utils) created in state.db, verbatim.
OLD_CREATE = [
    'CREATE TABLE "llm_spend" (\n   "id" INTEGER PRIMARY KEY,\n   "ts" TEXT,\n   "day" TEXT,\n'
    '   "provider" TEXT,\n   "model" TEXT,\n   "prompt_tokens" INTEGER,\n'
    '   "completion_tokens" INTEGER,\n   "total_tokens" INTEGER,\n   "cost_usd" REAL,\n'
    '   "cost_source" TEXT\n)',
    'CREATE INDEX "idx_llm_spend_day"\n    ON "llm_spend" ("day")',
    'CREATE TABLE "llm_cache" (\n   "key" TEXT PRIMARY KEY,\n   "created" REAL,\n'
    '   "response" TEXT\n)',
]


class Stub:
    """A provider double: answers a hold with the given usage, counts its calls."""

    def __init__(self, prompt_tokens: int = 10, completion_tokens: int = 5) -> None:
        self.usage = Usage(prompt_tokens, completion_tokens, prompt_tokens + completion_tokens)
        self.calls = 0

    def chat(self, request):
        self.calls += 1
        return ChatResponse(model="m", content='{"decision": "hold"}', usage=self.usage)


def spend(store: LLMStore, tokens: int = 15, usd: float | None = 0.5) -> None:
    store.record_spend(
        provider="p",
        model="m",
        prompt_tokens=tokens - 5,
        completion_tokens=5,
        cost_usd=usd,
        cost_source=None if usd is None else "provider",
    )


def test_ledger_and_cache_on_each_store(kind, tmp_path):
    now = [datetime(2024, 5, 1, 23, 59, tzinfo=UTC)]
    store = LLMStore.open(kind.settings(tmp_path / "a"), clock=lambda: now[0])
    try:
        assert store.tables.name == kind.name
        store.cache_put("k", ChatResponse(model="m", content="c", usage=Usage(1, 2, 3, 0.25)))
        store.cache_put("k", ChatResponse(model="m", content="c2"))  # the upsert replaces
        spend(store)
        spend(store, 20, None)  # no cost known: counts as 0 USD
        assert store.cache_get("k", ttl=60).content == "c2"
        assert store.spend().as_dict() | {"token_limit": 100} == {
            "day": "2024-05-01",
            "calls": 2,
            "tokens": 35,
            "usd": 0.5,
            "token_limit": 100,
            "usd_limit": None,
            "tokens_left": None,
            "usd_left": None,
        }
        now[0] += timedelta(minutes=2)
        assert store.cache_get("k", ttl=60) is None
        assert store.cache_prune(600) == 0 and store.cache_prune(60) == 1
        assert store.spend().tokens == 0  # a new UTC day
        assert store.spend("2024-05-01", token_limit=100).as_dict()["tokens_left"] == 65
    finally:
        store.close()


def test_a_state_db_of_the_first_versions_keeps_its_rows(tmp_path):
    """A ``state.db`` whose LLM tables the first versions created (sqlite-utils) opens
    unchanged: today's spend and the cached answers are still there, new rows follow."""
    state = tmp_path / "state"
    with Store.open(state) as s:
        s.set_control("paused", True, actor="test")
    conn = sqlite3.connect(state / "state.db", isolation_level=None)
    for statement in OLD_CREATE:
        conn.execute(statement)
    conn.executemany(
        "INSERT INTO llm_spend (ts, day, provider, model, prompt_tokens, completion_tokens, "
        "total_tokens, cost_usd, cost_source) VALUES (?, ?, 'p', 'm', ?, ?, ?, ?, ?)",
        [
            (NOW.isoformat(), "2024-05-01", 100, 20, 120, 0.01, "provider"),
            (NOW.isoformat(), "2024-05-01", 300, 80, 380, None, None),
            ("2024-04-30T10:00:00+00:00", "2024-04-30", 1, 1, 2, 9.0, "estimate"),
        ],
    )
    cached = json.dumps({"model": "m", "content": "kept", "usage": {"total_tokens": 3}})
    conn.execute("INSERT INTO llm_cache VALUES ('k', ?, ?)", (NOW.timestamp() - 5, cached))
    conn.close()

    store = LLMStore.open(StoreKind("sqlite").settings(state), clock=lambda: NOW)
    try:
        assert (store.spend().calls, store.spend().tokens, store.spend().usd) == (2, 500, 0.01)
        hit = store.cache_get("k", ttl=60)
        assert hit.content == "kept" and hit.usage.total_tokens == 3
        spend(store, 15)
        assert store.spend().tokens == 515
    finally:
        store.close()
    conn = sqlite3.connect(state / "state.db")
    ids = [r[0] for r in conn.execute("SELECT id FROM llm_spend ORDER BY id")]
    assert ids == [1, 2, 3, 4]
    columns = [r[1] for r in conn.execute("PRAGMA table_info(llm_spend)")]
    assert columns[:3] == ["id", "ts", "day"] and len(columns) == 10
    conn.close()
    with Store.open(state, create=False) as s:  # the store's own state untouched
        assert s.get_control("paused") is True and s.verify_journal().ok


def test_two_hosts_share_one_ledger_on_postgres(tmp_path, postgres_url, inputs_factory):
    """Host A's spend counts against host B's budget (B does not get a fresh one): B's
    next call is held as over budget, before anything is asked."""
    make_inputs = inputs_factory
    pg = StoreKind("postgres", postgres_url)
    config = {"budget_daily_tokens": 5000, "max_tokens": 50}
    a_events: list = []
    b_events: list = []
    provider_a, provider_b = Stub(4000, 900), Stub()
    host_a = strategist(pg.settings(tmp_path / "host-a"), provider_a, a_events, **config)
    host_b = strategist(pg.settings(tmp_path / "host-b"), provider_b, b_events, **config)
    try:
        assert host_b.decide(make_inputs()).error_type is None and provider_b.calls == 1
        assert host_a.decide(make_inputs(cycle_id="a")).error_type is None
        assert host_b.budget_status().tokens == 4915  # A's 4900 and B's own 15
        decision = host_b.decide(make_inputs(cycle_id="b2"))
        assert decision.is_hold and decision.error_type == "budget_exhausted"
        assert provider_b.calls == 1  # held before asking
        assert [k for s, k, _ in b_events if s == "budget"] == ["exhausted"]
        status = budget_status(pg.settings(tmp_path / "host-c"))
        assert (status["calls"], status["tokens"]) == (2, 4915)
    finally:
        host_a.close()
        host_b.close()
    # the default store keeps one ledger per state dir: a third host with its own
    # state.db has a budget of its own
    assert budget_status(StoreKind("sqlite").settings(tmp_path / "host-c"))["tokens"] == 0


RECORDER = textwrap.dedent(
    """
    import sys
    from tradekernel.api import Settings
    from tradekernel_llm import LLMStore

    url, state, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    overrides = {"kernel.state_dir": state}
    if url:
        overrides.update({"components.store": "postgres", "store.url": url})
    store = LLMStore.open(Settings.load(None, overrides=overrides, environ={}))
    sys.stdin.readline()  # every process is ready: record at once
    for i in range(n):
        store.record_spend(provider="p", model="m", prompt_tokens=i, completion_tokens=1,
                           cost_usd=0.001, cost_source="provider")
        store.spend()
    store.close()
    """
)


def test_spend_recorded_by_processes_at_once_all_counts(kind, tmp_path):
    """Two processes recording (and reading the budget) at once: the sum is exact."""
    state = tmp_path / "state"
    open_store(kind.settings(state)).close()
    n = 60
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", RECORDER, kind.url or "", str(state), str(n)],
            stdin=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    for p in procs:
        p.stdin.write("go\n")
        p.stdin.flush()
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    store = LLMStore.open(kind.settings(state))
    try:
        got = store.spend()
        assert got.calls == 2 * n
        assert got.tokens == 2 * sum(i + 1 for i in range(n))
        assert got.usd == pytest.approx(2 * n * 0.001)
    finally:
        store.close()


def test_threads_share_one_store(kind, tmp_path):
    """The runtime may call the strategist from a worker thread: one store, many threads."""
    store = LLMStore.open(kind.settings(tmp_path / "state"))
    errors: list[BaseException] = []

    def work(t: int) -> None:
        try:
            for i in range(25):
                spend(store, 10)
                store.cache_put(f"k{t}-{i}", ChatResponse(model="m", content="c"))
                assert store.cache_get(f"k{t}-{i}", ttl=60) is not None
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    try:
        assert errors == []
        assert (store.spend().calls, store.spend().tokens) == (100, 1000)
    finally:
        store.close()


DAMAGED = [
    "not json",
    "",
    "[]",
    "null",
    '"text"',
    '{"content": 5}',
    '{"content": "x", "usage": "lots"}',
    '{"content": "x", "usage": {"total_tokens": "9"}}',
    '{"content": "x", "usage": {"prompt_tokens": -1}}',
    '{"content": "x", "usage": {"cost_usd": Infinity}}',
    '{"content": "x", "usage": {"cost_usd": NaN}}',
    '{"content": "x", "model": ["m"]}',
    "[" * 100_000,
]


def test_a_damaged_cache_entry_is_a_miss(kind, tmp_path, inputs):
    """Whatever the cache row holds (bad JSON, another shape, a missing time), the answer
    is asked again and replaces it: never a crash, never an internal error."""
    settings = kind.settings(tmp_path / "state")
    provider, events = Stub(), []
    llm = strategist(settings, provider, events, cache_ttl=3600)
    try:
        assert llm.decide(inputs).error_type is None and provider.calls == 1
        with llm.store.tables.read() as conn:
            (key,) = conn.execute("SELECT key FROM llm_cache").fetchone()
        rows = [(key, NOW.timestamp() * 2, text) for text in DAMAGED]
        rows += [(key, None, '{"content": "x"}'), (key, None, None)]
        for n, row in enumerate(rows, start=2):
            with llm.store.tables.write() as conn:
                conn.execute(
                    "UPDATE llm_cache SET created = ?, response = ? WHERE key = ?",
                    (row[1], row[2], row[0]),
                )
            assert llm.store.cache_get(key, ttl=3600) is None
            decision = llm.decide(inputs)
            assert decision.error_type is None, (row, decision)
            assert provider.calls == n  # a miss: asked again, and cached again
            assert llm.store.cache_get(key, ttl=3600) is not None
        assert events[-1][2]["cache_hit"] is False
    finally:
        llm.close()


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    created=st.one_of(st.none(), st.floats(), st.integers(-(2**62), 2**62), st.text(max_size=20)),
    response=st.one_of(
        st.none(),
        st.text(max_size=200),
        st.recursive(
            st.none()
            | st.booleans()
            | st.floats()
            | st.integers(-(2**62), 2**62)
            | st.text(max_size=9),
            lambda inner: (
                st.lists(inner, max_size=4)
                | st.dictionaries(
                    st.sampled_from(["model", "content", "usage", "total_tokens", "cost_usd", "x"]),
                    inner,
                    max_size=5,
                )
            ),
            max_leaves=12,
        ).map(json.dumps),
    ),
)
def test_any_cache_row_is_an_answer_or_a_miss(created, response):
    store = LLMStore.memory(clock=lambda: NOW)
    with store.tables.write() as conn:
        conn.execute("INSERT INTO llm_cache VALUES ('k', ?, ?)", (created, response))
    got = store.cache_get("k", ttl=3600)
    assert got is None or isinstance(got.content, str | None)
    store.close()


def test_validating_a_configuration_writes_nothing(tmp_path):
    """``check_only``: private in-memory tables, even when the store is a server that
    is not there (nothing is connected to, nothing is written)."""
    settings = StoreKind("postgres", "postgresql://nobody@/absent?host=/nonexistent").settings(
        tmp_path / "state"
    )
    ctx = ComponentContext(
        settings=settings,
        state_dir=settings.state_dir,
        emit=lambda *a, **f: None,
        secret=lambda name: None,
        resolve=lambda kind: Stub(),
        check_only=True,
    )
    llm = create(LLMStrategistConfig(), ctx)
    assert llm.store.tables.name == "sqlite"
    llm.close()
    assert not (tmp_path / "state").exists()


def test_a_cache_entry_stamped_in_the_future_is_a_miss_and_pruned(kind, tmp_path):
    """A host of a shared store whose clock runs ahead (or a planted row) must not make
    an answer outlive its TTL."""
    now = [NOW]
    store = LLMStore.open(kind.settings(tmp_path / "a"), clock=lambda: now[0])
    try:
        store.cache_put("near", ChatResponse(model="m", content="fresh"))
        now[0] += timedelta(days=365)  # the skewed host writes
        store.cache_put("k", ChatResponse(model="m", content="stale"))
        now[0] -= timedelta(days=365)  # this host's clock; a one-minute TTL
        assert store.cache_get("k", ttl=60) is None
        assert store.cache_get("near", ttl=60) is not None  # a fresh entry still hits
        assert store.cache_prune(60) == 1
        with store.tables.read() as conn:
            assert [r[0] for r in conn.execute("SELECT key FROM llm_cache")] == ["near"]
    finally:
        store.close()


def test_budget_status_creates_nothing(kind, tmp_path):
    """Reports read the ledger: a state dir (or a server database) no agent used yet is
    no spend, and nothing is created there."""
    settings = kind.settings(tmp_path / "never-used")
    got = budget_status(settings)
    assert (got["calls"], got["tokens"], got["usd"]) == (0, 0, 0.0)
    assert not (tmp_path / "never-used" / "state.db").exists()
    if kind.url is not None:
        import psycopg

        with psycopg.connect(kind.url) as conn:
            names = [r[0] for r in conn.execute("SELECT tablename FROM pg_tables")]
        assert "llm_spend" not in names
    open_store(settings).close()  # a store without the LLM tables yet: still nothing made
    assert budget_status(settings)["calls"] == 0
    with open_store(settings) as store:
        assert "llm_spend" not in store.dialect.tables(store.conn)
