"""Shared helpers for the alert tests: a state dir with a plugins.toml and hand-made
event days written in the jsonl sink's layout."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from tradekernel.api import Settings

DAY = date(2030, 1, 2)
NOW = datetime(2030, 1, 2, 12, 0, tzinfo=UTC)


def event(
    stage: str, kind: str, *, at: datetime | None = None, severity: str = "info", **fields: Any
) -> dict[str, Any]:
    """One event.v1 record."""
    return {
        "schema": "event.v1",
        "ts": (at or NOW - timedelta(hours=1)).isoformat(),
        "run_id": "run_t",
        "cycle_id": "",
        "stage": stage,
        "kind": kind,
        "severity": severity,
        "fields": fields,
    }


def write_events(state_dir: Path, records: list[dict[str, Any]], day: date = DAY) -> Path:
    """Append ``records`` to ``state_dir/events/<day>.jsonl``, one second apart from
    09:00 on, after the lines already there (so write order is time order)."""
    path = state_dir / "events" / f"{day.isoformat()}.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    done = len(path.read_text(encoding="utf-8").splitlines()) if path.exists() else 0
    start = datetime(day.year, day.month, day.day, 9, tzinfo=UTC) + timedelta(seconds=done)
    with path.open("a", encoding="utf-8") as fh:
        for i, record in enumerate(records):
            if isinstance(record, str):
                fh.write(record + "\n")
                continue
            record = dict(record)
            record["ts"] = (start + timedelta(seconds=i)).isoformat()
            fh.write(json.dumps(record) + "\n")
    return path


def llm(ok: bool, latency_ms: float = 100.0) -> dict[str, Any]:
    return event("strategist_llm", "decision", provider="p", ok=ok, latency_ms=latency_ms)


def write_config(
    tmp_path: Path, extra: str = "", sinks: str = '["jsonl"]', notifiers: str = '["log"]'
) -> Path:
    path = tmp_path / "plugins.toml"
    path.write_text(
        f'[kernel]\nstate_dir = "{tmp_path / "state"}"\n\n'
        f"[components]\nmetrics_sinks = {sinks}\nnotifiers = {notifiers}\n\n{extra}",
        encoding="utf-8",
    )
    return path


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    return tmp_path / "state"


@pytest.fixture
def load(tmp_path: Path) -> Callable[..., Settings]:
    """``load(extra_toml, environ=None, sinks='["jsonl"]')``: Settings for tmp_path."""

    def make(
        extra: str = "", environ: dict[str, str] | None = None, sinks: str = '["jsonl"]'
    ) -> Settings:
        return Settings.load(write_config(tmp_path, extra, sinks), environ=environ or {})

    return make


class _Helpers:
    DAY = DAY
    NOW = NOW
    event = staticmethod(event)
    write_events = staticmethod(write_events)
    write_config = staticmethod(write_config)
    llm = staticmethod(llm)


@pytest.fixture
def h() -> type[_Helpers]:
    """The helpers above (test modules cannot import conftest under importlib mode)."""
    return _Helpers
