"""``tradekernel policy``: check, sign, verify, test (exit 4 on a mismatch), diff over a
recorded week of the agent's intents, and explain."""

from __future__ import annotations

import json
from pathlib import Path

from tradekernel.testing import invoke

from .conftest import EXAMPLE, HMAC_ENV, HMAC_KEY, POLICY_HEAD, write

ENV = {HMAC_ENV: HMAC_KEY}

CAP = """
[[rule]]
id = "cap"
effect = "deny"
code = "order_notional_exceeded"
when = {{ all = [
    {{ field = "intent.notional", op = ">", value = {cap} }},
    {{ field = "intent.reduces", op = "==", value = false }},
] }}
"""

CASES = """
[[case]]
name = "small order passes"
expect = "allow"
intent = { symbol = "AAA", side = "buy", quantity = 10 }
context = { as_of = 2024-06-03T15:00:00Z, quote = { last = 60 } }

[[case]]
name = "large order denied"
expect = "deny"
code = "order_notional_exceeded"
rule = "cap"
intent = { symbol = "AAA", side = "buy", quantity = 100 }
context = { as_of = 2024-06-03T15:00:00Z, quote = { last = 60 } }
"""


def agent_config(tmp_path: Path, policy: Path) -> Path:
    """A week of hourly synthetic bars, sma-cross, the policy as the only guard."""
    return write(
        tmp_path / "plugins.toml",
        f"""
[kernel]
state_dir = "{tmp_path / "state"}"
approval_mode = "auto"

[components]
broker = "paper"
market_data = "synthetic"
strategist = "sma-cross"
guards = ["policy"]
notifiers = []
metrics_sinks = ["jsonl"]

[runtime]
watchlist = ["AAA", "BBB"]
bars_lookback = 20

[market_data.synthetic]
symbols = ["AAA", "BBB"]
interval = "1h"
bars = 168
seed = 3

[strategist.sma-cross]
fast = 3
slow = 8
quantity = 20

[guard.policy]
file = "{policy}"

[audit]
hmac_key_env = "{HMAC_ENV}"
""",
    )


def test_check_sign_verify(tmp_path):
    path = write(tmp_path / "p.toml", POLICY_HEAD + CAP.format(cap=1000))
    cfg = agent_config(tmp_path, path)
    checked = invoke(["policy", "check", str(path)])
    assert checked.exit_code == 0 and "cap" in checked.stdout
    unsigned = invoke(["--config", str(cfg), "policy", "verify", str(path)], env=ENV)
    assert unsigned.exit_code == 4 and "unsigned" in unsigned.stderr
    signed = invoke(["--config", str(cfg), "policy", "sign", str(path), "--by", "bob"], env=ENV)
    assert signed.exit_code == 0, signed
    ok = invoke(["--config", str(cfg), "policy", "verify", str(path)], env=ENV)
    assert ok.exit_code == 0 and "bob" in ok.stdout
    path.write_text(path.read_text() + "\n# a comment is a change too\n")
    tampered = invoke(["--config", str(cfg), "policy", "verify", str(path)], env=ENV)
    assert tampered.exit_code == 4 and "tampered" in tampered.stderr
    bad = write(tmp_path / "bad.toml", POLICY_HEAD + '[[rule]]\nid = "r"\neffect = "x"\n')
    refused = invoke(["--config", str(cfg), "policy", "sign", str(bad)], env=ENV)
    assert refused.exit_code == 2 and "rule r: effect" in refused.stderr
    assert not (tmp_path / "bad.toml.sig").exists()


def test_policy_test_exit_4_lists_each_mismatch(tmp_path):
    path = write(tmp_path / "p.toml", POLICY_HEAD + CAP.format(cap=1000))
    cases = write(tmp_path / "cases.toml", CASES)
    assert invoke(["policy", "test", str(path), "--cases", str(cases)]).exit_code == 0
    loose = write(tmp_path / "loose.toml", POLICY_HEAD + CAP.format(cap=100000))
    wrong = invoke(["policy", "test", str(loose), "--cases", str(cases)])
    assert wrong.exit_code == 4
    assert (
        "FAIL large order denied: expected deny order_notional_exceeded (rule cap), got "
        "allow ok (rule default)" in wrong.stdout
    )
    broken = write(tmp_path / "broken.toml", '[[case]]\nname = "x"\nexpect = "maybe"\n')
    bad = invoke(["policy", "test", str(path), "--cases", str(broken)])
    assert bad.exit_code == 2 and "case 'x': expect" in bad.stderr


