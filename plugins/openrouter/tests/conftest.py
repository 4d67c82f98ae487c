from __future__ import annotations

import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from loguru import logger
from tradekernel.api import Kernel, Settings
from tradekernel_openai_compatible.testing import FakeChatServer

API_KEY = "sk-or-v1-test-SECRET-0123456789"
ENV = {"OPENROUTER_API_KEY": API_KEY}


@pytest.fixture
def server() -> Iterator[FakeChatServer]:
    with FakeChatServer() as srv:
        yield srv


@pytest.fixture
def logs() -> Iterator[list[str]]:
    lines: list[str] = []
    sink = logger.add(lambda m: lines.append(str(m)), level="DEBUG")
    yield lines
    logger.remove(sink)


def _make_kernel(tmp_path: Path, base_url: str, extra: str = "", environ=None) -> Kernel:
    config = tmp_path / "plugins.toml"
    config.write_text(
        textwrap.dedent(
            f"""
            [kernel]
            state_dir = "{tmp_path / "state"}"
            [components]
            llm_provider = "openrouter"
            [llm_provider.openrouter]
            base_url = "{base_url}"
            model = "test/model"
            backoff_base = "1ms"
            backoff_max = "5ms"
            retry_after_cap = "20ms"
            """
        )
        + textwrap.dedent(extra)
    )
    settings = Settings.load(config, environ=ENV if environ is None else environ)
    return Kernel(settings)


@pytest.fixture
def api_key() -> str:
    return API_KEY


@pytest.fixture
def make_kernel(tmp_path):
    kernels: list[Kernel] = []

    def make(base_url: str, extra: str = "", environ=None) -> Kernel:
        kernels.append(_make_kernel(tmp_path, base_url, extra, environ))
        return kernels[-1]

    yield make
    for kernel in kernels:
        kernel.close()


@pytest.fixture
def provider(tmp_path, server):
    kernel = _make_kernel(tmp_path, server.base_url)
    yield kernel.component("llm_provider")
    kernel.close()
