"""The daily budget cannot be bypassed through the ledger: every provider call is
reserved (checked against the budget and written in one transaction) before it is
made, a spend that cannot be written holds instead of calling, and a provider's or a
row's number that is not a finite count >= 0 never lowers the day's spend."""

from __future__ import annotations

from pathlib import Path

import pytest
from tradekernel.api import ChatResponse, Settings, Usage
from tradekernel_llm import LLMStore

from .conftest import StoreKind, strategist


class Stub:
    """A provider double reporting the given usage; counts its calls."""

    def __init__(self, prompt=10, completion=5, cost=None) -> None:
        self.usage = Usage(prompt, completion, None, cost)
        self.calls = 0

    def chat(self, request):
        self.calls += 1
        return ChatResponse(model="m", content='{"decision": "hold"}', usage=self.usage)


def _fail_on(kind: StoreKind, state: Path, op: str) -> None:
    """Make every ``op`` (INSERT/UPDATE) on llm_spend fail, as a full disk would."""
    if kind.url is None:
        kind.sql(
            state,
            f"CREATE TRIGGER nospace BEFORE {op} ON llm_spend "
            "BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END",
        )
    else:
        kind.sql(
            state,
            "CREATE FUNCTION nospace() RETURNS trigger AS $$ BEGIN "
            "RAISE EXCEPTION 'could not extend file'; END $$ LANGUAGE plpgsql",
            f"CREATE TRIGGER nospace BEFORE {op} ON llm_spend "
            "FOR EACH ROW EXECUTE FUNCTION nospace()",
        )


def test_a_reservation_that_cannot_be_written_holds_without_calling(kind, tmp_path, inputs_factory):
    state = tmp_path / "a"
    provider = Stub(900, 100)
    llm = strategist(kind.settings(state), provider, budget_daily_tokens=2000, max_tokens=10)
    try:
        _fail_on(kind, state, "INSERT")
        errors = [llm.decide(inputs_factory(cycle_id=f"c{i}")).error_type for i in range(4)]
        assert provider.calls == 0
        assert errors == ["budget_unavailable"] * 4
    finally:
        llm.close()


def test_a_spend_that_cannot_be_settled_keeps_its_estimate_and_holds(
    kind, tmp_path, inputs_factory
):
    state = tmp_path / "a"
    provider = Stub(900, 100)
    llm = strategist(kind.settings(state), provider, budget_daily_tokens=50_000, max_tokens=10)
    try:
        _fail_on(kind, state, "UPDATE")
        first = llm.decide(inputs_factory(cycle_id="c0"))
        assert provider.calls == 1 and first.error_type is None
        assert llm.budget_status().calls == 1  # the reservation, at its estimate
        assert llm.budget_status().tokens > 0
        # the real usage is not written yet: no further call until it is
        later = [llm.decide(inputs_factory(cycle_id=f"c{i}")).error_type for i in (1, 2)]
        assert provider.calls == 1 and later == ["budget_unavailable"] * 2
        kind.sql(state, "DROP TRIGGER nospace" + ("" if kind.url is None else " ON llm_spend"))
        assert llm.decide(inputs_factory(cycle_id="c3")).error_type is None
        assert provider.calls == 2
        assert llm.budget_status().tokens >= 2000  # both calls at their real usage
    finally:
        llm.close()


def test_an_open_reservation_counts_until_settled(kind, tmp_path, inputs_factory):
    """Another process's call in flight (or a crash before settling) counts as its
    estimate: a check made meanwhile cannot spend the same budget again."""
    settings = kind.settings(tmp_path / "a")
    other = LLMStore.open(settings)
    try:
        _, refusal, row = other.reserve(
            provider="p",
            model="m",
            prompt_tokens=1500,
            completion_tokens=0,
            cost_usd=None,
            refuse=lambda spent: None,
        )
        assert refusal is None and row
    finally:
        other.close()
    provider = Stub()
    events: list = []
    llm = strategist(settings, provider, events, budget_daily_tokens=2000, max_tokens=600)
    try:
        decision = llm.decide(inputs_factory())
        assert provider.calls == 0 and decision.error_type == "budget_exhausted"
        assert [e[2]["scope"] for e in events if e[1] == "exhausted"] == ["tokens"]
    finally:
        llm.close()


