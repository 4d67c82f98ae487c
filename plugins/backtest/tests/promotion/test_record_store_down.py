"""`backtest --record` (the default) with the configured store unreachable fails before
anything runs: one line, exit 1, the password masked, no outputs written."""

from __future__ import annotations

from bt_handdata import write_hand_csv

DOWN = (
    '[kernel]\nstate_dir = "{state}"\n[components]\nstore = "postgres"\n'
    'strategist = "sma-cross"\nmetrics_sinks = []\n[strategist.sma-cross]\nfast = 2\n'
    'slow = 3\n[store]\nurl = "postgresql://u:hunter2@127.0.0.1:1/db"\n'
)


def test_record_with_the_store_down_fails_before_the_run(tmp_path, cli):
    data = write_hand_csv(tmp_path / "data" / "AAA.csv")
    cfg = tmp_path / "down.toml"
    cfg.write_text(DOWN.format(state=tmp_path / "op"))
    for extra in ((), ("--param", "fast=2,3")):  # one backtest, then a sweep
        out_dir = tmp_path / f"out{len(extra)}"
        code, out, err = cli(
            "backtest", "--strategist", "sma-cross", "--data", str(data), "--out",
            str(out_dir), *extra, cfg=cfg,
        )  # fmt: skip
        assert code == 1, (out, err)
        assert len(err.strip().splitlines()) == 1 and "hunter2" not in err + out
        assert "unexpected" not in err.lower()
        # nothing ran: no metrics, no report, no combination's directory
        assert not out_dir.exists() or not any(out_dir.rglob("metrics.json"))
    # --no-record does not need the store
    code, _, err = cli(
        "backtest", "--strategist", "sma-cross", "--data", str(data), "--no-record", cfg=cfg
    )
    assert code == 0, err
