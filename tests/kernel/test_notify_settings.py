"""``[notify]`` settings: defaults, strict validation naming file/section/key, env overrides."""

from __future__ import annotations

import pytest
from tradekernel.errors import ConfigError
from tradekernel.settings import Settings


def write(tmp_path, text: str):
    path = tmp_path / "plugins.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_ship_trade_incident_and_alert_routes():
    notify = Settings().notify
    kinds = {k for route in notify.routes for k in route.kinds}
    for key in (
        "approval.pending",
        "executor.submitted",
        "monitor.fill",
        "executor.failed",
        "resilience.breaker_opened",
        "control.kill_switch",
        "control.paused",
        "alerts.*",
    ):
        assert key in kinds
    assert float(notify.dedup_window) == 600
    assert notify.rate_limit.count == 20 and float(notify.rate_limit.per) == 3600
    assert float(notify.timeout) == 10


def test_file_values_are_structured(tmp_path):
    path = write(
        tmp_path,
        """
[notify]
routes = [
  { kinds = ["approval.pending", "executor.*"], min_severity = "warning", notifiers = ["slack"] },
]
dedup_window = "5m"
rate_limit = { count = 7, per = "2h" }
rate_limits = { slack = { count = 5, per = "1m" } }
timeout = "3s"
retry = { max_attempts = 4, backoff_base = "10ms", backoff_max = "1s", retry_after_cap = "2s" }
""",
    )
    notify = Settings.load(path, environ={}).notify
    assert notify.routes[0].kinds == ["approval.pending", "executor.*"]
    assert notify.routes[0].min_severity == "warning"
    assert float(notify.dedup_window) == 300
    assert notify.rate_limit.count == 7 and float(notify.rate_limit.per) == 7200
    assert notify.rate_limits["slack"].count == 5
    assert notify.retry.max_attempts == 4 and float(notify.retry.backoff_base) == 0.01


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("routes = [{ kinds = [] }]", "[notify] routes[0]: kinds: must not be empty"),
        ('routes = [{ kinds = ["a.b"] }, { kinds = ["x"] }]', "[notify] routes[1]: kinds"),
        ('routes = [{ kinds = ["a.b"], min_severity = "loud" }]', "routes[0].min_severity"),
        ('routes = [{ kinds = ["a.b"], notifiers = [] }]', "notifiers: must not be empty"),
        ("rate_limit = { count = 0 }", "[notify] rate_limit: count"),
        ('dedup_window = "soon"', "[notify] dedup_window"),
        ("timeout = 0", "[notify] timeout"),
        ("retyr = 1", "retyr: unknown key (did you mean 'retry'?)"),
    ],
)
def test_invalid_values_name_file_section_and_key(tmp_path, body, expected):
    path = write(tmp_path, f"[notify]\n{body}\n")
    with pytest.raises(ConfigError) as info:
        Settings.load(path, environ={})
    assert str(info.value).startswith("plugins.toml: ")
    assert expected in str(info.value)


def test_environment_overrides(tmp_path):
    settings = Settings.load(
        write(tmp_path, ""),
        environ={
            "TRADEKERNEL_NOTIFY__DEDUP_WINDOW": "1m",
            "TRADEKERNEL_NOTIFY__RATE_LIMITS__SLACK__COUNT": "3",
            "TRADEKERNEL_NOTIFY__ENABLED": "false",
        },
    )
    assert float(settings.notify.dedup_window) == 60
    assert settings.notify.rate_limits["slack"].count == 3
    assert float(settings.notify.rate_limits["slack"].per) == 3600
    assert settings.notify.enabled is False
