"""A critical notification is never dropped by the rate limit (a kill switch after a
burst of routine fills still reaches the operator); dedup still applies, and every
such delivery is counted in the log, its event and the report."""

from __future__ import annotations

import pytest
from tradekernel import hookimpl
from tradekernel.cli import main
from tradekernel.kernel import Kernel
from tradekernel.runtime.control import Control
from tradekernel.store import Store
from tradekernel_report.strategy import notifications


class Observer:
    def __init__(self) -> None:
        self.events = []

    @hookimpl
    def on_event(self, event):
        self.events.append(event)


def test_kill_switch_after_rate_limit_exhaustion_is_delivered_and_counted(make_settings, capsys):
    settings = make_settings('[notify]\nrate_limit = { count = 2, per = "1h" }\n')
    kernel = Kernel(settings)
    observer = Observer()
    kernel.registry.pm.register(observer, name="test-observer")
    for n in range(3):  # routine fills use up the budget
        kernel.emit("monitor", "fill", fill_id=f"fill-{n}", symbol="AAA", quantity="1")
    service = kernel.notify.service()
    assert [r.status for r in service.log()] == ["sent", "sent", "rate_limited"]

    with Store.open(settings.state_dir) as store:
        control = Control(store, settings.runtime, emit=kernel.emit)
        control.set_kill_switch(True, actor="risk-officer", reason="runaway losses")
        control.set_kill_switch(True, actor="risk-officer", reason="runaway losses")  # dedup
        control.set_kill_switch(False, actor="risk-officer", reason="ok")  # warning: limited

    log = service.log()
    assert [(r.event_kind, r.status, r.rate_limit_bypassed) for r in log[3:]] == [
        ("control.kill_switch", "sent", True),
        ("control.kill_switch", "dedup_suppressed", False),
        ("control.kill_switch", "rate_limited", False),
    ]
    delivered = [e for e in observer.events if (e.stage, e.kind) == ("notify", "delivered")]
    assert [e.fields.get("rate_limit_bypassed") for e in delivered] == [None, None, True]
    section = notifications(observer.events)
    assert (section["sent"], section["rate_limited"], section["rate_limit_bypassed"]) == (3, 2, 1)
    kernel.close()

    with pytest.raises(SystemExit) as info:
        main(["--config", str(settings.config_path), "notify", "log"])
    out = capsys.readouterr().out
    assert info.value.code == 0
    assert "critical: rate limit bypassed" in out
    assert out.splitlines()[-1] == (
        "# dedup_suppressed=1, rate_limit_bypassed=1, rate_limited=2, sent=3"
    )
