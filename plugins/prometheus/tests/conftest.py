"""Shared fixtures: a real Kernel built from a plugins.toml in a temporary directory."""

from __future__ import annotations

import socket

import pytest
from prometheus_client.parser import text_string_to_metric_families
from tradekernel.testing import config_text, kernel_factory  # noqa: F401 - a fixture


@pytest.fixture
def make_kernel(kernel_factory):  # noqa: F811
    """``make_kernel(["jsonl"], extra_toml)``: a Kernel whose state lives under tmp_path."""
    return lambda sinks, extra="": kernel_factory.build(
        config_text({"metrics_sinks": sinks}, extra)
    )[0]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def parse_samples(text: str) -> dict[tuple[str, tuple], float]:
    """An exposition's samples by (name, sorted labels), the ``_created`` ones left out."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if not s.name.endswith("_created")
    }
