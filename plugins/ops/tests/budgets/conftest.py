"""Shared helpers for the budget tests: settings with budgets, and recorded events
written with explicit times (every clock here is injected)."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import pytest
from tradekernel.api import Settings

BUDGETS = """
[budgets]
prompt_tokens = 2000
[budgets.nodes]
hydrate = "200ms"
strategize = "1s"
[budgets.brokers]
paper = 100
"""

main = entry_points(group="console_scripts")["tradekernel"].load()


def write_config(tmp_path: Path, extra: str = BUDGETS) -> Path:
    path = tmp_path / "plugins.toml"
    path.write_text(
        f'[kernel]\nstate_dir = "{tmp_path / "state"}"\n\n'
        f'[components]\nmetrics_sinks = ["jsonl"]\nnotifiers = []\n\n{extra}',
        encoding="utf-8",
    )
    return path


@pytest.fixture
def load(tmp_path: Path) -> Callable[..., Settings]:
    """``load(extra_toml)``: Settings for tmp_path."""

    def make(extra: str = BUDGETS) -> Settings:
        return Settings.load(config_path=write_config(tmp_path, extra), environ={})

    return make


def record(at: datetime, stage: str, kind: str, cycle: str = "", **fields: Any) -> dict:
    return {
        "schema": "event.v1",
        "ts": at.isoformat(),
        "run_id": "r",
        "cycle_id": cycle,
        "stage": stage,
        "kind": kind,
        "severity": "info",
        "fields": fields,
    }


def write(state: Path, records: list[dict | str]) -> None:
    """Each record into its UTC day's jsonl file (a str is written as a raw line)."""
    for r in records:
        day = (r["ts"] if isinstance(r, dict) else datetime.now(UTC).isoformat())[:10]
        path = state / "events" / f"{day}.jsonl"
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as fh:
            fh.write((json.dumps(r) if isinstance(r, dict) else r) + "\n")


def walk(start: datetime, cycle: str, timings: list[tuple[str, float]]) -> list[dict]:
    """The commander's events of one cycle through ``timings`` (node, seconds), in
    order, as a full trace records them."""
    out = [record(start, "commander", "route", cycle, node=timings[0][0], action="route")]
    at = start
    for i, (node, seconds) in enumerate(timings):
        at = at + timedelta(seconds=seconds)
        nxt = timings[i + 1][0] if i + 1 < len(timings) else "__end__"
        out.append(record(at, "commander", "transition", cycle, node=node, next=nxt))
    out.append(record(at, "commander", "end", cycle, node=timings[-1][0], action="end"))
    return out


def run(capsys, *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as info:
        main(list(args))
    out, err = capsys.readouterr()
    return info.value.code, out, err


T0 = datetime(2030, 1, 2, tzinfo=UTC)
