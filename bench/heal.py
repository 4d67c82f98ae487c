"""Self-healing and escalation: what the agent pays per cycle for them. The heal pass
after a healthy idle cycle (:meth:`Healer.after_cycle`: every playbook decides, nothing
is due), the same while degraded (the healthy count is written to the ``heal`` control
record until it reaches ``healthy_cycles``), and the incidents' escalation check at a
cycle boundary (:meth:`Incidents.tick` over ten open incidents, no step due: at one
clock reading, and with the clock moving), each against the idle cycle's kernel-time
target."""

from __future__ import annotations

import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from .runtime import IDLE_TARGET_US

INCIDENTS = 10
CONFIG = """
[kernel]
state_dir = "{state}"
[components]
notifiers = ["log"]
metrics_sinks = []
[notify]
routes = []
[incidents]
escalation = [{{notify = "log", after = "0m"}}, {{notify = "log", after = "1h"}}]
"""


def _per_call_us(fn: Any, calls: int, repeats: int = 7) -> tuple[float, float]:
    """(min, median) µs per call of ``fn()`` over ``repeats`` runs of ``calls`` calls."""
    runs = []
    for _ in range(repeats):
        started = time.process_time()
        for _ in range(calls):
            fn()
        runs.append((time.process_time() - started) / calls * 1e6)
    return min(runs), statistics.median(runs)


def _heal() -> tuple[tuple[float, float], tuple[float, float]]:
    from tradekernel.api import IntentState

    from ._idle import idle_runtime

    with idle_runtime() as runtime:
        for _ in range(300):
            runtime.run_cycle()
        healer = runtime.healer

        def executing() -> list[Any]:
            return runtime._listed(
                "executing", lambda: runtime.store.list_intents(state=IntentState.EXECUTING)
            )

        idle = _per_call_us(lambda: healer.after_cycle(healthy=True, executing=executing), 20_000)
        runtime.control.enter_degrade(reason="bench")
        healer.settings = type(healer.settings)(healthy_cycles=10**9, degrade_min=10**9)

        def degraded() -> None:
            healer.after_cycle(healthy=True, executing=executing)

        counting = _per_call_us(degraded, 500, repeats=5)
    return idle, counting


def _escalation() -> tuple[tuple[float, float], tuple[float, float]]:
    from loguru import logger
    from tradekernel.api import Event, Kernel, Settings
    from tradekernel_ops.incidents.observer import build

    with tempfile.TemporaryDirectory() as tmp:
        cfg = Path(tmp) / "plugins.toml"
        cfg.write_text(CONFIG.format(state=Path(tmp) / "state"), encoding="utf-8")
        start = datetime(2030, 1, 2, tzinfo=UTC)
        with Kernel(Settings.load(cfg, environ={})) as kernel:
            incidents = build(kernel, clock=lambda: start, emit=lambda *a, **k: None)
            later = start + timedelta(minutes=5)  # step 1 sent, step 2 not due
            logger.disable("tradekernel")  # step 1 goes to the log notifier: not the table's
            try:
                for i in range(INCIDENTS):
                    fields = {"rule": f"r{i}"}
                    incidents.observe(
                        Event(stage="alerts", kind="fired", severity="error", fields=fields)
                    )
                assert incidents.tick(later) == []
            finally:
                logger.enable("tradekernel")
            same = _per_call_us(lambda: incidents.tick(later), 500)
            ticks = iter(range(10**9))

            def advancing() -> None:  # two checks a cycle, one cycle a second
                incidents.tick(later + timedelta(seconds=next(ticks) // 2))

            moving = _per_call_us(advancing, 500)
            incidents.close()
    return same, moving


def run() -> list[dict]:
    from tradekernel_ops.incidents.store import PERSIST_AFTER

    (idle_min, idle_med), (deg_min, deg_med) = _heal()
    (esc_min, esc_med), (mov_min, mov_med) = _escalation()
    return [
        {
            "figure": "heal: playbook decisions after a healthy idle cycle (after_cycle, "
            f"nothing due), process CPU, median of 7 (min {idle_min:.2f})",
            "value": round(idle_med, 2),
            "unit": "µs",
            "peer": "idle-cycle target (kernel)",
            "peer_value": IDLE_TARGET_US,
        },
        {
            "figure": "heal: the same while degraded, counting towards leaving it (one heal "
            f"record write per cycle), median of 5 (min {deg_min:.0f})",
            "value": round(deg_med, 1),
            "unit": "µs",
            "peer": "idle-cycle target (kernel)",
            "peer_value": IDLE_TARGET_US,
        },
        {
            "figure": f"incidents: escalation check per tick, {INCIDENTS} open incidents, no "
            f"step due (Incidents.tick), median of 7 (min {esc_min:.0f})",
            "value": round(esc_med, 1),
            "unit": "µs",
            "peer": "idle-cycle target (kernel)",
            "peer_value": IDLE_TARGET_US,
        },
        {
            "figure": f"incidents: the same with the clock moving (two checks a cycle, one "
            f"cycle a second: progress written every {PERSIST_AFTER:g} s), median of 7 "
            f"(min {mov_min:.0f})",
            "value": round(mov_med, 1),
            "unit": "µs",
            "peer": "idle-cycle target (kernel)",
            "peer_value": IDLE_TARGET_US,
        },
    ]
