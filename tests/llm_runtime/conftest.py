"""Fixtures for the LLM strategist inside the runtime: a real local chat server
(``FakeChatServer``), a config on real plugins (synthetic data, paper broker, jsonl
events, the ``llm`` strategist with the ``openrouter`` provider) and an event recorder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from loguru import logger
from tradekernel.kernel import Kernel
from tradekernel.testing import Recorder, kernel_factory  # noqa: F401 - a fixture
from tradekernel_openai_compatible.testing import FakeChatServer, completion

API_KEY = "sk-or-v1-8d2f6a0c9e3b7154"  # random-looking, as real keys are
KEY_ENV = "OPENROUTER_API_KEY"
USAGE = {"prompt_tokens": 900, "completion_tokens": 60, "total_tokens": 960, "cost": 0.00123}

CONFIG = """
[kernel]
state_dir = "{state_dir}"
approval_mode = "auto"

[components]
broker = "paper"
market_data = "synthetic"
strategist = "{strategist}"
llm_provider = "openrouter"
guards = ["max_order_notional"]
metrics_sinks = ["jsonl"]
notifiers = []

[runtime]
watchlist = ["AAA", "BBB"]
node_backoff = "0s"
breaker_failures = 2
breaker_cooldown = "5m"
skill_timeout = "5s"

[market_data.synthetic]
symbols = ["AAA", "BBB"]
seed = 7
bars = 400

[broker.paper]
cash = 100000

[guard.max_order_notional]
limit = 5000

[llm_provider.openrouter]
base_url = "{base_url}"
model = "test/model"
max_attempts = 2
backoff_base = "1ms"
backoff_max = "2ms"
retry_after_cap = "5ms"
connect_timeout = "2s"
read_timeout = "5s"

[strategist.llm]
max_intents = 2
"""


def answer(*intents: dict[str, Any], decision: str = "trade", reason: str = "test") -> str:
    """The model's JSON answer (schema intent.v1)."""
    return json.dumps({"decision": decision, "reason": reason, "intents": list(intents)})


def intent(symbol: str = "AAA", side: str = "buy", quantity: int | None = 5) -> dict[str, Any]:
    return {
        "symbol": symbol,
        "side": side,
        "quantity": quantity,
        "notional": None,
        "order_type": "market",
        "limit_price": None,
        "time_in_force": "day",
        "rationale": "momentum",
        "confidence": 0.7,
    }


def buy_reply(symbol: str = "AAA", quantity: int = 5) -> dict[str, Any]:
    """A completion body whose answer buys ``quantity`` ``symbol``, with usage and cost."""
    return completion(answer(intent(symbol, "buy", quantity)), usage=USAGE)


class Clock:
    """A settable clock for ``Runtime(clock=...)``."""

    def __init__(self) -> None:
        self.now = datetime(2026, 1, 5, 12, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def server() -> Iterator[FakeChatServer]:
    with FakeChatServer() as srv:
        yield srv


@pytest.fixture
def logs() -> Iterator[list[str]]:
    """Every loguru line (DEBUG and up) written while the test runs."""
    lines: list[str] = []
    sink = logger.add(lambda m: lines.append(str(m)), level="DEBUG")
    yield lines
    logger.remove(sink)


@pytest.fixture
def write_config(tmp_path: Path):
    """``write_config(base_url, strategist="llm", extra="")`` → the config file's path."""

    def write(base_url: str, *, strategist: str = "llm", extra: str = "") -> Path:
        path = tmp_path / "plugins.toml"
        path.write_text(
            textwrap.dedent(CONFIG).format(
                state_dir=tmp_path / "state", strategist=strategist, base_url=base_url
            )
            + textwrap.dedent(extra)
        )
        return path

    return write


@pytest.fixture
def make_kernel(kernel_factory):  # noqa: F811
    """``make_kernel(base_url, extra="", environ=None)`` → (kernel, recorder)."""

    def make(
        base_url: str, *, extra: str = "", environ: dict[str, str] | None = None
    ) -> tuple[Kernel, Recorder]:
        config = textwrap.dedent(CONFIG).format(
            state_dir="{state_dir}", strategist="llm", base_url=base_url
        ) + textwrap.dedent(extra)
        return kernel_factory.build(
            config, environ={KEY_ENV: API_KEY} if environ is None else environ
        )

    return make


@pytest.fixture
def cli(tmp_path: Path):
    """``cli(config, *args, key=True)`` runs the real ``tradekernel`` CLI in a subprocess."""

    def run(config: Path, *args: str, key: bool = True) -> subprocess.CompletedProcess[str]:
        env = {
            k: v for k, v in os.environ.items() if not k.startswith("TRADEKERNEL_") and k != KEY_ENV
        }
        if key:
            env[KEY_ENV] = API_KEY
        return subprocess.run(
            [sys.executable, "-m", "tradekernel", "--config", str(config), *args],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )

    return run
