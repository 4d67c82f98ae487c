"""``tradekernel budget status|report`` over recorded event files (hostile ones
included), with no state at all, and the ``[budgets]`` configuration's errors, fuzzed."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tradekernel.api import ConfigError, Settings

from .conftest import BUDGETS, record, run, walk, write, write_config


def test_status_with_no_state_yet_is_ok(tmp_path, capsys):
    config = str(write_config(tmp_path))
    code, out, err = run(capsys, "--config", config, "budget", "status", "--json")
    assert (code, err) == (0, "")
    data = json.loads(out)
    assert [n["node"] for n in data["nodes"]] == ["hydrate", "strategize"]
    assert data["brokers"][0] == {
        "broker": "paper",
        "limit": 100,
        "used": None,
        "remaining": None,
        "refused": 0,
        "refused_last_hour": 0,
        "seen": None,
    }
    assert data["prompt"]["limit"] == 2000 and data["problems"] == []
    code, out, _ = run(capsys, "--config", config, "budget", "status")
    assert code == 0 and "broker paper: 100/min, used -" in out


def test_status_shows_every_budget_and_exits_4_when_one_is_spent(tmp_path, capsys):
    config = str(
        write_config(
            tmp_path,
            BUDGETS + ("[strategist.llm]\nbudget_daily_tokens = 1000\nbudget_daily_usd = 0.5\n"),
        )
    )
    now = datetime.now(UTC)
    at = now - timedelta(minutes=10)
    write(
        tmp_path / "state",
        [
            record(
                at, "budget", "node_over", "c1", node="hydrate", elapsed_ms=450.0, budget_ms=200.0
            ),
            record(at, "budget", "broker_usage", "c1", broker="paper", limit=100, used=42),
            record(at, "budget", "broker_refused", broker="paper", method="orders", refused=3),
            record(
                at,
                "budget",
                "prompt_trimmed",
                strategist="llm",
                tokens_before=3000,
                tokens_after=1900,
                limit=2000,
                dropped=["bars:ZZZ"],
                fits=True,
            ),
            record(
                at,
                "strategist_llm",
                "decision",
                provider="p",
                model="m",
                ok=True,
                latency_ms=5.0,
                total_tokens=600,
                reported_cost_usd=0.2,
            ),
            record(
                at,
                "strategist_llm",
                "decision",
                provider="p",
                model="m",
                ok=True,
                latency_ms=5.0,
                prompt_tokens=300,
                completion_tokens=150,
                estimated_cost_usd=0.1,
            ),
            "not json {",
            record(at, "budget", "node_over", node=["hostile"], elapsed_ms="NaN"),
            record(at, "budget", "broker_usage", broker="paper", used=-5),
            record(at, "strategist_llm", "decision", total_tokens=float("inf"), model=None),
        ],
    )
    code, out, err = run(capsys, "--config", config, "budget", "status", "--json")
    assert code == 4, err
    data = json.loads(out)
    hydrate = data["nodes"][0]
    assert (hydrate["over"], hydrate["over_last_hour"], hydrate["worst_ms"]) == (1, 1, 450.0)
    paper = data["brokers"][0]
    assert (paper["used"], paper["remaining"], paper["refused"]) == (42, 58, 3)
    assert data["prompt"]["trimmed"] == 1 and data["prompt"]["last_dropped"] == ["bars:ZZZ"]
    llm = data["llm"]
    assert (llm["decisions"], llm["calls"], llm["tokens"]) == (3, 2, 1050)
    assert (llm["token_limit"], llm["tokens_left"], llm["usd_left"]) == (1000, 0, 0.2)
    assert data["problems"] == [
        "node hydrate: over its budget 1 time(s) in the last hour",
        "broker paper: 3 call(s) refused in the last hour",
        "llm: today's token budget is spent",
    ]
    code, out, err = run(capsys, "--config", config, "budget", "status")
    assert code == 4 and "PROBLEM llm: today's token budget is spent" in out
    assert "3 budget(s) spent or overrun" in err


def _decision(at, digest, tokens, *, hit=False, version="v1", ok=True):
    return record(
        at,
        "strategist_llm",
        "decision",
        provider="p",
        model="m",
        ok=ok,
        latency_ms=1.0,
        cache_hit=hit,
        total_tokens=0 if hit else tokens,
        prompt_version=version,
        estimated_cost_usd=0.0 if hit else tokens / 1e6,
        prompt_digest=digest,
    )


def test_report_replays_the_decisions_against_each_cache_ttl(tmp_path, capsys):
    config = str(write_config(tmp_path, BUDGETS + '[strategist.llm]\ncache_ttl = "0"\n'))
    now = datetime.now(UTC).replace(microsecond=0)
    start = now - timedelta(hours=2)
    records = []
    # the same prompt every 2 minutes for 20 decisions, then 10 distinct prompts
    for i in range(20):
        records.append(_decision(start + timedelta(minutes=2 * i), "same", 1000))
    for i in range(10):
        records.append(_decision(start + timedelta(minutes=50 + i), f"d{i}", 1000, version="v2"))
    records.append(record(start, "executor", "submitted", intent_id="i1"))
    records.append(record(start, "executor", "submitted", intent_id="i2"))
    for n in range(25):
        timings = [("hydrate", 0.1 + n / 1000), ("strategize", 0.3), ("report", 0.01)]
        records += walk(start + timedelta(minutes=n), f"c{n}", timings)
    write(tmp_path / "state", records)
    code, out, err = run(capsys, "--config", config, "budget", "report", "--days", "1", "--json")
    assert code == 0, err
    data = json.loads(out)
    assert (data["decisions"], data["calls"], data["trades"], data["tokens"]) == (30, 30, 2, 30000)
    assert data["cost_per_decision_usd"] == 0.001 and data["cost_per_trade_usd"] == 0.015
    versions = {v["prompt_version"]: v["decisions"] for v in data["prompt_versions"]}
    assert versions == {"v1": 20, "v2": 10}
    ttls = {row["ttl_s"]: row for row in data["cache"]["ttls"]}
    assert ttls[60.0]["hits"] == 0  # two minutes apart: a 1 m cache never hits
    # 5 m: filled at 0, hits at 2 and 4 min, expired at 6 (filled again): 13 of the 20
    assert ttls[300.0]["hits"] == 13 and ttls[300.0]["saved_tokens_pct"] == pytest.approx(43.33)
    # 1 h: the first fills, the next 19 hit (38 minutes)
    assert ttls[3600.0]["hits"] == 19
    assert data["recommendations"][0].startswith(
        "decision cache: would have saved 63.33% of tokens, 63.33% of the cost at TTL 1h "
        "(cache_ttl is 0s now)"
    )
    nodes = {n["node"]: n for n in data["nodes"]}
    assert nodes["strategize"]["samples"] == 25
    assert nodes["strategize"]["p50_ms"] == pytest.approx(300, rel=0.02)
    assert nodes["hydrate"]["p99_ms"] == pytest.approx(124, rel=0.02)
    assert nodes["hydrate"]["budget_ms"] == 200.0
    assert (
        any(
            "strategize: p95" in r and "over its budget 1000" not in r
            for r in data["recommendations"]
        )
        is False
    )
    code, out, _ = run(capsys, "--config", config, "budget", "report", "--days", "1")
    assert code == 0 and "cache at TTL 3600s: 19 hit(s)" in out and "-> decision cache" in out


def _strict(text: str):
    """Parse as RFC 8259 JSON: NaN and Infinity are not JSON."""

    def refuse(constant: str):
        raise ValueError(f"not JSON: {constant}")

    return json.loads(text, parse_constant=refuse)


def test_the_cache_replay_credits_no_saving_for_holds_decided_before_asking(tmp_path, capsys):
    config = str(write_config(tmp_path))
    now = datetime.now(UTC).replace(microsecond=0)
    records = [_decision(now - timedelta(seconds=40), "D", 1000)]
    # the day's token budget spent, the same prompt: 25 holds, no call, nothing spent
    for i in range(25):
        records.append(
            record(
                now - timedelta(seconds=30 - i),
                "strategist_llm",
                "decision",
                model="m",
                ok=False,
                cache_hit=False,
                attempts=0,
                error_type="budget_exhausted",
                prompt_digest="D",
                prompt_version="v1",
            )
        )
    write(tmp_path / "state", records)
    code, out, err = run(capsys, "--config", config, "budget", "report", "--days", "1", "--json")
    assert code == 0, err
    data = _strict(out)
    assert (data["decisions"], data["calls"], data["tokens"]) == (26, 1, 1000)
    assert data["cache"]["replayed"] == 1
    assert all(row["hits"] == 0 and row["saved_tokens"] == 0 for row in data["cache"]["ttls"])
    assert not any("would have saved" in r for r in data["recommendations"])


@pytest.mark.parametrize(
    ("fields", "call"),
    [
        ({"error_type": "prompt_over_budget", "attempts": 0}, False),
        ({"error_type": "prompt_no_candidates", "attempts": 0}, False),
        ({"error_type": "budget_exhausted"}, False),
        ({"error_type": "replay_miss"}, False),
        ({"cache_hit": True, "attempts": 0}, False),
        ({"attempts": 0}, False),
        ({"attempts": 2, "error_type": "provider_timeout"}, True),
        ({"attempts": 1, "total_tokens": 900}, True),
        ({"total_tokens": 900}, True),  # an event without attempts: it cost something
    ],
)
def test_only_decisions_that_reached_the_provider_are_calls(tmp_path, capsys, fields, call):
    config = str(write_config(tmp_path))
    now = datetime.now(UTC)
    fields = {"model": "test/model", "cache_hit": False, "prompt_digest": "D", **fields}
    write(tmp_path / "state", [record(now, "strategist_llm", "decision", **fields)])
    code, out, err = run(capsys, "--config", config, "budget", "status", "--json")
    assert code in (0, 4), err
    assert _strict(out)["llm"]["calls"] == int(call)
    code, out, err = run(capsys, "--config", config, "budget", "report", "--days", "1", "--json")
    assert code == 0, err
    assert _strict(out)["calls"] == int(call)


@pytest.mark.parametrize(
    "fields",
    [
        {"model": "m", "total_tokens": 1e308, "prompt_version": "v1", "attempts": 1},
        {"model": "m", "total_tokens": 10, "reported_cost_usd": 1e308, "attempts": 1},
        {"model": "m", "prompt_tokens": 1e308, "completion_tokens": 1e308, "attempts": 1},
        {"model": "m", "total_tokens": 10, "estimated_cost_usd": 1.7e308, "attempts": 1},
    ],
)
def test_huge_finite_figures_neither_crash_nor_leave_strict_json(tmp_path, capsys, fields):
    config = str(write_config(tmp_path, BUDGETS + "[strategist.llm]\nbudget_daily_usd = 5\n"))
    now = datetime.now(UTC)
    write(
        tmp_path / "state",
        [
            record(now - timedelta(seconds=2), "strategist_llm", "decision", **fields),
            record(now - timedelta(seconds=1), "strategist_llm", "decision", **fields),
        ],
    )
    for args in (("status",), ("report", "--days", "1")):
        code, out, err = run(capsys, "--config", config, "budget", *args)
        assert code in (0, 4) and "unexpected" not in err, err
        code, out, err = run(capsys, "--config", config, "budget", *args, "--json")
        assert code in (0, 4) and "unexpected" not in err, err
        data = _strict(out)
        figures = data["llm"] if args == ("status",) else data
        assert figures["tokens"] <= 20 and (figures["usd"] or 0) <= 1  # unreadable: skipped


def test_report_says_not_enough_data(tmp_path, capsys):
    config = str(write_config(tmp_path))
    now = datetime.now(UTC)
    write(tmp_path / "state", [_decision(now - timedelta(minutes=5), "a", 100)])
    code, out, _ = run(capsys, "--config", config, "budget", "report", "--json")
    data = json.loads(out)
    assert code == 0 and data["recommendations"] == [
        "decision cache: not enough data (1 decisions with a prompt digest; 20 needed)"
    ]
    code, out, err = run(capsys, "--config", config, "budget", "report", "--days", "0")
    assert code == 2 and "--days" in err


def test_a_node_slower_than_its_budget_is_named(tmp_path, capsys):
    config = str(write_config(tmp_path))
    start = datetime.now(UTC) - timedelta(hours=1)
    records = []
    for n in range(30):
        records += walk(start + timedelta(minutes=n), f"c{n}", [("hydrate", 0.5), ("scan", 0.1)])
    write(tmp_path / "state", records)
    _, out, _ = run(capsys, "--config", config, "budget", "report", "--json")
    recs = json.loads(out)["recommendations"]
    assert any(r.startswith("node hydrate: p95 ") and "over its budget 200 ms" in r for r in recs)


HOSTILE = st.one_of(
    st.integers(min_value=-(10**20), max_value=10**20),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(
        [
            "\u0663\u0660\u0660ms",
            "\uff11s",
            "-1s",
            "nan",
            "inf",
            "1e999s",
            "0",
            "0ms",
            "250ms",
            "1h",
            "3601s",
            "",
            " 5 s ",
            "5\x1b[31ms",
            "²s",
        ]
    ),
    st.booleans(),
)


def _section(nodes: object, brokers: object, tokens: object, reserve: object) -> dict:
    return {
        "nodes": {"hydrate": nodes},
        "brokers": {"paper": brokers},
        "prompt_tokens": tokens,
        "order_reserve": reserve,
    }


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(HOSTILE, HOSTILE, HOSTILE, HOSTILE)
def test_budget_settings_accept_only_sane_values(tmp_path, nodes, brokers, tokens, reserve):
    try:
        loaded = Settings.load(
            config_path=write_config(tmp_path, ""),
            overrides={"budgets": _section(nodes, brokers, tokens, reserve)},
            environ={},
        )
    except ConfigError as exc:
        text = str(exc)
        assert "\n" not in text and "[budgets" in text
        return
    budgets = loaded.budgets
    limit = float(budgets.nodes["hydrate"])
    assert math.isfinite(limit) and 0 < limit <= 3600
    assert isinstance(budgets.brokers["paper"], int) and 1 <= budgets.brokers["paper"] <= 10**6
    assert isinstance(budgets.prompt_tokens, int) and 1 <= budgets.prompt_tokens <= 10**7
    assert 0 <= budgets.order_reserve < 1
    for value in (nodes, brokers, tokens, reserve):
        assert not isinstance(value, bool)
        if isinstance(value, str):
            assert value.isascii()


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ('[budgets.nodes]\nhydrate = "-1s"', "expected a duration like"),
        ("[budgets.nodes]\nhydrate = -1", "non-negative duration"),
        ('[budgets.nodes]\nhydrate = "0"', "above 0 and at most 1h"),
        ('[budgets.nodes]\nhydrate = "2h"', "above 0 and at most 1h"),
        ('[budgets.nodes]\nhydrate = "\u0663\u0660\u0660ms"', "expected a duration like"),
        ('[budgets.nodes]\n"Bad Node" = "1s"', "is not a node name"),
        ("[budgets.brokers]\npaper = 0", "from 1 to 1000000"),
        ("[budgets.brokers]\npaper = 1.5", r"\[budgets\] brokers\.paper: expected int"),
        ("[budgets.brokers]\npaper = 0", r"\[budgets\] brokers\.paper: expected requests"),
        ('[budgets]\nnodes = "x"', r"\[budgets\] nodes: expected a table, got str"),
        ("[budgets]\nbrokers = []", r"\[budgets\] brokers: expected a table, got list"),
        ("[budgets]\nnodes = 3", r"\[budgets\] nodes: expected a table, got int"),
        ('[budgets.nodes]\nhydrate = "0s"', r"\[budgets\] nodes\.hydrate: expected a duration"),
        ("[budgets.brokers]\npaper = 1", r"brokers\.paper: 1 request per minute cannot keep"),
        ("[budgets]\nprompt_tokens = 99999999999", "from 1 to 10000000"),
        ("[budgets]\norder_reserve = 1.0", "from 0 to below 1"),
        ("[budgets]\norder_reserve = nan", "from 0 to below 1"),
        ("[budgets]\nprompt_token = 5", "unknown key"),
        ("[budgets.brokers]\npapr = 5", "not a selected broker .*did you mean 'paper'"),
    ],
)
def test_budget_config_errors_name_the_key(tmp_path, toml, message):
    with pytest.raises(ConfigError, match=message) as info:
        Settings.load(config_path=write_config(tmp_path, toml), environ={})
    assert "[budgets" in str(info.value) and "plugins.toml" in str(info.value)


def test_environment_overrides_are_parsed_strictly(tmp_path):
    path = write_config(tmp_path, "")
    with pytest.raises(ConfigError, match="prompt_tokens"):
        Settings.load(
            config_path=path,
            environ={"TRADEKERNEL_BUDGETS__PROMPT_TOKENS": "\u0663\u0660\u0660\u0660"},
        )
    loaded = Settings.load(config_path=path, environ={"TRADEKERNEL_BUDGETS__PROMPT_TOKENS": "3000"})
    assert loaded.budgets.prompt_tokens == 3000
