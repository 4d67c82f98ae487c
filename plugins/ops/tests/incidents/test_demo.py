"""The demo's incident part: opened, escalated once, then acknowledged at the CLI."""

from __future__ import annotations

import json

from tradekernel.testing import invoke
from tradekernel_ops.incidents import demo


def test_the_demo_opens_escalates_once_and_is_acknowledged(tmp_path, capsys):
    state = tmp_path / "incidents"
    assert demo.main([str(state)]) == 0
    out = capsys.readouterr().out
    assert "step 1: log sent" in out and "step 2: log sent" in out
    args = ["--config", str(state / "plugins.toml")]
    env = {"TRADEKERNEL_KERNEL__STATE_DIR": str(state)}
    assert invoke([*args, "incidents", "ack", "1", "--by", "demo"], env=env).exit_code == 0
    shown = json.loads(invoke([*args, "incidents", "show", "1", "--json"], env=env).stdout)
    assert shown["state"] == "acknowledged"
    assert [s["step"] for s in shown["steps"]] == [1, 2]
    assert [e["what"] for e in shown["timeline"]][-1] == "acknowledged"


def test_the_demo_needs_its_state_dir(capsys):
    assert demo.main([]) == 2
    assert "usage" in capsys.readouterr().err
