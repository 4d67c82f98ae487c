"""The jsonl sink runs the metrics sink contract of tradekernel.testing."""

from __future__ import annotations

from tradekernel.testing import MetricsSinkContract


class TestJsonlContract(MetricsSinkContract):
    component_name = "jsonl"


class TestJsonlFsyncContract(MetricsSinkContract):
    component_name = "jsonl"
    config = "fsync = true"
