"""``tradekernel alerts check`` / ``alerts rules``: exit codes, alerts.* events, delivery
through a real webhook receiver, deduplicated per rule and day."""

from __future__ import annotations

import json
from importlib.metadata import entry_points

import pytest
from tradekernel.api import Kernel, Settings, read_events, utcnow
from tradekernel.testing import HTTPReceiver
from tradekernel_ops.alerts import check_alerts

main = entry_points(group="console_scripts")["tradekernel"].load()  # the CLI, in-process

WEBHOOK = (
    '[notify]\nretry = { max_attempts = 1, backoff_base = "1ms", backoff_max = "2ms" }\n'
    '[notifier.webhook]\nurl_env = "TEST_ALERT_HOOK"\n'
)


def run(capsys, *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as info:
        main(list(args))
    out, err = capsys.readouterr()
    return info.value.code, out, err


@pytest.fixture
def today():
    return utcnow().date()


@pytest.fixture
def config(tmp_path, h):
    return str(h.write_config(tmp_path, WEBHOOK, notifiers='["webhook"]'))


def _denials(h, n: int) -> list[dict]:
    return [
        h.event("risk", "verdict", intent_id=f"i{i}", guard="g", allow=False, code="c")
        for i in range(n)
    ]


def test_exit_0_when_nothing_fires(capsys, config, state_dir, h, today, monkeypatch):
    monkeypatch.setenv("TEST_ALERT_HOOK", "http://127.0.0.1:9/unused")
    h.write_events(state_dir, _denials(h, 3), day=today)
    code, out, err = run(capsys, "--config", config, "alerts", "check", "--date", str(today))
    assert code == 0, err
    assert "guard_denials" in out and "ok" in out and "firing" not in out
    code, out, _ = run(capsys, "--config", config, "alerts", "check", "--json")
    data = json.loads(out)
    assert code == 0 and data["firing"] == [] and data["profile"] == "default"
    assert {r["name"]: r["value"] for r in data["rules"]}["guard_denials"] == 3


def test_a_firing_rule_exits_4_and_is_delivered_once_across_checks(
    capsys, config, state_dir, h, today, monkeypatch
):
    h.write_events(state_dir, _denials(h, 25), day=today)
    with HTTPReceiver() as rx:
        monkeypatch.setenv("TEST_ALERT_HOOK", rx.url)
        code, out, err = run(capsys, "--config", config, "alerts", "check")
        assert code == 4
        assert "1 alert rule(s) firing: guard_denials" in err
        assert f"notified: webhook sent alerts.fired:guard_denials:{today}" in out
        h.write_events(state_dir, _denials(h, 2), day=today)  # the value changes: still once
        code, out, err = run(capsys, "--config", config, "alerts", "check", "--json")
        assert code == 4
        data = json.loads(out)
        assert data["firing"] == ["guard_denials"]
        assert [(d["notifier"], d["status"]) for d in data["deliveries"]] == [
            ("webhook", "dedup_suppressed")
        ]
        requests = list(rx.requests)
    assert len(requests) == 1
    payload = requests[0].json()
    assert payload["kind"] == "alerts.fired"
    assert payload["dedup_key"] == f"alerts.fired:guard_denials:{today}"
    assert payload["severity"] == "warning"
    assert payload["fields"]["rule"] == "guard_denials"
    assert payload["fields"]["value"] == 25 and payload["fields"]["threshold"] == 20
    settings = Settings.load(config, environ={})
    fired = list(read_events(settings, date=today, stage="alerts", kind="fired"))
    assert [e.fields["value"] for e in fired] == [25, 27]  # every check records its event
    delivered = list(read_events(settings, date=today, stage="notify"))
    assert [e.kind for e in delivered] == ["delivered", "dedup_suppressed"]


def test_no_notify_only_evaluates(capsys, config, state_dir, h, today, monkeypatch):
    monkeypatch.setenv("TEST_ALERT_HOOK", "http://127.0.0.1:9/unused")
    h.write_events(state_dir, _denials(h, 25), day=today)
    code, out, _ = run(capsys, "--config", config, "alerts", "check", "--no-notify")
    assert code == 4 and "notified" not in out
    settings = Settings.load(config, environ={})
    assert list(read_events(settings, date=today, stage="alerts")) == []


def test_a_rule_that_fired_earlier_today_is_resolved(tmp_path, state_dir, h, today):
    settings = Settings.load(h.write_config(tmp_path), environ={})  # the log notifier
    h.write_events(state_dir, _denials(h, 25), day=today)
    with Kernel(settings) as kernel:
        assert [r.name for r in check_alerts(kernel).firing] == ["guard_denials"]
    relaxed = Settings.load(
        h.write_config(tmp_path, "[alerts]\nguard_denials_max = 100\n"), environ={}
    )
    with Kernel(relaxed) as kernel:
        check = check_alerts(kernel)
        assert check.firing == [] and check.resolved == ["guard_denials"]
        assert [(d["notifier"], d["event_kind"], d["status"]) for d in check.deliveries] == [
            ("log", "alerts.resolved", "sent")
        ]
    with Kernel(relaxed) as kernel:
        assert check_alerts(kernel).resolved == []  # the last alerts event is now resolved


def test_bad_date_and_bad_config_exit_2(capsys, config, tmp_path):
    code, _, err = run(capsys, "--config", config, "alerts", "check", "--date", "2030-13-01")
    assert code == 2 and "expected YYYY-MM-DD" in err
    bad = tmp_path / "bad.toml"
    bad.write_text('[alerts]\nprofile = "nope"\n', encoding="utf-8")
    code, _, err = run(capsys, "--config", str(bad), "alerts", "check")
    assert code == 2 and "bad.toml: [alerts] profile" in err


def test_rules_lists_the_effective_policy(capsys, tmp_path, h):
    path = h.write_config(tmp_path, '[alerts]\nprofile = "strict"\nguard_denials_max = 9\n')
    code, out, _ = run(capsys, "--config", str(path), "alerts", "rules", "--json")
    data = json.loads(out)
    assert code == 0 and data["profile"] == "strict"
    assert data["thresholds"]["guard_denials_max"] == {"value": 9, "source": "file"}
    assert data["thresholds"]["stuck_after"] == {"value": 120.0, "source": "profile:strict"}
    assert "invalid_events" in data["active"] and "daily_loss_amount" not in data["active"]
    code, out, _ = run(capsys, "--config", str(path), "alerts", "rules")
    assert code == 0 and "guard_denials_max = 9  (file)" in out


def test_with_the_store_server_down_the_event_rules_fire_and_are_delivered(
    capsys, tmp_path, state_dir, h, today, monkeypatch
):
    """The scheduled alert pass with the PostgreSQL server down: the rules over the day's
    events are still evaluated and their alerts still go out (unlogged); the store's
    inputs are no_data, and no SQLite state.db is made beside the server's state."""
    pytest.importorskip("tradekernel_postgres")
    down = f"postgresql://tk:pw@/tk?host={tmp_path / 'nowhere'}&port=5999"
    config = str(
        h.write_config(
            tmp_path, WEBHOOK, sinks='["jsonl"]\nstore = "postgres"', notifiers='["webhook"]'
        )
    )
    monkeypatch.setenv("TK_STORE_URL", down)
    h.write_events(state_dir, _denials(h, 25), day=today)
    with HTTPReceiver() as rx:
        monkeypatch.setenv("TEST_ALERT_HOOK", rx.url)
        code, out, err = run(capsys, "--config", config, "alerts", "check", "--json")
        requests = list(rx.requests)
    assert code == 4, err
    data = json.loads(out)
    assert data["firing"] == ["guard_denials"]
    rules = {r["name"]: r for r in data["rules"]}
    assert rules["stuck_intents"]["status"] == "no_data"
    assert "unavailable" in rules["stuck_intents"]["detail"]
    assert [r.json()["kind"] for r in requests] == ["alerts.fired"]
    assert not (state_dir / "state.db").exists()
