"""``tradekernel run`` with two instances of one strategist, then ``intents list --strategy``."""

from __future__ import annotations

import json
from pathlib import Path

from .conftest import CLI_CONFIG
from .test_cli_run import tk

TWO = CLI_CONFIG.replace('strategist = "sma-cross"', 'strategists = ["fast", "slow"]').replace(
    "[strategist.sma-cross]\nfast = 3\nslow = 8\n",
    '[strategist.fast]\nuse = "sma-cross"\nfast = 2\nslow = 5\n\n'
    '[strategist.slow]\nuse = "sma-cross"\nfast = 5\nslow = 12\n\n'
    '[portfolio]\nconflict = "net"\n',
)


def test_two_sma_cross_instances_trade_side_by_side(tmp_path: Path):
    cfg = tmp_path / "plugins.toml"
    cfg.write_text(TWO.format(state=tmp_path / "state", bars=120))
    result = tk(cfg, "run", "--cycles", "120", "--json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["cycles"] == 120 and summary["orders_submitted"] > 0

    every = json.loads(tk(cfg, "intents", "list", "--json").stdout)["intents"]
    names = {i["intent"]["strategist"] for i in every}
    assert {"fast", "slow"} <= {n for name in names for n in name.split("+")}
    for strategy in ("fast", "slow"):
        listed = tk(cfg, "intents", "list", "--strategy", strategy, "--json")
        assert listed.returncode == 0, listed.stderr
        mine = json.loads(listed.stdout)["intents"]
        assert mine, f"{strategy} proposed nothing"
        assert all(strategy in i["intent"]["strategist"].split("+") for i in mine)
    assert tk(cfg, "intents", "list", "--strategy", "nobody").stdout.strip() == "no intents"

    events = [
        json.loads(line)
        for path in (tmp_path / "state" / "events").glob("*.jsonl")
        for line in path.read_text().splitlines()
    ]
    decisions = {e["fields"]["strategist"] for e in events if e["kind"] == "decision"}
    assert decisions >= {"fast", "slow"}
    for event in events:  # every event the multi-strategy run wrote is in the catalogue
        if event["stage"] == "portfolio":
            assert event["kind"] in ("conflict", "sized", "size_dropped")
    check = tk(cfg, "events", "validate")
    assert check.returncode == 0, check.stdout + check.stderr
