"""Shared helpers for the SLO tests: settings with objectives, and events built with
explicit times (every clock here is injected)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from tradekernel.api import Event, Settings

T0 = datetime(2030, 1, 2, 0, 0, tzinfo=UTC)

OBJECTIVES = """
[slo.objectives.cycles]
indicator = "cycle_success"
target = 0.99
window = "30d"

[slo.objectives.decisions]
indicator = "decision_latency"
target = 0.99
threshold = "2s"

[slo.objectives.orders]
indicator = "order_ack_latency"
target = 0.99
threshold = "60s"

[slo.objectives.freshness]
indicator = "data_freshness"
target = 0.95
threshold = "5m"

[slo.objectives.notifications]
indicator = "notification_delivery"
target = 0.99
"""


def ev(
    stage: str, kind: str, at: datetime, *, cycle: str = "", severity: str = "info", **fields: Any
) -> Event:
    """One event at ``at``."""
    return Event(stage=stage, kind=kind, ts=at, cycle_id=cycle, severity=severity, fields=fields)


def cycle(at: datetime, *, failed: int = 0, cid: str = "", age: float = 0.0) -> Event:
    """A ``report.cycle`` at ``at`` whose market time is ``age`` seconds old."""
    as_of = (at - timedelta(seconds=age)).isoformat()
    return ev("report", "cycle", at, cycle=cid, failed=failed, as_of=as_of)


def write_config(tmp_path: Path, extra: str = OBJECTIVES) -> Path:
    path = tmp_path / "plugins.toml"
    path.write_text(
        f'[kernel]\nstate_dir = "{tmp_path / "state"}"\n\n'
        f'[components]\nmetrics_sinks = ["jsonl"]\nnotifiers = ["log"]\n\n{extra}',
        encoding="utf-8",
    )
    return path


@pytest.fixture
def load(tmp_path: Path) -> Callable[..., Settings]:
    """``load(extra_toml)``: Settings for tmp_path."""

    def make(extra: str = OBJECTIVES) -> Settings:
        return Settings.load(config_path=write_config(tmp_path, extra), environ={})

    return make
