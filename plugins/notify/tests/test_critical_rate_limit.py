"""A critical notification is never dropped by the rate limit (a kill switch after a
burst of routine fills still reaches the operator); dedup still applies, and every
such delivery is counted in the log, its event and the report; on each store."""

from __future__ import annotations

import importlib.util
from importlib.metadata import entry_points

import pytest
from tradekernel import hookimpl
from tradekernel.api import Kernel, read_events, utcnow
from tradekernel_notify import notifications

main = entry_points(group="console_scripts")["tradekernel"].load()  # the CLI, in-process


@pytest.fixture
def store_toml(any_store: str) -> str:
    return any_store


CONFIG = (
    '[components]\nmetrics_sinks = ["jsonl"]\n\n[notify]\nrate_limit = { count = 2, per = "1h" }\n'
)


class Observer:
    def __init__(self) -> None:
        self.events = []

    @hookimpl
    def on_event(self, event):
        self.events.append(event)


def tk(capsys, *args: str) -> tuple[int, str]:
    capsys.readouterr()
    with pytest.raises(SystemExit) as info:
        main(["--config", *args])
    return info.value.code, capsys.readouterr().out


def burst_then_kill_switch(settings, capsys) -> list:
    """Three routine fills (the budget is two), then the kill switch on, on again and
    off through ``tradekernel control``; returns the notification log."""
    kernel = Kernel(settings)
    observer = Observer()
    kernel.registry.pm.register(observer, name="test-observer")
    try:
        for n in range(3):  # routine fills use up the budget
            kernel.emit("monitor", "fill", fill_id=f"fill-{n}", symbol="AAA", quantity="1")
        service = notifications(kernel)
        assert [r.status for r in service.log()] == ["sent", "sent", "rate_limited"]
        config = str(settings.config_path)
        for state in ("on", "on", "off"):  # on twice: dedup; off is a warning: limited
            code, _ = tk(
                capsys, config, "control", "kill-switch", state,
                "--by", "risk-officer", "--reason", "runaway losses" if state == "on" else "ok",
            )  # fmt: skip
            assert code == 0
        return service.log()
    finally:
        kernel.close()


def test_kill_switch_after_rate_limit_exhaustion_is_delivered_and_counted(make_settings, capsys):
    settings = make_settings(CONFIG)
    log = burst_then_kill_switch(settings, capsys)
    assert [(r.event_kind, r.status, r.rate_limit_bypassed) for r in log[3:]] == [
        ("control.kill_switch", "sent", True),
        ("control.kill_switch", "dedup_suppressed", False),
        ("control.kill_switch", "rate_limited", False),
    ]
    delivered = read_events(settings, stage="notify", kind="delivered")
    assert [e.fields.get("rate_limit_bypassed") for e in delivered] == [None, None, True]

    code, out = tk(capsys, str(settings.config_path), "notify", "log")
    assert code == 0
    assert "critical: rate limit bypassed" in out
    assert out.splitlines()[-1] == (
        "# dedup_suppressed=1, rate_limit_bypassed=1, rate_limited=2, sent=3"
    )


@pytest.mark.skipif(
    importlib.util.find_spec("tradekernel_report") is None,
    reason="tradekernel-report is not installed",
)
def test_the_daily_report_counts_the_bypass(make_settings, capsys):
    from tradekernel_report import daily_report

    settings = make_settings(CONFIG)
    burst_then_kill_switch(settings, capsys)
    section = daily_report(settings, utcnow().date())["notifications"]
    assert (section["sent"], section["rate_limited"], section["rate_limit_bypassed"]) == (3, 2, 1)
