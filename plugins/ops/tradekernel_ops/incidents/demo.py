"""The demo's incident, on an injected clock: ``python -m tradekernel_ops.incidents.demo
STATE_DIR`` writes ``STATE_DIR/plugins.toml`` (the log notifier; escalation: log at once,
log again after 10 minutes), then drives a kernel as the agent would: an alert opens an
incident (step 1 sent), a cycle boundary five minutes later sends nothing, one ten
minutes after the alert escalates (step 2). Offline and instant; acknowledge it with
``tradekernel incidents ack 1 --by NAME`` afterwards (scripts/demo does)."""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

CONFIG = """[kernel]
state_dir = "{state_dir}"

[components]
notifiers = ["log"]
metrics_sinks = ["jsonl"]

[notify]
routes = []

[incidents]
escalation = [{{notify = "log", after = "0m"}}, {{notify = "log", after = "10m"}}]
reduce_after = "30m"
"""


def main(argv: list[str] | None = None) -> int:
    from tradekernel.api import Kernel, Settings

    from .observer import build

    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m tradekernel_ops.incidents.demo STATE_DIR", file=sys.stderr)
        return 2
    state_dir = Path(args[0]).resolve()
    state_dir.mkdir(parents=True, exist_ok=True)
    config = state_dir / "plugins.toml"
    config.write_text(CONFIG.format(state_dir=state_dir.as_posix()), encoding="utf-8")
    # The story happened in the quarter hour before now, so that the acknowledgement
    # (on the real clock, afterwards) comes last in the timeline.
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=15)
    now = [start]
    with Kernel(Settings.load(config, environ={})) as kernel:
        kernel.events.clock = lambda: now[0]

        def at(minutes: int, what: str) -> None:
            now[0] = start + timedelta(minutes=minutes)
            print(f"{now[0]:%H:%M}  {what}")

        at(0, "alerts.fired breaker_open (error): opens incident 1, step 1 (log) at once")
        kernel.emit("alerts", "fired", severity="error", rule="breaker_open", detail="open")
        at(5, "cycle boundary: nothing due yet")
        kernel.emit("commander", "end", node="monitor")
        at(10, "cycle boundary: unacknowledged for 10m, escalated to step 2 (log)")
        kernel.emit("commander", "end", node="monitor")
        incidents = build(kernel, clock=lambda: now[0])
        try:
            item = incidents.get(1)
        finally:
            incidents.close()
        for step in item.steps:
            print(f"       step {step['step']}: {step['notifier']} {step['status']}")
    print(f"config: {config}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
