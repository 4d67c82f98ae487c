"""Fixtures for the audit tests: a state dir with journal rows and events on chosen UTC
days (written by the real jsonl and sqlite sinks), a config file, and the real CLI."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from tradekernel.api import Event, Intent, Settings, Store

HMAC_ENV = "AUDIT_TEST_HMAC_KEY"
HMAC_SECRET = "hmac-secret-value-7f3a9c1e5b2d4068"
OTHER_SECRET = "another-hmac-secret-value-11223344"
DAY = "2026-03-02"
DAY2 = "2026-03-03"
AUDIT_HMAC = f'[audit]\nhmac_key_env = "{HMAC_ENV}"\nretention = "1d"\n'


class AuditEnv:
    """A state directory, a config file naming it, and ways to fill and inspect both."""

    def __init__(self, tmp_path: Path, capsys: Any) -> None:
        self.tmp = tmp_path
        self.state_dir = tmp_path / "state"
        self.config = tmp_path / "plugins.toml"
        self.capsys = capsys
        self._counter = itertools.count()
        self.configure(AUDIT_HMAC)

    def configure(self, audit: str, *, state_dir: Path | None = None) -> Path:
        """(Re)write the config: jsonl + sqlite sinks, and ``audit`` as the [audit] part."""
        self.config.write_text(
            f'[kernel]\nstate_dir = "{state_dir or self.state_dir}"\n\n'
            '[components]\nmetrics_sinks = ["jsonl", "sqlite"]\nnotifiers = []\n\n' + audit
        )
        return self.config

    def settings(self) -> Settings:
        import os

        return Settings.load(self.config, environ=dict(os.environ))

    def cli(self, *args: str) -> tuple[int, str, str]:
        """Run the real CLI entry point: (exit code, stdout, stderr)."""
        from tradekernel.testing import invoke

        result = invoke(["--config", str(self.config), *args])
        return result.exit_code, result.stdout, result.stderr

    # -- filling the live state ----------------------------------------------------

    def clock_on(self, day: str) -> Callable[[], datetime]:
        start = datetime.fromisoformat(f"{day}T10:00:00+00:00")
        return lambda: start + timedelta(seconds=next(self._counter))

    def seed(self, day: str, *, intents: int = 2, events: int = 3) -> list[str]:
        """Journal rows (intents proposed then pending) and events on UTC ``day``."""
        ids = []
        clock = self.clock_on(day)
        with Store.open(self.state_dir, clock=clock) as store:
            for n in range(intents):
                intent = Intent.create(
                    symbol=f"S{n}",
                    side="buy",
                    quantity=n + 1,
                    strategist="test",
                    as_of=clock(),
                    rationale=f"{day} #{n}",
                )
                store.add_intent(intent, cycle_id=f"cyc-{day}", broker="paper")
                store.transition(
                    intent.id, "pending_approval", expected_from="proposed", actor="test"
                )
                ids.append(intent.id)
            store.set_control("kill_switch", False, actor="op", reason=day)
        self.emit(day, events)
        return ids

    def emit(self, day: str, count: int) -> None:
        """``count`` events on ``day`` through the real jsonl and sqlite sinks."""
        from tradekernel_jsonl import JsonlSink
        from tradekernel_sqlite_sink import SqliteSink

        clock = self.clock_on(day)
        jsonl = JsonlSink(self.state_dir / "events")
        sqlite = SqliteSink(self.state_dir / "state.db")
        try:
            for n in range(count):
                event = Event(
                    stage="report", kind="cycle", fields={"cycles": n}, ts=clock(), run_id="r1"
                )
                jsonl.write(event)
                sqlite.write(event)
        finally:
            jsonl.close()
            sqlite.close()

    def jsonl_file(self, day: str) -> Path:
        return self.state_dir / "events" / f"{day}.jsonl"

    def sqlite_rows(self, day: str) -> int:
        import sqlite3

        conn = sqlite3.connect(self.state_dir / "state.db")
        try:
            return conn.execute("SELECT COUNT(*) FROM events WHERE date = ?", (day,)).fetchone()[0]
        finally:
            conn.close()

    def bundle(self, day: str) -> Path:
        return self.state_dir / "archives" / day

    def manifest(self, day: str) -> dict[str, Any]:
        return json.loads((self.bundle(day) / "manifest.json").read_text())


@pytest.fixture
def env(tmp_path: Path, capsys: Any, monkeypatch: pytest.MonkeyPatch) -> AuditEnv:
    monkeypatch.setenv(HMAC_ENV, HMAC_SECRET)
    return AuditEnv(tmp_path, capsys)
