"""``tradekernel ops batch``: steps, the status artifact, exit codes, the lock."""

from __future__ import annotations

import fcntl
import importlib.util
import json
import os
import subprocess
import sys
import time
from datetime import timedelta
from decimal import Decimal
from importlib.metadata import entry_points
from pathlib import Path

import pytest
from tradekernel.api import GuardVerdict, Intent, IntentState, Settings, Store, read_events, utcnow
from tradekernel_ops import batch as ops

main = entry_points(group="console_scripts")["tradekernel"].load()  # the CLI, in-process
REPORT_INSTALLED = importlib.util.find_spec("tradekernel_report") is not None
REPORT = "ok" if REPORT_INSTALLED else "skipped"
"""What the report step does here: it writes the report when tradekernel-report is installed."""


def run(capsys, *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as info:
        main(list(args))
    out, err = capsys.readouterr()
    return info.value.code, out, err


def status_of(state_dir: Path) -> dict:
    return json.loads((state_dir / "ops-status.json").read_text(encoding="utf-8"))


def test_all_steps_run_and_the_status_artifact_is_written(capsys, write_config, state_dir):
    config = str(write_config())
    code, out, err = run(capsys, "--config", config, "ops", "batch")
    assert code == 0, err
    status = status_of(state_dir)
    assert status["schema"] == "ops-status.v1"
    assert (status["result"], status["exit_code"], status["failed"]) == ("ok", 0, [])
    assert [(s["name"], s["result"]) for s in status["steps"]] == [
        ("reconcile", "ok"),
        ("alerts", "ok"),
        ("incidents", "skipped"),
        ("report", REPORT),
    ]
    assert status["started"] <= status["finished"]
    assert all(s["duration_ms"] >= 0 and s["detail"] for s in status["steps"])
    leftovers = [p.name for p in state_dir.rglob("*.tmp")]
    assert leftovers == []
    assert "reconcile" in out and "ok (status:" in out
    events = list(read_events(Settings.load(config, environ={}), stage="ops", kind="batch"))
    assert [(e.fields["result"], e.fields["exit_code"]) for e in events] == [("ok", 0)]


@pytest.mark.skipif(not REPORT_INSTALLED, reason="tradekernel-report is not installed")
def test_the_report_step_writes_the_daily_report(capsys, write_config, state_dir):
    code, _, err = run(capsys, "--config", str(write_config()), "ops", "batch")
    assert code == 0, err
    status = status_of(state_dir)
    report_step = next(s for s in status["steps"] if s["name"] == "report")
    assert report_step["result"] == "ok"
    day = status["started"][:10]
    report = json.loads((state_dir / "reports" / f"{day}.json").read_text(encoding="utf-8"))
    assert report["schema"] == "report.v1" and report["date"] == day
    assert (state_dir / "reports" / f"{day}.html").read_text().lstrip().startswith("<!")
    assert sorted(report_step["data"]["files"]) == sorted(
        str(state_dir / "reports" / f"{day}.{fmt}") for fmt in ("json", "html")
    )
    assert [p.name for p in state_dir.rglob("*.tmp")] == []


def test_a_failing_step_is_isolated_and_named(capsys, write_config, state_dir, tmp_path):
    config = str(write_config(broker="no_such_broker"))
    custom = tmp_path / "out" / "status.json"
    code, out, err = run(
        capsys, "--config", config, "ops", "batch", "--json", "--status-file", str(custom)
    )
    assert code == 1
    assert "step(s) failed: reconcile" in err
    status = json.loads(custom.read_text(encoding="utf-8"))
    assert status == json.loads(out)
    assert (status["result"], status["exit_code"], status["failed"]) == ("failed", 1, ["reconcile"])
    steps = {s["name"]: s for s in status["steps"]}
    assert steps["reconcile"]["result"] == "failed"
    assert "no_such_broker" in steps["reconcile"]["detail"]
    assert steps["alerts"]["result"] == "ok" and steps["report"]["result"] == REPORT
    assert not (state_dir / "ops-status.json").exists()
    events = list(read_events(Settings.load(config, environ={}), stage="ops"))
    assert [(e.fields["result"], e.severity.value) for e in events] == [("failed", "error")]


def test_only_alerts_firing_exits_4(capsys, write_config, state_dir):
    config = str(write_config(extra="[alerts]\nguard_denials_max = 0\n"))
    settings = Settings.load(config, environ={})
    from tradekernel.api import Kernel

    with Kernel(settings) as kernel:
        kernel.emit("risk", "verdict", intent_id="i1", guard="g", allow=False, code="c")
    code, _, err = run(capsys, "--config", config, "ops", "batch")
    assert code == 4 and "alert rule(s) firing" in err
    status = status_of(state_dir)
    assert (status["result"], status["exit_code"]) == ("firing", 4)
    alerts = next(s for s in status["steps"] if s["name"] == "alerts")
    assert alerts["result"] == "firing" and alerts["data"]["firing"] == ["guard_denials"]


def test_reconcile_resolves_a_stuck_intent_through_the_paper_broker(
    capsys, write_config, state_dir
):
    config = str(write_config(extra='[alerts]\nstuck_after = "1m"\n'))
    then = utcnow() - timedelta(minutes=10)
    intent = Intent.create(
        symbol="AAA", side="buy", quantity=1, rationale="t", as_of=then, strategist="rules"
    )
    with Store.open(state_dir, clock=lambda: then) as store:
        store.add_intent(intent, cycle_id="c1", broker="paper", ref_price=Decimal("100"))
        store.transition(
            intent.id,
            IntentState.PENDING_APPROVAL,
            actor="guards",
            verdicts=[GuardVerdict.allowed("g")],
        )
        store.transition(intent.id, IntentState.APPROVED, actor="tester")
        store.transition(intent.id, IntentState.EXECUTING, actor="executor")
    code, _, err = run(capsys, "--config", config, "ops", "batch")
    status = status_of(state_dir)
    steps = {s["name"]: s for s in status["steps"]}
    assert steps["reconcile"]["data"]["reconciled"] == 1, steps["reconcile"]
    with Store.open(state_dir) as store:
        state = store.get(intent.id).state
    assert state is not IntentState.EXECUTING
    # reconcile ran first, so the alerts step no longer sees a stuck intent
    assert steps["alerts"]["result"] == "ok", steps["alerts"]
    assert code == 0, err


def test_report_step_is_skipped_without_the_report_module(monkeypatch, write_config, state_dir):
    real = ops.importlib.util.find_spec
    monkeypatch.setattr(
        ops.importlib.util,
        "find_spec",
        lambda name, *a: None if name == "tradekernel_report" else real(name, *a),
    )
    settings = Settings.load(write_config(), environ={})
    result = ops.run_batch(settings, lambda: None, steps=[("report", ops.step_report)])
    assert [(s.name, s.result, s.detail) for s in result.steps] == [
        ("report", "skipped", "tradekernel-report is not installed")
    ]
    assert result.exit_code == 0 and status_of(state_dir)["result"] == "ok"


def test_a_raising_step_does_not_stop_the_next(write_config, state_dir):
    settings = Settings.load(write_config(), environ={})

    def boom(ctx):
        raise RuntimeError("disk on fire")

    steps = [("first", boom), ("second", lambda ctx: ("ok", "fine", {}))]
    result = ops.run_batch(settings, lambda: None, steps=steps)
    assert [(s.name, s.result) for s in result.steps] == [("first", "failed"), ("second", "ok")]
    assert result.steps[0].detail == "RuntimeError: disk on fire"
    assert result.exit_code == 1 and status_of(state_dir)["failed"] == ["first"]


def test_a_held_lock_refuses_at_once_with_exit_3(capsys, write_config, state_dir):
    config = str(write_config())
    state_dir.mkdir(parents=True)
    with open(state_dir / "ops.lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        fh.write("4242\n")
        fh.flush()
        code, out, err = run(capsys, "--config", config, "ops", "batch")
    assert code == 3
    assert "another ops batch is running" in err and "pid 4242" in err
    assert out == "" and not (state_dir / "ops-status.json").exists()
    code, _, _ = run(capsys, "--config", config, "ops", "batch")  # released: runs
    assert code == 0


# A batch whose first step waits for a file: whichever process takes the lock holds it
# until the test releases it, so the other must meet the lock.
RACER = """
import sys, time
from pathlib import Path
from importlib.metadata import entry_points
import tradekernel_ops.batch as ops
release = Path(sys.argv[1])
def wait(ctx):
    deadline = time.monotonic() + 30
    while not release.exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    return "ok", "waited", {}
ops.STEPS = [("wait", wait)] + ops.STEPS
main = entry_points(group="console_scripts")["tradekernel"].load()
main(["--config", sys.argv[2], "ops", "batch"])
"""


def test_two_concurrent_batches_exactly_one_runs(write_config, state_dir, tmp_path):
    config = str(write_config())
    release = tmp_path / "release"
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRADEKERNEL_")}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", RACER, str(release), config],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for _ in range(2)
    ]
    try:
        deadline = time.monotonic() + 25
        while all(p.poll() is None for p in procs) and time.monotonic() < deadline:
            time.sleep(0.02)
        loser = next(p for p in procs if p.poll() is not None)
        assert status_of(state_dir)["result"] == "running"
    finally:
        release.touch()
        outputs = [p.communicate(timeout=30) for p in procs]
    codes = sorted(p.returncode for p in procs)
    assert codes == [0, 3], outputs
    assert loser.returncode == 3
    assert "another ops batch is running" in outputs[procs.index(loser)][1]
    status = status_of(state_dir)
    assert status["result"] == "ok"
    assert [s["name"] for s in status["steps"]] == [
        "wait",
        "reconcile",
        "alerts",
        "incidents",
        "report",
    ]


def test_reconcile_is_skipped_while_the_agent_runs(tmp_path):
    """A running agent owns its executing intents: the batch must not reconcile them."""
    import fcntl
    import os

    from tradekernel.api import Kernel, Settings, utcnow
    from tradekernel_ops.batch import BatchContext, step_reconcile

    settings = Settings.load(environ={"TRADEKERNEL_KERNEL__STATE_DIR": str(tmp_path)})
    fd = os.open(tmp_path / "run.lock", os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # as `tradekernel run` holds it
    try:
        ctx = BatchContext(settings, lambda: Kernel(settings), utcnow())
        result, detail, _ = step_reconcile(ctx)
        ctx.kernel().close()
    finally:
        os.close(fd)
    assert result == "skipped" and "agent is running" in detail
