"""The prometheus sink runs the metrics sink contract of tradekernel.testing, serving
on an ephemeral port and writing a textfile."""

from __future__ import annotations

import socket

from tradekernel.testing import MetricsSinkContract


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class TestPrometheusContract(MetricsSinkContract):
    component_name = "prometheus"
    config = 'textfile = "metrics.prom"\ntextfile_interval = 0'


class TestPrometheusServingContract(MetricsSinkContract):
    component_name = "prometheus"
    config = f"port = {_free_port()}"
