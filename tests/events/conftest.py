"""Shared fixtures: a real Kernel built from a plugins.toml in a temporary directory."""

from __future__ import annotations

import pytest
from tradekernel.testing import config_text, kernel_factory  # noqa: F401 - a fixture


@pytest.fixture
def make_kernel(kernel_factory):  # noqa: F811
    """``make_kernel(["jsonl"], extra_toml)``: a Kernel whose state lives under tmp_path."""
    return lambda sinks, extra="": kernel_factory.build(
        config_text({"metrics_sinks": sinks}, extra)
    )[0]
