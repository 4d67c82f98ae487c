"""The decide() contract with stub providers: it never raises, and state lives in its
own tables of state.db (WAL)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from tradekernel.api import ChatResponse, ComponentContext, ProviderError, Settings
from tradekernel_llm import LLMStrategistConfig, create


class Stub:
    def __init__(self, behaviour):
        self.behaviour = behaviour
        self.calls = 0

    def chat(self, request):
        self.calls += 1
        return self.behaviour(request)


def settings_in(state_dir: Path, cls: type[Settings] = Settings) -> Settings:
    """Settings whose ``[kernel] state_dir`` is ``state_dir`` (the kernel hands a
    component the same directory as ``ctx.state_dir``)."""
    return cls.load(None, overrides={"kernel.state_dir": str(state_dir)}, environ={})


def make(tmp_path: Path, provider, **config) -> tuple:
    events = []
    ctx = ComponentContext(
        settings=settings_in(tmp_path / "state"),
        state_dir=tmp_path / "state",
        emit=lambda stage, kind, **f: events.append((stage, kind, f)),
        secret=lambda name: None,
        resolve=lambda kind: provider,
    )
    return create(LLMStrategistConfig(**config), ctx), events


def boom(_request):
    raise RuntimeError("provider bug")


def garbage(_request):
    return ChatResponse(model="m", content="{" * 5000)


def rate_limited(_request):
    raise ProviderError("slow down", error_type="http_429", attempts=[])


@pytest.mark.parametrize(
    ("behaviour", "error_type"),
    [(boom, "provider_exception"), (garbage, "invalid_json"), (rate_limited, "provider_http_429")],
)
def test_decide_never_raises(tmp_path, inputs, behaviour, error_type):
    strategist, events = make(tmp_path, Stub(behaviour))
    decision = strategist.decide(inputs)
    assert decision.is_hold and decision.error_type == error_type
    assert [(s, k) for s, k, _ in events] == [("strategist_llm", "decision")]
    strategist.close()


def test_broken_inputs_hold(tmp_path, inputs_factory):
    strategist, events = make(tmp_path, Stub(boom))
    decision = strategist.decide(inputs_factory(quotes={"AAA": object()}))
    assert decision.error_type == "internal_error"
    assert events[-1][2]["severity"] == "error"
    strategist.close()


def test_own_tables_in_shared_state_db(tmp_path, inputs):
    from tradekernel.api import Store

    db_path = tmp_path / "state" / "state.db"
    with Store.open(tmp_path / "state") as store:  # the kernel's store owns the file
        store.set_control("paused", True, actor="test")
    strategist, _ = make(
        tmp_path,
        Stub(lambda r: ChatResponse(model="m", content='{"decision": "hold"}')),
        cache_ttl=60,
    )
    strategist.decide(inputs)
    strategist.close()
    with sqlite3.connect(db_path) as conn:
        tables = {r[0] for r in conn.execute("select name from sqlite_master where type='table'")}
        assert {"journal", "llm_spend", "llm_cache"} <= tables
        assert conn.execute("pragma journal_mode").fetchone()[0] == "wal"
        assert conn.execute("select count(*) from llm_spend").fetchone()[0] == 1
    with Store.open(tmp_path / "state", create=False) as store:  # still the kernel's, intact
        assert store.get_control("paused") is True
        assert store.verify_journal().ok


def test_the_secret_check_is_the_kernels_redactor(tmp_path, inputs):
    """Whatever the settings' redactor catches (here a partial, upper-cased echo that a
    plain search for the key would miss) makes the answer a ``secret_in_answer`` hold."""

    class PartialMatchSettings(Settings):
        def redact(self, text: str) -> str:
            return text.replace("SK-OR-V1-ABCD", "********")

    events = []
    answer = '{"decision": "trade", "intents": [{"symbol": "SK-OR-V1-ABCD", "side": "buy"}]}'
    ctx = ComponentContext(
        settings=settings_in(tmp_path / "state", PartialMatchSettings),
        state_dir=tmp_path / "state",
        emit=lambda stage, kind, **f: events.append((stage, kind, f)),
        secret=lambda name: None,
        resolve=lambda kind: Stub(lambda r: ChatResponse(model="m", content=answer)),
    )
    strategist = create(LLMStrategistConfig(), ctx)
    decision = strategist.decide(inputs)
    strategist.close()
    assert decision.error_type == "secret_in_answer" and decision.intents == ()
    assert "SK-OR-V1-ABCD" not in repr(events)