def test_diff_over_a_recorded_week_and_explain(tmp_path):
    permissive = write(tmp_path / "permissive.toml", POLICY_HEAD + CAP.format(cap=100000))
    strict = write(tmp_path / "strict.toml", POLICY_HEAD + CAP.format(cap=1000))
    cfg = agent_config(tmp_path, permissive)
    run = invoke(["--config", str(cfg), "run", "--cycles", "168", "--quiet"])
    assert run.exit_code == 0, run.stderr

    from tradekernel.api import Store

    with Store.open(tmp_path / "state") as store:
        records = store.list_intents(limit=10000)
    buys = [r for r in records if str(r.intent.side) == "buy"]
    assert len(buys) >= 3 and all(r.verdicts[-1].rule == "default" for r in buys)
    assert all(r.verdicts[-1].version.startswith("1@") for r in records)

    events = [
        json.loads(line)
        for path in sorted((tmp_path / "state" / "events").glob("*.jsonl"))
        for line in path.read_text().splitlines()
    ]
    verdicts = [e for e in events if (e["stage"], e["kind"]) == ("risk", "verdict")]
    policy_verdicts = [e["fields"] for e in verdicts if e["fields"]["guard"] == "policy"]
    assert len(policy_verdicts) == len(records)
    assert all(f["rule"] == "default" and f["version"].startswith("1@") for f in policy_verdicts)
    assert all("rule" not in e["fields"] for e in verdicts if e["fields"]["guard"] != "policy")
    (loaded,) = [e for e in events if (e["stage"], e["kind"]) == ("policy", "loaded")]
    assert loaded["fields"]["signer"] == "unsigned" and loaded["fields"]["version"] == "1"

    preview = invoke(["--config", str(cfg), "intents", "preview", buys[0].id])
    assert "guard:     policy allow ok allowed by default [rule default 1@" in preview.stdout
    show = invoke(["--config", str(cfg), "intents", "show", buys[0].id])
    assert "verdict: policy allow ok allowed by default [rule default 1@" in show.stdout
    shown = invoke(["--config", str(cfg), "intents", "preview", buys[0].id, "--json"])
    (verdict,) = [v for v in json.loads(shown.stdout)["verdicts"] if v["guard"] == "policy"]
    assert verdict["rule"] == "default" and verdict["version"].startswith("1@")

    same = invoke(["--config", str(cfg), "policy", "diff", str(permissive), str(permissive)])
    assert same.exit_code == 0 and same.stdout.startswith("0 of ")
    result = invoke(
        [
            "--config",
            str(cfg),
            "policy",
            "diff",
            str(permissive),
            str(strict),
            "--since",
            "7d",
            "--json",
        ]
    )
    assert result.exit_code == 0, result.stderr
    diff = json.loads(result.stdout)
    changed = {c["intent_id"] for c in diff["changes"]}
    # every buy (20 units at ~100: notional ~2000) is now denied; sells reduce and still pass
    assert changed == {r.id for r in buys}
    assert diff["replayed"] == len(records)
    first = diff["changes"][0]
    assert first["old"] == "allow ok (rule default)"
    assert first["new"] == "deny order_notional_exceeded (rule cap)"
    assert (first["old_rule"], first["new_rule"]) == ("default", "cap")

    nothing = invoke(
        ["--config", str(cfg), "policy", "diff", str(permissive), str(strict), "--since", "0s"]
    )
    assert nothing.stdout.startswith("0 of 0 ")

    explained = invoke(["--config", str(cfg), "policy", "explain", buys[0].id, "--json"])
    assert explained.exit_code == 0, explained.stderr
    trace = json.loads(explained.stdout)
    (cap,) = trace["rules"]
    assert cap["matched"] is False and set(cap["values"]) == {"intent.notional"}
    assert trace["decision"] == "allow ok (rule default)"
    stricter = invoke(
        ["--config", str(cfg), "policy", "explain", buys[0].id, "--file", str(strict)]
    )
    assert "deny order_notional_exceeded (rule cap)" in stricter.stdout
    assert "note: it was decided by 1@" in stricter.stdout
    assert "intent.notional=" in stricter.stdout and "intent.reduces=False" in stricter.stdout
    missing = invoke(["--config", str(cfg), "policy", "explain", "int_nope"])
    assert missing.exit_code == 1 and "no recorded policy evaluation" in missing.stderr


def test_example_policy_checks(tmp_path):
    assert invoke(["policy", "check", str(EXAMPLE)]).exit_code == 0
