from __future__ import annotations

import textwrap
from collections.abc import Iterator

import pytest
from tradekernel.api import Kernel, Settings
from tradekernel_openai_compatible.testing import FakeChatServer


@pytest.fixture
def server() -> Iterator[FakeChatServer]:
    with FakeChatServer() as srv:
        yield srv


@pytest.fixture
def make_kernel(tmp_path):
    kernels: list[Kernel] = []

    def make(section: str, environ=None) -> Kernel:
        config = tmp_path / "plugins.toml"
        config.write_text(
            f'[kernel]\nstate_dir = "{tmp_path / "state"}"\n'
            '[components]\nllm_provider = "openai-compatible"\n'
            "[llm_provider.openai-compatible]\n" + textwrap.dedent(section)
        )
        kernels.append(Kernel(Settings.load(config, environ=environ or {})))
        return kernels[-1]

    yield make
    for kernel in kernels:
        kernel.close()
