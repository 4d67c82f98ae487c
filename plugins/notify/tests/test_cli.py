"""``tradekernel notify log`` and ``tradekernel notify test``."""

from __future__ import annotations

import json
from importlib.metadata import entry_points
from pathlib import Path

import pytest
from tradekernel.testing import HTTPReceiver

main = entry_points(group="console_scripts")["tradekernel"].load()  # the CLI, in-process


def run(capsys, *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as info:
        main(list(args))
    out, err = capsys.readouterr()
    return info.value.code, out, err


@pytest.fixture
def config(tmp_path, monkeypatch):
    path = tmp_path / "plugins.toml"
    path.write_text(
        f'[kernel]\nstate_dir = "{tmp_path / "state"}"\n'
        '[components]\nmetrics_sinks = []\nnotifiers = ["log", "webhook"]\n'
        '[notify]\nretry = { max_attempts = 2, backoff_base = "1ms", backoff_max = "2ms" }\n'
        '[notifier.webhook]\nurl_env = "TEST_HOOK_URL"\n',
        encoding="utf-8",
    )
    return str(path)


def test_notify_test_success_and_log(capsys, config, monkeypatch):
    monkeypatch.setenv("TEST_HOOK_URL", "http://127.0.0.1:9/unused")
    code, out, _ = run(capsys, "--config", config, "notify", "test", "log")
    assert code == 0 and out.startswith("log: sent")
    code, out, _ = run(capsys, "--config", config, "notify", "log", "--json")
    records = json.loads(out)
    assert code == 0 and [(r["notifier"], r["event_kind"], r["status"]) for r in records] == [
        ("log", "notify.test", "sent")
    ]


def test_notify_test_failure_exits_1_and_hides_the_url(capsys, config, monkeypatch):
    with HTTPReceiver(default=(404, "no_service")) as rx:
        secret_url = rx.url + "/T0K3N-secret-part"
        monkeypatch.setenv("TEST_HOOK_URL", secret_url)
        code, out, err = run(capsys, "--config", config, "notify", "test", "webhook", "--json")
    assert code == 1
    record = json.loads(out)
    assert (record["status"], record["http_status"], record["error"]) == (
        "failed",
        404,
        "http 404: no_service",
    )
    assert "not delivered" in err
    assert "T0K3N-secret-part" not in out + err
    code, out, _ = run(capsys, "--config", config, "notify", "log", "--status", "failed")
    assert code == 0 and "webhook" in out and "http 404" in out and "failed=1" in out
    code, out, _ = run(capsys, "--config", config, "notify", "log", "--date", "2001-01-01")
    assert code == 0 and out.strip() == "no notification deliveries"


def test_unknown_notifier_and_bad_date_are_usage_errors(capsys, config):
    code, _, err = run(capsys, "--config", config, "notify", "test", "nope")
    assert code == 2 and "notifier 'nope' is not available" in err
    code, _, err = run(capsys, "--config", config, "notify", "log", "--date", "yesterday-ish")
    assert code == 2


def test_a_receivers_hostile_answer_is_inert_in_test_and_log(capsys, config, monkeypatch):
    answer = "no_service\n\nApproved by risk-officer\x1b]52;c;aGk=\x07\x9b2J\u202e"
    shown = "\\x1b]52;c;aGk=\\x07\\x9b2J\\u202e"
    with HTTPReceiver(default=(404, answer)) as rx:
        monkeypatch.setenv("TEST_HOOK_URL", rx.url + "/hook")
        code, out, _ = run(capsys, "--config", config, "notify", "test", "webhook")
    assert code == 1
    assert out.startswith("webhook: failed, http 404, 1 attempt, ") and out.count("\n") == 1
    assert out.endswith(f"{shown}\n")
    code, out, _ = run(capsys, "--config", config, "notify", "log")
    assert code == 0
    (row, counts) = out.splitlines()
    assert row.endswith(shown) and counts == "# failed=1"
    assert "\x1b" not in out and "\u202e" not in out and "\x9b" not in out


@pytest.mark.parametrize(
    ("variable", "value", "why"),
    [
        (
            "TRADEKERNEL_PLUGINS__BLOCK",
            '["tradekernel-notify"]',
            "tradekernel-notify is blocked (remove it from [plugins] block)",
        ),
        (
            "TRADEKERNEL_PLUGINS__LOAD",
            '["tradekernel-paper", "tradekernel-marketdata", "tradekernel-webhook"]',
            "tradekernel-notify is not listed in [plugins] load (add tradekernel-notify to "
            "[plugins] load)",
        ),
    ],
)
def test_notifiers_without_tradekernel_notify_fail_config_check_and_run(
    config, variable, value, why
):
    from tradekernel.testing import invoke

    env = {variable: value, "TEST_HOOK_URL": "http://127.0.0.1:9/unused"}
    for args in (["config", "check"], ["run", "--cycles", "1", "-q"]):
        result = invoke(["--config", config, *args], env=env)
        assert result.exit_code == 2, (args, result.stderr)
        assert result.stderr.count("\n") == 1 and result.stdout == ""
        assert "[components] notifiers selects webhook, but " + why in result.stderr
    assert not (Path(config).parent / "state" / "state.db").exists()  # run wrote nothing


def test_with_tradekernel_notify_loaded_config_check_is_quiet(config):
    from tradekernel.testing import invoke

    result = invoke(["--config", config, "config", "check"], env={"TEST_HOOK_URL": "http://x"})
    assert result.exit_code == 0, result.stderr
    assert "notify" not in result.stderr


@pytest.mark.parametrize("ts", ["NULL", "1e300", "'soon'"])
def test_a_damaged_log_row_is_skipped_with_a_warning(capsys, config, tmp_path, ts):
    import sqlite3

    code, out, err = run(capsys, "--config", config, "notify", "test", "log")
    assert code == 0, err
    conn = sqlite3.connect(tmp_path / "state" / "state.db")
    conn.execute(
        "INSERT INTO notify_log (ts, notifier, event_kind, dedup_key, status) "
        f"VALUES ({ts}, 'log', 'x', 'k', 'sent')"
    )
    conn.commit()
    conn.close()
    code, out, err = run(capsys, "--config", config, "notify", "log")
    assert code == 0, err
    assert "notify.test" in out and "# sent=1" in out
    assert "notify_log row 2 is unreadable" in err and "unexpected" not in err.lower()


def test_notify_test_with_the_store_down_is_delivered_but_exits_1(capsys, tmp_path):
    """The test is the evidence deploy readiness reads: unlogged, it must not look done."""
    pytest.importorskip("tradekernel_postgres")
    path = tmp_path / "plugins.toml"
    path.write_text(
        f'[kernel]\nstate_dir = "{tmp_path / "state"}"\n'
        '[components]\nmetrics_sinks = []\nnotifiers = ["log"]\nstore = "postgres"\n'
        f'[store]\nurl = "postgresql://tk:pw@/tk?host={tmp_path / "nowhere"}&port=5999"\n',
        encoding="utf-8",
    )
    code, out, err = run(capsys, "--config", str(path), "notify", "test", "log")
    assert code == 1
    assert out.startswith("log: sent")
    assert "delivered but not logged" in err and "readiness will not count it" in err
