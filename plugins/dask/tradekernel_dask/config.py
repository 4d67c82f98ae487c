"""``[sweeper.dask]``: which cluster runs a sweep."""

from __future__ import annotations

import re
from typing import Any

from attrs import define, field
from tradekernel.api import Duration, positive

_ADDRESS = re.compile(r"(tcp|tls|ws|wss)://([A-Za-z0-9._\-]+|\[[0-9A-Fa-f:.]+\])(:[0-9]{1,5})?")
"""A scheduler address: a protocol, a host name, IPv4 or [IPv6] address, an optional port."""


def _address(_inst: Any, attribute: Any, value: str | None) -> None:
    if value is not None and not _ADDRESS.fullmatch(value):
        raise ValueError(
            f"{attribute.name}: expected a Dask scheduler address like tcp://host:8786, "
            f"got {value!r}"
        )
    if value is not None and value.startswith(("tls://", "wss://")):
        raise ValueError(
            f"{attribute.name}: {value.split(':', 1)[0]}:// needs Dask security settings "
            "(certificates), which tradekernel does not pass; use tcp:// or ws:// on a "
            "trusted network"
        )


def _workers(_inst: Any, attribute: Any, value: int | None) -> None:
    if value is not None and not 1 <= value <= 1024:
        raise ValueError(f"{attribute.name}: expected 1 to 1024 worker processes, got {value}")


@define
class DaskConfig:
    """``[sweeper.dask]``."""

    scheduler: str | None = field(default=None, validator=_address)
    """An existing cluster's scheduler (``tcp://host:8786``; ``backtest --scheduler``);
    unset: a ``LocalCluster`` on this machine, started for the sweep and stopped after."""
    workers: int | None = field(default=None, validator=_workers)
    """Worker processes of the ``LocalCluster`` (default: ``--workers``, else the cores);
    one thread each. An existing cluster keeps its own size."""
    timeout: Duration = field(default=Duration(10), converter=Duration.parse, validator=positive)
    """How long to try to reach ``scheduler`` before the sweep fails."""
