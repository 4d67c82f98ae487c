"""``tradekernel slo status|calibrate`` over recorded event files, hostile ones included,
and ``[slo]`` configuration errors."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from importlib.metadata import entry_points

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tradekernel.api import ConfigError, Settings

from ..budgets.conftest import record, write
from .conftest import write_config

main = entry_points(group="console_scripts")["tradekernel"].load()


def run(capsys, *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as info:
        main(list(args))
    out, err = capsys.readouterr()
    return info.value.code, out, err


def cycles(now: datetime, minutes: int, bad_every: int) -> list[dict]:
    out = []
    for i in range(minutes):
        at = now - timedelta(minutes=minutes - i)
        failed = 1 if bad_every and i % bad_every == bad_every - 1 else 0
        out.append(record(at, "report", "cycle", failed=failed, as_of=at.isoformat()))
    return out


def test_status_reports_budget_and_burn_and_exits_4_while_firing(tmp_path, capsys):
    config = str(write_config(tmp_path))
    now = datetime.now(UTC)
    write(tmp_path / "state", cycles(now, 120, 2))
    code, out, _err = run(capsys, "--config", config, "slo", "status", "--json")
    assert code == 4
    report = json.loads(out)
    cycles_ = next(o for o in report["objectives"] if o["objective"] == "cycles")
    assert cycles_["firing"] == "fast" and cycles_["bad"] == 60 and cycles_["good"] == 60
    assert cycles_["budget_remaining"] == pytest.approx(1 - 50.0)
    assert cycles_["burn_rates"]["1h"] == pytest.approx(50.0, rel=0.05)  # minute buckets
    code, out, _err = run(capsys, "--config", config, "slo", "status")
    assert code == 4 and "FIRING fast" in out and "cycles" in out


def test_status_with_no_events_and_no_objectives(tmp_path, capsys):
    config = str(write_config(tmp_path))
    code, out, _err = run(capsys, "--config", config, "slo", "status", "--json")
    assert code == 0
    assert all(o["budget_remaining"] == 1.0 for o in json.loads(out)["objectives"])
    config = str(write_config(tmp_path, ""))
    code, out, _err = run(capsys, "--config", config, "slo", "status")
    assert code == 0 and "no objectives" in out


def test_malformed_event_files_are_skipped(tmp_path, capsys):
    config = str(write_config(tmp_path))
    now = datetime.now(UTC)
    good = cycles(now, 30, 0)
    hostile = [
        "{not json",
        "\x1b[31m" + "x" * 1000,
        json.dumps(record(now - timedelta(minutes=3), "report", "cycle", failed="lots")),
        json.dumps(record(now - timedelta(minutes=3), "report", "cycle", as_of="\x1b]0;t")),
        json.dumps({**record(now, "report", "cycle"), "ts": "yesterday"}),
        json.dumps(record(now - timedelta(minutes=2), "strategist", "decision", latency_ms=[1])),
        json.dumps(record(now - timedelta(minutes=2), "notify", "failed", notifier=None)),
        '{"schema": "event.v1"}',
    ]
    write(tmp_path / "state", [*good[:10], *hostile, *good[10:]])
    code, out, _err = run(capsys, "--config", config, "slo", "status", "--json")
    assert code == 0, out
    report = {o["objective"]: o for o in json.loads(out)["objectives"]}
    assert report["cycles"]["good"] == 32  # the two parseable hostile cycles count as good
    assert report["notifications"]["bad"] == 1
    assert report["decisions"]["good"] + report["decisions"]["bad"] == 0


def test_calibrate_proposes_from_the_p99_and_shows_what_would_fire(tmp_path, capsys):
    config = str(write_config(tmp_path))
    now = datetime.now(UTC)
    records = cycles(now, 200, 0)
    for i in range(200):
        at = now - timedelta(minutes=200 - i)
        latency = 1000.0 + i * 10  # 1 s .. 2.99 s
        records.append(record(at, "strategist", "decision", strategist="s", latency_ms=latency))
    write(tmp_path / "state", sorted(records, key=lambda r: r["ts"]))
    code, out, _err = run(capsys, "--config", config, "slo", "calibrate", "--days", "2", "--json")
    assert code == 0, out
    report = {o["objective"]: o for o in json.loads(out)["objectives"]}
    decisions = report["decisions"]
    assert decisions["p99"] == pytest.approx(2.97, rel=1e-3)  # the sketch's accuracy
    assert decisions["proposed_threshold"] == pytest.approx(2.97 * 1.2, rel=1e-3)
    assert decisions["observed"] == 1.0 and decisions["would_fire"] == []
    assert report["cycles"]["proposed_target"] == 0.999
    code, out, _err = run(capsys, "--config", config, "slo", "calibrate", "--days", "0")
    assert code == 2


def test_calibrate_shows_what_a_current_target_would_have_fired(tmp_path, capsys):
    config = str(write_config(tmp_path))
    now = datetime.now(UTC)
    write(tmp_path / "state", cycles(now, 240, 4))  # 25% failures
    code, out, _err = run(capsys, "--config", config, "slo", "calibrate", "--days", "1")
    assert code == 0
    line = next(x for x in out.splitlines() if x.startswith("cycles"))
    assert "target 0.99 -> 0.9" in line and "would fire 0 (the current objective: 1)" in line
    assert "current: " in out and "fast" in out


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ('indicator = "cycle_success"\ntarget = 1.5', "target: expected a number between 0 and 1"),
        ('indicator = "cycle_success"\ntarget = 1.0', "target: expected a number between 0"),
        ('indicator = "cycle_success"\ntarget = nan', "target"),
        ('indicator = "cycle_success"\ntarget = true', "target"),
        ('indicator = "cycle_success"\nwindow = "-5m"', "window"),
        ('indicator = "cycle_success"\nwindow = "5m"', "window: expected a duration from 1h"),
        ('indicator = "cycle_success"\nwindow = "1000d"', "window"),
        ('indicator = "cycle_succes"', "did you mean 'cycle_success'"),
        ('indicator = "decision_latency"\nthreshold = 0', "threshold"),
        ('indicator = "cycle_success"\nbogus = 1', "bogus"),
        ("target = 0.9", "indicator"),
    ],
)
def test_hostile_objectives_are_one_line_config_errors(tmp_path, capsys, table, message):
    path = write_config(tmp_path, f"[slo.objectives.x]\n{table}\n")
    with pytest.raises(ConfigError) as info:
        Settings.load(config_path=path, environ={})
    assert message in str(info.value) and "slo" in str(info.value)
    assert "\n" not in str(info.value)
    code, _out, err = run(capsys, "--config", str(path), "slo", "status")
    assert code == 2 and "unexpected" not in err.lower()


@pytest.mark.parametrize(
    "key",
    ["fast_burn = -1", "slow_burn = nan", "clear_after = -1", "min_samples = 0", "fast_burn = inf"],
)
def test_hostile_burn_settings(tmp_path, key):
    path = write_config(tmp_path, f"[slo]\n{key}\n")
    with pytest.raises(ConfigError):
        Settings.load(config_path=path, environ={})


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    target=st.one_of(st.floats(allow_nan=True), st.integers(), st.text(max_size=5)),
    window=st.one_of(st.floats(allow_nan=True), st.integers(), st.text(max_size=6)),
)
def test_any_objective_loads_or_is_a_config_error(tmp_path, target, window):
    def lit(v):
        if isinstance(v, float):
            return (
                "nan"
                if v != v
                else ("inf" if v == float("inf") else "-inf" if v == float("-inf") else repr(v))
            )
        return json.dumps(v)

    table = f"target = {lit(target)}\nwindow = {lit(window)}\n"
    path = write_config(tmp_path, f'[slo.objectives.x]\nindicator = "cycle_success"\n{table}')
    try:
        loaded = Settings.load(config_path=path, environ={})
    except ConfigError:
        return
    o = loaded.slo.objectives["x"]
    assert 0 < o.target < 1 and 3600 <= o.window <= 90 * 86400


@pytest.mark.parametrize("command", ["status", "calibrate"])
def test_an_integer_too_large_for_a_float_is_skipped(tmp_path, capsys, command):
    config = str(write_config(tmp_path))
    now = datetime.now(UTC)
    huge = record(now - timedelta(minutes=1), "strategist", "decision", latency_ms=10**400)
    write(tmp_path / "state", [*cycles(now, 5, 0), huge])
    code, out, err = run(capsys, "--config", config, "slo", command, "--json")
    assert code == 0, err
    assert "unexpected" not in err
    report = {o["objective"]: o for o in json.loads(out)["objectives"]}
    assert report["cycles"]["good" if command == "status" else "samples"] == 5
