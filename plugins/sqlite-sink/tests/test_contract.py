"""The sqlite sink runs the metrics sink contract of tradekernel.testing, writing
through and in batches."""

from __future__ import annotations

from tradekernel.testing import MetricsSinkContract


class TestSqliteContract(MetricsSinkContract):
    component_name = "sqlite"


class TestSqliteBatchedContract(MetricsSinkContract):
    component_name = "sqlite"
    config = "batch_size = 50"