@pytest.mark.parametrize(
    "usage",
    [
        Usage(-1_000_000, 5, None, None),
        Usage(10, -1_000_000, None, None),
        Usage(float("nan"), 5, None, None),
        Usage(10, 5, None, -100.0),
        Usage(10, 5, None, float("nan")),
        Usage(10, 5, None, float("-inf")),
    ],
)
def test_a_bad_reported_usage_never_refunds_the_budget(kind, tmp_path, inputs_factory, usage):
    provider = Stub()
    provider.usage = usage
    llm = strategist(
        kind.settings(tmp_path / "a"),
        provider,
        budget_daily_tokens=100_000,
        budget_daily_usd=1.0,
        max_tokens=10,
        price_prompt_per_mtok=1.0,
        price_completion_per_mtok=1.0,
    )
    try:
        llm.decide(inputs_factory(cycle_id="c0"))
        spent = llm.budget_status()
        assert spent.calls == 1 and spent.tokens > 0 and spent.usd > 0
        provider.usage = Usage(10, 5, None, 0.6)  # then 0.6 USD a call, 1 USD a day
        for i in range(1, 6):
            llm.decide(inputs_factory(cycle_id=f"c{i}"))
        assert provider.calls <= 3
        assert llm.budget_status().usd <= 1.0 + 0.6
    finally:
        llm.close()


@pytest.mark.parametrize("bad", [-1, float("nan"), float("inf")])
def test_the_ledger_refuses_a_negative_or_not_finite_spend(tmp_path, bad):
    store = LLMStore.memory()
    try:
        with pytest.raises(ValueError):
            store.record_spend(
                provider="p",
                model="m",
                prompt_tokens=1,
                completion_tokens=1,
                cost_usd=bad,
                cost_source="provider",
            )
        if bad == -1:
            with pytest.raises(ValueError):
                store.record_spend(
                    provider="p",
                    model="m",
                    prompt_tokens=bad,
                    completion_tokens=1,
                    cost_usd=None,
                    cost_source=None,
                )
        assert store.spend().calls == 0
    finally:
        store.close()


def _damaged(kind: StoreKind, state: Path, day: str, tokens: object, usd: object) -> None:
    kind.sql(
        state,
        "INSERT INTO llm_spend (ts, day, provider, model, prompt_tokens, completion_tokens, "
        "total_tokens, cost_usd, cost_source) VALUES ('t', ?, 'p', 'm', 1, 1, ?, ?, 'provider')",
        params=(day, tokens, usd),
    )


def _assert_holds_on_damage(settings: Settings, inputs_factory) -> None:
    provider = Stub()
    events: list = []
    llm = strategist(
        settings,
        provider,
        events,
        budget_daily_usd=1.0,
        budget_daily_tokens=10**9,
        max_tokens=10,
        price_prompt_per_mtok=1.0,
        price_completion_per_mtok=1.0,
    )
    try:
        decision = llm.decide(inputs_factory())
        assert provider.calls == 0
        assert decision.error_type == "budget_unavailable"
        (event,) = [f for stage, kind, f in events if kind == "decision"]
        assert "llm_spend row" in event["detail"]
    finally:
        llm.close()


@pytest.mark.parametrize("tokens,usd", [(2, float("nan")), (2, -50.0), (-5000, 0.1)])
def test_a_damaged_row_in_todays_ledger_holds(kind, tmp_path, inputs_factory, tokens, usd):
    """NaN (PostgreSQL keeps it: SUM would be NaN and every comparison false) or a
    negative number in today's ledger: the day's spend is unknown, the decision holds."""
    if kind.url is None and usd != usd:
        pytest.skip("SQLite stores NaN as NULL (no cost), which is not damage")
    settings = kind.settings(tmp_path / "a")
    LLMStore.open(settings).close()
    day = LLMStore.memory().today()
    _damaged(kind, tmp_path / "a", day, tokens, usd)
    _assert_holds_on_damage(settings, inputs_factory)


@pytest.mark.parametrize("tokens,usd", [("5,000", 0.1), (2, "$50")])
def test_text_in_the_numbers_of_a_sqlite_ledger_holds(tmp_path, inputs_factory, tokens, usd):
    """SQLite keeps text in INTEGER/REAL columns and SUM() reads it as 0."""
    kind = StoreKind("sqlite")
    settings = kind.settings(tmp_path / "a")
    LLMStore.open(settings).close()
    _damaged(kind, tmp_path / "a", LLMStore.memory().today(), tokens, usd)
    _assert_holds_on_damage(settings, inputs_factory)
