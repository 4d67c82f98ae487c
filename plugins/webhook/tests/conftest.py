"""Fixtures: a kernel whose webhook notifier posts to a local receiver."""

from __future__ import annotations

import pytest
from tradekernel.api import Kernel, Settings

SECRET = "whsec-shared-secret-value"


@pytest.fixture
def make_kernel(tmp_path):
    """``make_kernel(url, section="", environ=None, signed=True)``: a kernel selecting the
    webhook notifier."""
    kernels = []

    def make(
        url: str, section: str = "", environ: dict | None = None, *, signed: bool = True
    ) -> Kernel:
        config = tmp_path / "plugins.toml"
        config.write_text(
            f'[kernel]\nstate_dir = "{tmp_path / "state"}"\n'
            '[components]\nnotifiers = ["webhook"]\nmetrics_sinks = []\n'
            '[notify]\nretry = { max_attempts = 3, backoff_base = "1ms", backoff_max = "5ms" }\n'
            '[notifier.webhook]\nurl_env = "HOOK_URL"\n'
            + ('secret_env = "HOOK_SECRET"\n' if signed else "")
            + section,
            encoding="utf-8",
        )
        env = {"HOOK_URL": url, "HOOK_SECRET": SECRET} if environ is None else environ
        kernel = Kernel(Settings.load(config, environ=env))
        kernels.append(kernel)
        return kernel

    yield make
    for kernel in kernels:
        kernel.close()
