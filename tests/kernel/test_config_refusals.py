"""``run`` refuses everything ``config check`` reports, before it writes anything.

Both commands go through one check (``Kernel.check``): every component section names a
registered component, every selected component builds with its config in check-only
mode. Each case runs the real CLI on a real ``plugins.toml`` with the installed
first-party plugins and asserts the exit code, the one-line message and that the state
directory was never created.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

VALID = """\
[kernel]
state_dir = "{state}"
approval_mode = "auto"

[components]
broker = "paper"
market_data = "synthetic"
strategist = "sma-cross"
guards = ["max_order_notional"]
metrics_sinks = ["jsonl"]
notifiers = []

[runtime]
watchlist = ["AAA", "BBB"]

[market_data.synthetic]
symbols = ["AAA", "BBB"]
bars = 40

[strategist.sma-cross]
fast = 3
slow = 8

[guard.max_order_notional]
limit = 50000
"""


def _edit(old: str, new: str) -> Callable[[str], str]:
    def apply(text: str) -> str:
        assert old in text
        return text.replace(old, new)

    return apply


def _append(extra: str) -> Callable[[str], str]:
    return lambda text: text + extra


REPLAY = (
    'market_data = "synthetic"',
    'market_data = "replay"',
)

# (id, config edit, environment, message after "Error: " — "{dir}" is the test directory)
CASES = [
    (
        "slack-without-its-url-variable",
        _edit("notifiers = []", 'notifiers = ["slack"]'),
        {},
        "plugins.toml: [notifier.slack] webhook_url_env: environment variable "
        "SLACK_WEBHOOK_URL is not set",
    ),
    (
        "synthetic-without-symbols",
        _edit('symbols = ["AAA", "BBB"]', "symbols = []"),
        {},
        "plugins.toml: [market_data.synthetic] symbols: expected at least one symbol",
    ),
    (
        "replay-csv-missing-a-column",
        lambda t: _edit(*REPLAY)(t) + '[market_data.replay]\npaths = ["{dir}/data/AAA.csv"]\n',
        {},
        "plugins.toml: [market_data.replay]: {dir}/data/AAA.csv:1: missing column(s) Close "
        "(expected "
        "Date,Open,High,Low,Close,Volume; found Date,Open,High,Low,Volume)",
    ),
    (
        "replay-csv-empty",
        lambda t: _edit(*REPLAY)(t) + '[market_data.replay]\npaths = ["{dir}/data/BBB.csv"]\n',
        {},
        "plugins.toml: [market_data.replay]: {dir}/data/BBB.csv: replay file is empty "
        "(expected a header line)",
    ),
    (
        "misspelt-component-section",
        _append("[guard.max_order_notionl]\nlimit = 5\n"),
        {},
        "plugins.toml: [guard.max_order_notionl]: no installed plugin registers guard "
        "'max_order_notionl' (did you mean 'max_order_notional'?) (registered guards: ",
    ),
    (
        "approval-ttl-zero",
        _edit('approval_mode = "auto"', 'approval_mode = "auto"\napproval_ttl = "0s"'),
        {},
        "plugins.toml: [kernel] approval_ttl: expected a positive duration, got 0s",
    ),
    (
        "interval-zero",
        _edit('watchlist = ["AAA", "BBB"]', 'watchlist = ["AAA", "BBB"]\ninterval = 0'),
        {},
        "plugins.toml: [runtime] interval: expected a positive duration, got 0s",
    ),
    (
        "duration-not-finite",
        _edit('watchlist = ["AAA", "BBB"]', 'watchlist = ["AAA", "BBB"]\ninterval = nan'),
        {},
        "plugins.toml: [runtime] interval: expected a finite duration, got nan",
    ),
    (
        "duration-too-long",
        _edit('approval_mode = "auto"', 'approval_mode = "auto"\napproval_ttl = "99999999999d"'),
        {},
        "plugins.toml: [kernel] approval_ttl: expected a duration of at most 36500d, "
        "got '99999999999d'",
    ),
    (
        "guard-listed-twice",
        _edit(
            'guards = ["max_order_notional"]',
            'guards = ["max_order_notional", "kill_switch", "max_order_notional"]',
        ),
        {},
        "plugins.toml: [components] guards: 'max_order_notional' is listed twice",
    ),
    (
        "required-skill-not-selected",
        _edit(
            "notifiers = []", 'notifiers = []\nrequired_skills = ["market.quote", "market.news"]'
        ),
        {},
        "plugins.toml: [components] required_skills: 'market.news' is not selected in skills",
    ),
    (
        "unknown-strategist",
        _edit('strategist = "sma-cross"', 'strategist = "sma_crosss"'),
        {},
        "plugins.toml: [components] strategist: strategist 'sma_crosss' is not available "
        "(did you mean 'sma-cross'?) (registered strategists: hold, llm, sma-cross)",
    ),
    (
        "unknown-guard",
        _edit('guards = ["max_order_notional"]', 'guards = ["max_order_notionl"]'),
        {},
        "plugins.toml: [components] guards: guard 'max_order_notionl' is not available "
        "(did you mean 'max_order_notional'?) (registered guards: ",
    ),
    (
        "unknown-skill",
        _edit("notifiers = []", 'notifiers = []\nskills = ["market.quote", "market.barz"]'),
        {},
        "plugins.toml: [components] skills: skill 'market.barz' is not available "
        "(did you mean 'market.bars'?) (registered skills: ",
    ),
    (
        "unknown-guard-from-the-environment",
        lambda t: t,
        {"TRADEKERNEL_COMPONENTS__GUARDS": '["max_positon"]'},
        "environment TRADEKERNEL_COMPONENTS__GUARDS: [components] guards: guard "
        "'max_positon' is not available (did you mean 'max_position'?) (registered guards: ",
    ),
    (
        "underscore-spelling-of-a-hyphenated-component",
        lambda t: t,
        {"TRADEKERNEL_STRATEGIST__SMA_CROSS__FAST": "20"},
        # today the variable is ignored and the run goes on with fast = 3
        "plugins.toml: [strategist.sma-cross] slow: must be greater than fast (20), got 8",
    ),
    (
        "both-spellings-set",
        lambda t: t,
        {
            "TRADEKERNEL_STRATEGIST__SMA_CROSS__FAST": "2",
            "TRADEKERNEL_STRATEGIST__SMA-CROSS__FAST": "3",
        },
        "environment TRADEKERNEL_STRATEGIST__SMA-CROSS__FAST and "
        "TRADEKERNEL_STRATEGIST__SMA_CROSS__FAST both set strategist.sma_cross.fast "
        "(hyphens and underscores name the same key): unset one of them",
    ),
    (
        "both-spellings-in-the-file",
        _append("[strategist.sma_cross]\nfast = 2\n"),
        {},
        "plugins.toml: [strategist.sma-cross] and [strategist.sma_cross] name the same "
        "component: keep one",
    ),
    (
        "state-dir-empty",
        _edit('state_dir = "{state}"', 'state_dir = ""'),
        {},
        "plugins.toml: [kernel] state_dir: expected a non-empty path, got ''",
    ),
    # invalid plugin configurations: refused before state.db, run.lock or paper.db exist
    (
        "llm-provider-zero-timeout",
        lambda t: (
            _edit(
                'strategist = "sma-cross"',
                'strategist = "llm"\nllm_provider = "openai-compatible"',
            )(t)
            + '[llm_provider.openai-compatible]\nbase_url = "http://127.0.0.1:9/v1"\nmodel = "m"\n'
            "read_timeout = 0\n"
        ),
        {},
        "plugins.toml: [llm_provider.openai-compatible] read_timeout: expected a positive "
        "duration, got 0s",
    ),
    (
        "paper-cash",
        _append("[broker.paper]\ncash = -5\n"),
        {},
        "plugins.toml: [broker.paper] cash: expected a positive number, got -5",
    ),
    (
        "guard-limit",
        _edit("limit = 50000", "limit = 0"),
        {},
        "plugins.toml: [guard.max_order_notional] limit: expected a positive number, got 0",
    ),
    (
        "jsonl-unknown-key",
        _append("[metrics_sink.jsonl]\ndirr = 'x'\n"),
        {},
        "plugins.toml: [metrics_sink.jsonl] dirr: unknown key (did you mean 'dir'?)",
    ),
    (
        "sqlite-sink-bad-batch",
        lambda t: (
            _edit('metrics_sinks = ["jsonl"]', 'metrics_sinks = ["jsonl", "sqlite"]')(t)
            + "[metrics_sink.sqlite]\nbatch_size = 0\n"
        ),
        {},
        "plugins.toml: [metrics_sink.sqlite] batch_size: expected a positive number, got 0",
    ),
]


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("SLACK_WEBHOOK_URL", raising=False)
    data = tmp_path / "data"
    data.mkdir()
    (data / "AAA.csv").write_text("Date,Open,High,Low,Volume\n2024-01-02,1,2,0.5,100\n")
    (data / "BBB.csv").write_text("")
    return tmp_path


def _write(workdir: Path, edit: Callable[[str], str]) -> Path:
    text = edit(VALID)
    text = text.replace("{state}", str(workdir / "state")).replace("{dir}", str(workdir))
    path = workdir / "plugins.toml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("edit", "environ", "expected"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_run_refuses_what_config_check_reports_and_writes_nothing(
    workdir, cli, monkeypatch, edit, environ, expected
) -> None:
    _write(workdir, edit)
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    expected = "Error: " + expected.replace("{dir}", str(workdir))
    for command in (["config", "check"], ["run", "--cycles", "3", "-q"]):
        code, out, err = cli(*command)
        assert code == 2, (command, out, err)
        assert out == ""
        assert err.startswith(expected), (command, err)
        assert err.count("\n") == 1 and "unexpected" not in err
    assert not (workdir / "state").exists()
    assert sorted(p.name for p in workdir.iterdir()) == ["data", "plugins.toml"]


@pytest.mark.parametrize(
    ("every", "expected"),
    [
        ("0s", "Error: Invalid value for '--every': expected a positive duration, got '0s'"),
        (
            "99999999999d",
            "Error: Invalid value for '--every': expected a duration of at most 36500d, "
            "got '99999999999d'",
        ),
    ],
)
def test_run_every_must_be_positive_and_bounded(workdir, cli, every, expected) -> None:
    _write(workdir, lambda t: t)
    code, out, err = cli("run", "--every", every, "--cycles", "2")
    assert code == 2 and out == ""
    assert err.startswith(expected) and err.count("\n") == 1
    assert "unexpected" not in err and "Traceback" not in err
    assert not (workdir / "state").exists()


def test_a_config_that_is_not_utf8_is_one_line(workdir, cli) -> None:
    path = _write(workdir, lambda t: t)
    path.write_bytes(path.read_bytes() + b"# caf\xe9\n")
    offset = len(path.read_bytes()) - 2
    for command in (["config", "check"], ["run"]):
        code, out, err = cli(*command)
        assert code == 2 and out == ""
        assert err == (
            f"Error: plugins.toml: not UTF-8 text (byte 0xe9 at offset {offset}); "
            "save the file as UTF-8\n"
        )
    assert not (workdir / "state").exists()


def test_a_first_party_section_of_a_blocked_plugin_is_only_a_warning(workdir, cli) -> None:
    _write(workdir, _append('[plugins]\nblock = ["tradekernel-slack"]\n[notifier.slack]\n'))
    code, _, err = cli("config", "check")
    assert code == 0
    assert err == (
        "warning: [notifier.slack]: no installed plugin registers this component; "
        "the section is ignored\n"
    )
    assert not (workdir / "state").exists()


def test_the_underscore_spelling_sets_the_hyphenated_component(workdir, cli, monkeypatch):
    _write(workdir, lambda t: t)
    monkeypatch.setenv("TRADEKERNEL_STRATEGIST__SMA_CROSS__FAST", "2")
    code, out, _ = cli("config", "show", "--json")
    assert code == 0
    rows = {row["key"]: row for row in json.loads(out)["settings"]}
    assert rows["strategist.sma-cross.fast"]["value"] == 2
    assert rows["strategist.sma-cross.fast"]["source"] == (
        "env:TRADEKERNEL_STRATEGIST__SMA_CROSS__FAST"
    )


def tk(cfg: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tradekernel", "--config", str(cfg), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": "/usr/bin:/bin"},
    )


def test_config_check_writes_nothing_so_run_opens_the_account_it_configures(workdir):
    """The real CLI: ``config check`` on a valid configuration leaves no state behind, so
    the paper account is opened by the first ``run`` with the cash configured then."""
    cfg = _write(workdir, lambda t: t)
    checked = tk(cfg, "config", "check")
    assert checked.returncode == 0, checked.stderr
    assert checked.stdout.startswith("ok: mode=paper")
    assert not (workdir / "state").exists()

    cfg.write_text(cfg.read_text() + "[broker.paper]\ncash = 5000\n")
    ran = tk(cfg, "run", "--json")
    assert ran.returncode == 0, ran.stderr
    assert json.loads(ran.stdout)["equity"] == "5000"  # --json keeps the exact amount
    assert (workdir / "state" / "paper.db").exists()


def test_run_refuses_a_misspelt_guard_section_in_a_subprocess(workdir):
    cfg = _write(workdir, _append("[guard.max_order_notionl]\nlimit = 5\n"))
    ran = tk(cfg, "run", "--cycles", "2")
    assert ran.returncode == 2
    assert ran.stdout == ""
    assert ran.stderr.startswith(
        f"Error: {cfg.name}: [guard.max_order_notionl]: no installed plugin registers guard "
        "'max_order_notionl' (did you mean 'max_order_notional'?)"
    )
    assert not (workdir / "state").exists()
