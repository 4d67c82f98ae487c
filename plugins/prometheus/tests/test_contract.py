"""The prometheus sink runs the metrics sink contract of tradekernel.testing, serving
on an ephemeral port and writing a textfile."""

from __future__ import annotations

from tradekernel.testing import MetricsSinkContract

from .conftest import free_port


class TestPrometheusContract(MetricsSinkContract):
    component_name = "prometheus"
    config = 'textfile = "metrics.prom"\ntextfile_interval = 0'


class TestPrometheusServingContract(MetricsSinkContract):
    component_name = "prometheus"
    config = f"port = {free_port()}"
