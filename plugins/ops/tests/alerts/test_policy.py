"""The alert policy: profiles, explicit keys, environment overrides, validation."""

from __future__ import annotations

import pytest
from tradekernel.api import ALERT_RULES, ConfigError
from tradekernel_ops.alerts import KEYS, PROFILES, RULES, active_rules, load_policy


def test_every_profile_defines_every_key_and_rules_match_the_settings():
    assert set(PROFILES) == {"default", "strict"}
    for values in PROFILES.values():
        assert set(values) == set(KEYS)
    assert tuple(RULES) == ALERT_RULES


def test_default_profile_is_the_default(load):
    policy = load_policy(load())
    assert policy.profile == "default"
    assert policy.get("guard_denials_max") == 20
    assert policy.sources["guard_denials_max"] == "profile:default"
    # off unless configured: absolute loss limit and event validation
    assert "daily_loss_amount" not in active_rules(policy)
    assert "invalid_events" not in active_rules(policy)


def test_strict_profile_tightens_every_threshold(load):
    default = PROFILES["default"]
    strict = load_policy(load('[alerts]\nprofile = "strict"\n'))
    assert strict.get("strategist_success_rate_min") > default["strategist_success_rate_min"]
    assert strict.get("strategist_latency_p95_ms") < default["strategist_latency_p95_ms"]
    assert strict.get("stuck_after") < default["stuck_after"]
    assert strict.get("guard_denials_max") < default["guard_denials_max"]
    assert strict.get("daily_loss_ratio") < default["daily_loss_ratio"]
    assert "invalid_events" in active_rules(strict)


def test_explicit_keys_override_the_profile(load):
    policy = load_policy(
        load(
            '[alerts]\nprofile = "strict"\nguard_denials_max = 50\nstuck_after = "10m"\n'
            'daily_loss_amount = 250\ndisabled = ["skill_fallbacks"]\n'
        )
    )
    assert policy.get("guard_denials_max") == 50 and policy.sources["guard_denials_max"] == "file"
    assert policy.get("stuck_after") == 600
    assert policy.get("notify_failures_max") == 0  # still strict's
    assert policy.sources["notify_failures_max"] == "profile:strict"
    rules = active_rules(policy)
    assert "daily_loss_amount" in rules and "skill_fallbacks" not in rules


def test_environment_overrides_the_file(load):
    policy = load_policy(
        load(
            "[alerts]\nguard_denials_max = 50\n",
            environ={
                "TRADEKERNEL_ALERTS__GUARD_DENIALS_MAX": "3",
                "TRADEKERNEL_ALERTS__PROFILE": "strict",
            },
        )
    )
    assert policy.profile == "strict"
    assert policy.get("guard_denials_max") == 3
    assert policy.sources["guard_denials_max"] == "env:TRADEKERNEL_ALERTS__GUARD_DENIALS_MAX"


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ('profile = "lax"', "[alerts] profile: expected one of 'default', 'strict'"),
        ('disabled = ["daily_los"]', "unknown alert rule 'daily_los' (did you mean 'daily_loss'?)"),
        ("strategist_success_rate_min = 1.5", "strategist_success_rate_min: expected a number"),
        ("guard_denials_max = -1", "guard_denials_max: expected zero or more"),
        ("stuck_afer = 1", "[alerts] stuck_afer: unknown key (did you mean 'stuck_after'?)"),
    ],
)
def test_bad_values_are_configuration_errors_naming_file_section_and_key(load, toml, message):
    with pytest.raises(ConfigError) as info:
        load(f"[alerts]\n{toml}\n")
    assert message in str(info.value) and "plugins.toml" in str(info.value)
