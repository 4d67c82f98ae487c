from __future__ import annotations

import sqlite3
import textwrap
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from loguru import logger
from tradekernel import hookimpl
from tradekernel.api import (
    Account,
    Bar,
    ComponentContext,
    Kernel,
    Position,
    Quote,
    Settings,
    StrategyInput,
)
from tradekernel_llm import LLMStrategistConfig, create
from tradekernel_openai_compatible.testing import FakeChatServer

API_KEY = "sk-or-v1-3e9a7c1d5f0b8264"  # random-looking, as real keys are
AS_OF = datetime(2024, 3, 1, 15, 30, tzinfo=UTC)


class Recorder:
    def __init__(self) -> None:
        self.events = []

    @hookimpl
    def on_event(self, event):
        self.events.append(event)

    def of(self, stage: str, kind: str | None = None):
        return [e for e in self.events if e.stage == stage and kind in (None, e.kind)]


class StoreKind:
    """One store backend: the Settings of a "host" (its own state dir) on it."""

    def __init__(self, name: str, url: str | None = None) -> None:
        self.name = name
        self.url = url

    def settings(self, state_dir: Path, cls: type[Settings] = Settings) -> Settings:
        overrides: dict[str, object] = {"kernel.state_dir": str(state_dir)}
        if self.url is not None:
            overrides.update({"components.store": self.name, "store.url": self.url})
        return cls.load(None, overrides=overrides, environ={})

    def sql(self, state_dir: Path, *statements: str, params: tuple = ()) -> None:
        """Run ``statements`` on the store's database behind the plugin's back."""
        if self.url is None:
            conn = sqlite3.connect(state_dir / "state.db")
            for s in statements:
                conn.execute(s, params if "?" in s else ())
            conn.commit()
            conn.close()
            return
        import psycopg

        with psycopg.connect(self.url, autocommit=True) as conn:
            for s in statements:
                conn.execute(s.replace("?", "%s"), params if "?" in s else None)


@pytest.fixture(params=["sqlite", "postgres"])
def kind(request) -> StoreKind:
    """The test once on the SQLite store and once on PostgreSQL."""
    if request.param == "postgres":
        return StoreKind("postgres", request.getfixturevalue("postgres_url"))
    return StoreKind("sqlite")


def strategist(settings: Settings, provider, events: list | None = None, **config):
    """The LLM strategist built as the kernel would, its events appended to ``events``."""
    events = [] if events is None else events
    ctx = ComponentContext(
        settings=settings,
        state_dir=settings.state_dir,
        emit=lambda stage, kind, **f: events.append((stage, kind, f)),
        secret=lambda name: None,
        resolve=lambda kind: provider,
    )
    return create(LLMStrategistConfig(**config), ctx)


@pytest.fixture
def server() -> Iterator[FakeChatServer]:
    with FakeChatServer() as srv:
        yield srv


@pytest.fixture
def api_key() -> str:
    return API_KEY


@pytest.fixture
def logs() -> Iterator[list[str]]:
    lines: list[str] = []
    sink = logger.add(lambda m: lines.append(str(m)), level="DEBUG")
    yield lines
    logger.remove(sink)


@pytest.fixture
def make_kernel(tmp_path):
    """``make_kernel(base_url, strategist_section="", provider_section="")`` → (kernel, rec)."""
    kernels: list[Kernel] = []

    def make(
        base_url: str,
        strategist: str = "",
        provider: str = "",
        environ=None,
        name: str = "plugins.toml",
    ):
        config = tmp_path / name
        config.write_text(
            f'[kernel]\nstate_dir = "{tmp_path / "state"}"\n'
            '[components]\nstrategist = "llm"\nllm_provider = "openrouter"\n'
            "metrics_sinks = []\nnotifiers = []\n"
            f'[llm_provider.openrouter]\nbase_url = "{base_url}"\nmodel = "test/model"\n'
            'backoff_base = "1ms"\nbackoff_max = "5ms"\nretry_after_cap = "10ms"\n'
            + textwrap.dedent(provider)
            + "[strategist.llm]\n"
            + textwrap.dedent(strategist)
        )
        env = {"OPENROUTER_API_KEY": API_KEY} if environ is None else environ
        kernel = Kernel(Settings.load(config, environ=env))
        rec = Recorder()
        kernel.registry.pm.register(rec, name=f"test-recorder-{len(kernels)}")
        kernels.append(kernel)
        return kernel, rec

    yield make
    for kernel in kernels:
        kernel.close()


def _bars(symbol: str, start: float) -> list[Bar]:
    return [
        Bar(
            symbol,
            AS_OF - timedelta(minutes=5 * (10 - i)),
            start + i,
            start + i + 1,
            start + i - 1,
            start + i + 0.5,
            1000,
        )
        for i in range(10)
    ]


def make_inputs(**overrides) -> StrategyInput:
    base = dict(
        cycle_id="cyc_test",
        as_of=AS_OF,
        candidates=["AAA", "BBB"],
        skill_results={},
        quotes={
            "AAA": Quote("AAA", AS_OF, "101.5", bid="101.4", ask="101.6"),
            "BBB": Quote("BBB", AS_OF, "49.9"),
        },
        bars={"AAA": _bars("AAA", 100), "BBB": _bars("BBB", 50)},
        positions={"BBB": Position("BBB", "12", "48.0", market_price="49.9")},
        account=Account(cash=Decimal("10000"), equity=Decimal("10598.8")),
        limits={"max_order_notional": "2500"},
    )
    base.update(overrides)
    return StrategyInput(**base)


@pytest.fixture
def inputs() -> StrategyInput:
    return make_inputs()


@pytest.fixture
def inputs_factory():
    return make_inputs
