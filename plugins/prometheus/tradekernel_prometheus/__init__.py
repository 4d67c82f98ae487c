"""The ``prometheus`` metrics sink: counters, gauges and histograms built from events,
served over HTTP for Prometheus to scrape and/or written to a textfile that
node_exporter's textfile collector picks up.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from attrs import define, field
from loguru import logger
from tradekernel import hookimpl
from tradekernel.api import ComponentContext, Duration, Event, lazy_exports, resolve

__all__ = ["EventMetrics", "PrometheusConfig", "PrometheusSink"]

_LAZY = {"EventMetrics": ".metrics"}
"""Imported on first use: prometheus_client only when the sink is built."""


def _port(_inst: Any, attribute: Any, value: int) -> None:
    if not 0 <= value <= 65535:
        raise ValueError(f"{attribute.name}: expected a port from 0 to 65535, got {value!r}")


_DEFAULT_INTERVAL = Duration(15)


@define
class PrometheusConfig:
    """``[metrics_sink.prometheus]``."""

    port: int = field(default=0, validator=_port)
    """Serve ``/metrics`` on this port; 0 does not serve."""
    addr: str = "127.0.0.1"
    """Address to listen on (``0.0.0.0`` exposes it to the network)."""
    textfile: str | None = None
    """Write the metrics to this ``.prom`` file (atomically); relative paths are under
    ``[kernel] state_dir``."""
    textfile_interval: Duration = _DEFAULT_INTERVAL
    """Rewrite the textfile at most this often (0: after every event); always on close."""


class PrometheusSink:
    """Turns events into metrics; never raises from :meth:`write`."""

    def __init__(
        self,
        *,
        port: int = 0,
        addr: str = "127.0.0.1",
        textfile: Path | None = None,
        textfile_interval: float = 15.0,
    ) -> None:
        from .metrics import EventMetrics

        self.metrics = EventMetrics()
        self.registry = self.metrics.registry
        self.textfile = Path(textfile) if textfile else None
        self.textfile_interval = textfile_interval
        self._lock = threading.Lock()
        self._last_textfile = float("-inf")
        self._owns_textfile = False
        """Only a process that runs trading cycles writes the textfile: a one-off command
        (``control pause``, ``alerts check``) has its own near-empty registry and would
        overwrite the agent's counters with it."""
        self._server: Any = None
        self._thread: threading.Thread | None = None
        if port:
            try:
                from prometheus_client import start_http_server

                self._server, self._thread = start_http_server(
                    port, addr=addr, registry=self.registry
                )
            except OSError as exc:  # e.g. the running agent already serves this port
                logger.warning(
                    "prometheus sink: cannot serve metrics on {}:{}: {}; not serving from "
                    "this process",
                    addr,
                    port,
                    exc,
                )
        if self.textfile:
            self.textfile.parent.mkdir(parents=True, exist_ok=True)

    @property
    def port(self) -> int | None:
        """The port ``/metrics`` is served on, or None."""
        return self._server.server_port if self._server else None

    def write(self, event: Event) -> None:
        """Update the metrics from one event (logs instead of raising)."""
        try:
            self.metrics.observe(event)
            if event.stage == "report" and event.kind == "cycle":
                self._owns_textfile = True
            due = time.monotonic() - self._last_textfile >= self.textfile_interval
            if self.textfile and self._owns_textfile and due:
                self.write_textfile()
        except Exception as exc:
            logger.warning(
                "prometheus sink: could not record a {}.{} event: {}", event.stage, event.kind, exc
            )

    def write_textfile(self) -> None:
        """Write the textfile now (atomically: a temporary file renamed over it)."""
        if self.textfile is None:
            return
        with self._lock:
            from prometheus_client import write_to_textfile

            write_to_textfile(str(self.textfile), self.registry)
            self._last_textfile = time.monotonic()

    def exposition(self) -> str:
        """The metrics in the Prometheus text format."""
        from prometheus_client import generate_latest

        return generate_latest(self.registry).decode("utf-8")

    def close(self) -> None:
        """Write the textfile a last time (when this process ran cycles) and stop serving."""
        try:
            if self._owns_textfile:
                self.write_textfile()
        finally:
            if self._server is not None:
                self._server.shutdown()
                self._server.server_close()
                self._server = None


def make_sink(config: PrometheusConfig, ctx: ComponentContext) -> PrometheusSink:
    """Prometheus counters, gauges and histograms built from events."""
    check_only = getattr(ctx, "check_only", False)  # validating only: bind and write nothing
    return PrometheusSink(
        port=0 if check_only else config.port,
        addr=config.addr,
        textfile=resolve(ctx.state_dir, config.textfile)
        if config.textfile and not check_only
        else None,
        textfile_interval=float(config.textfile_interval),
    )


@hookimpl
def register_metrics_sinks(register):
    register("prometheus", make_sink, config=PrometheusConfig, version="1")


__getattr__ = lazy_exports(__name__, _LAZY)
"""The names of :data:`__all__`, each imported on first use: registering this plugin
imports only what its registration needs."""
