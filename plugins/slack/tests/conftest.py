"""Fixtures: a Slack-like receiver on 127.0.0.1 and a kernel whose slack notifier
points at it through SLACK_WEBHOOK_URL."""

from __future__ import annotations

import pytest
from tradekernel.api import Kernel, Settings
from tradekernel.testing import HTTPReceiver

SECRET_PATH = "/services/T000/B000/sEcReTtOkEn123"


@pytest.fixture
def slack_server():
    with HTTPReceiver() as server:
        yield server


@pytest.fixture
def make_kernel(tmp_path, slack_server):
    """``make_kernel(extra_toml="")``: a kernel selecting the slack notifier, tiny backoffs."""
    kernels = []

    def make(extra: str = "") -> Kernel:
        url = slack_server.url.replace("/hook", SECRET_PATH)
        config = tmp_path / "plugins.toml"
        config.write_text(
            f'[kernel]\nstate_dir = "{tmp_path / "state"}"\n'
            '[components]\nnotifiers = ["slack"]\nmetrics_sinks = []\n'
            '[notify]\ntimeout = "5s"\n'
            'retry = { max_attempts = 3, backoff_base = "1ms", backoff_max = "5ms", '
            'retry_after_cap = "1s" }\n' + extra,
            encoding="utf-8",
        )
        kernel = Kernel(Settings.load(config, environ={"SLACK_WEBHOOK_URL": url}))
        kernels.append(kernel)
        return kernel

    yield make
    for kernel in kernels:
        kernel.close()
