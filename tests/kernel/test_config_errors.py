"""Malformed configuration: every error names where the bad value came from (file, env
var or CLI option), the section and the key, and what was expected."""

from __future__ import annotations

import pytest
from attrs import define
from tradekernel.errors import ConfigError
from tradekernel.kernel import Kernel
from tradekernel.settings import Settings

# (id, plugins.toml text or None, environ, CLI overrides, expected message)
SETTINGS_CASES = [
    (
        "unknown-section",
        "[kernal]\nmode = 'paper'\n",
        {},
        {},
        "plugins.toml: unknown section [kernal] (did you mean 'kernel'?)",
    ),
    (
        "unknown-key",
        "[kernel]\nmdoe = 'paper'\n",
        {},
        {},
        "plugins.toml: [kernel] mdoe: unknown key (did you mean 'mode'?)",
    ),
    (
        "unknown-key-no-suggestion",
        "[runtime]\nzzz = 1\n",
        {},
        {},
        "plugins.toml: [runtime] zzz: unknown key",
    ),
    (
        "string-for-int",
        "[runtime]\nbars_lookback = 'many'\n",
        {},
        {},
        "plugins.toml: [runtime] bars_lookback: expected int, got 'many'",
    ),
    (
        "bool-for-int",
        "[runtime]\nbars_lookback = true\n",
        {},
        {},
        "plugins.toml: [runtime] bars_lookback: expected int, got True",
    ),
    (
        "bad-mode",
        "[kernel]\nmode = 'yolo'\n",
        {},
        {},
        "plugins.toml: [kernel] mode: expected one of 'paper', 'shadow', 'live', got 'yolo'",
    ),
    (
        "bad-duration",
        "[runtime]\ninterval = '5 minutes'\n",
        {},
        {},
        "plugins.toml: [runtime] interval: expected a duration like '15m', got '5 minutes'",
    ),
    (
        "negative-duration",
        "[runtime]\ninterval = -5\n",
        {},
        {},
        "plugins.toml: [runtime] interval: expected a non-negative duration, got -5",
    ),
    (
        "zero-positive-field",
        "[runtime]\nbreaker_failures = 0\n",
        {},
        {},
        "plugins.toml: [runtime] breaker_failures: expected a positive number, got 0",
    ),
    (
        "negative-positive-field",
        "[runtime]\nnode_attempts = -2\n",
        {},
        {},
        "plugins.toml: [runtime] node_attempts: expected a positive number, got -2",
    ),
    (
        "ratio-out-of-range",
        "[runtime]\ndegrade_notional_ratio = 1.5\n",
        {},
        {},
        "plugins.toml: [runtime] degrade_notional_ratio: expected a number from 0 to 1, got 1.5",
    ),
    (
        "section-not-a-table",
        "kernel = 5\n",
        {},
        {},
        "plugins.toml: [kernel] must be a table",
    ),
    (
        "component-section-not-a-table",
        "[broker]\npaper = 5\n",
        {},
        {},
        "plugins.toml: [broker.paper] must be a table",
    ),
    (
        "bad-toml",
        "[kernel\nmode = 'paper'\n",
        {},
        {},
        "plugins.toml: invalid TOML: Expected ']' at the end of a table declaration "
        "(at line 1, column 8)",
    ),
    (
        "list-where-string-expected",
        "[components]\nbroker = ['paper']\n",
        {},
        {},
        "plugins.toml: [components] broker: expected str, got ['paper']",
    ),
    (
        "string-where-list-expected",
        "[components]\nguards = 'kill_switch'\n",
        {},
        {},
        "plugins.toml: [components] guards: expected a list, got 'kill_switch'",
    ),
    (
        "bad-list-element",
        "[runtime]\nwatchlist = ['AAA', 5]\n",
        {},
        {},
        "plugins.toml: [runtime] watchlist[1]: expected str, got 5",
    ),
    (
        "env-bad-value",
        None,
        {"TRADEKERNEL_RUNTIME__BARS_LOOKBACK": "lots"},
        {},
        "environment TRADEKERNEL_RUNTIME__BARS_LOOKBACK: [runtime] bars_lookback: "
        "expected int, got 'lots'",
    ),
    (
        "env-unknown-section",
        None,
        {"TRADEKERNEL_KERNL__MODE": "paper"},
        {},
        "environment TRADEKERNEL_KERNL__MODE: unknown section [kernl] (did you mean 'kernel'?)",
    ),
    (
        "env-unknown-key",
        None,
        {"TRADEKERNEL_KERNEL__MOOD": "paper"},
        {},
        "environment TRADEKERNEL_KERNEL__MOOD: [kernel] mood: unknown key (did you mean 'mode'?)",
    ),
    (
        "cli-bad-value",
        None,
        {},
        {"runtime.interval": ("soon", "--interval")},
        "option --interval: [runtime] interval: expected a duration like '15m', got 'soon'",
    ),
    (
        "cli-bad-mode",
        None,
        {},
        {"kernel.mode": "yolo"},
        "option --mode: [kernel] mode: expected one of 'paper', 'shadow', 'live', got 'yolo'",
    ),
    (
        "live-without-acknowledgement",
        "[kernel]\nmode = 'live'\n",
        {},
        {},
        'plugins.toml: [kernel] mode = "live" trades real money and needs '
        "[kernel] live_acknowledged = true as well",
    ),
    (
        "live-from-env-without-acknowledgement",
        None,
        {"TRADEKERNEL_KERNEL__MODE": "live"},
        {},
        'environment TRADEKERNEL_KERNEL__MODE: [kernel] mode = "live" trades real money',
    ),
    (
        "live-from-cli-with-acknowledgement-false",
        "[kernel]\nlive_acknowledged = false\n",
        {},
        {"kernel.mode": ("live", "--mode")},
        'option --mode: [kernel] mode = "live" trades real money and needs '
        "[kernel] live_acknowledged = true as well",
    ),
    (
        "missing-config-from-env",
        None,
        {"TRADEKERNEL_CONFIG": "nope.toml"},
        {},
        "nope.toml (named by TRADEKERNEL_CONFIG): configuration file not found",
    ),
]


@pytest.mark.parametrize(
    ("text", "environ", "overrides", "expected"),
    [case[1:] for case in SETTINGS_CASES],
    ids=[case[0] for case in SETTINGS_CASES],
)
def test_settings_errors(tmp_path, text, environ, overrides, expected) -> None:
    if text is not None:
        (tmp_path / "plugins.toml").write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as exc:
        Settings.load(environ=environ, overrides=overrides)
    assert str(exc.value).startswith(expected)
    assert "\n" not in str(exc.value)


def test_missing_named_file_is_an_error_but_missing_default_is_not(tmp_path) -> None:
    with pytest.raises(ConfigError, match=r"^conf/prod\.toml: configuration file not found$"):
        Settings.load("conf/prod.toml", environ={})
    settings = Settings.load(environ={})
    assert settings.config_path is None
    assert settings.kernel.mode == "paper"


def test_bad_toml_names_the_named_file(tmp_path) -> None:
    path = tmp_path / "prod.toml"
    path.write_text("x = = 1\n")
    with pytest.raises(ConfigError, match=r"prod\.toml: invalid TOML"):
        Settings.load(path, environ={})


def test_errors_name_a_named_file(tmp_path) -> None:
    path = tmp_path / "prod.toml"
    path.write_text("[runtime]\nbars_lookback = 'x'\n")
    with pytest.raises(ConfigError, match=r"^prod\.toml: \[runtime\] bars_lookback: expected int"):
        Settings.load(path, environ={})


def test_live_mode_with_acknowledgement_is_accepted(tmp_path) -> None:
    (tmp_path / "plugins.toml").write_text("[kernel]\nmode = 'live'\nlive_acknowledged = true\n")
    assert Settings.load(environ={}).kernel.mode == "live"


# -- component configuration: the contrib plugin's config class -----------------------------

COMPONENT_CASES = [
    (
        "component-unknown-key",
        "[guard.symbol_blocklist]\nsymbolz = ['GME']\n",
        {},
        "plugins.toml: [guard.symbol_blocklist] symbolz: unknown key (did you mean 'symbols'?)",
    ),
    (
        "component-string-for-list",
        "[guard.symbol_blocklist]\nsymbols = 'GME'\n",
        {},
        "plugins.toml: [guard.symbol_blocklist] symbols: expected a list, got 'GME'",
    ),
    (
        "component-wrong-type",
        "[guard.symbol_blocklist]\nreason = 5\n",
        {},
        "plugins.toml: [guard.symbol_blocklist] reason: expected str, got 5",
    ),
    (
        "component-validator",
        "[guard.symbol_blocklist]\nsymbols = ['GME', ' ']\n",
        {},
        "plugins.toml: [guard.symbol_blocklist] symbols: expected non-empty symbols",
    ),
    (
        "component-env-override",
        None,
        {"TRADEKERNEL_GUARD__SYMBOL_BLOCKLIST__SYMBOLS": "GME"},
        "environment TRADEKERNEL_GUARD__SYMBOL_BLOCKLIST__SYMBOLS: [guard.symbol_blocklist] "
        "symbols: expected a list, got 'GME'",
    ),
]


@pytest.mark.parametrize(
    ("text", "environ", "expected"),
    [case[1:] for case in COMPONENT_CASES],
    ids=[case[0] for case in COMPONENT_CASES],
)
def test_component_config_errors(tmp_path, contrib_registry, text, environ, expected) -> None:
    if text is not None:
        (tmp_path / "plugins.toml").write_text(text, encoding="utf-8")
    kernel = Kernel(Settings.load(environ=environ), contrib_registry())
    with pytest.raises(ConfigError) as exc:
        kernel.component("guard", "symbol_blocklist")
    assert str(exc.value).startswith(expected)


def test_component_env_override_wins_over_the_file(tmp_path, contrib_registry) -> None:
    (tmp_path / "plugins.toml").write_text("[guard.symbol_blocklist]\nsymbols = ['AAA']\n")
    env = {"TRADEKERNEL_GUARD__SYMBOL_BLOCKLIST__SYMBOLS": '["gme"]'}
    kernel = Kernel(Settings.load(environ=env), contrib_registry())
    assert kernel.component("guard", "symbol_blocklist").config.symbols == ["GME"]


def test_section_for_a_component_without_config(tmp_path, contrib_registry) -> None:
    (tmp_path / "plugins.toml").write_text("[notifier.log]\nlevel = 'info'\n")
    kernel = Kernel(Settings.load(environ={}), contrib_registry())
    with pytest.raises(ConfigError, match=r"^plugins\.toml: \[notifier\.log\]: this component "):
        kernel.component("notifier", "log")


@define
class _ProviderConfig:
    model: str = "m"
    api_key_env: str = "PROVIDER_API_KEY"


def test_a_secret_written_into_the_file_is_refused(tmp_path) -> None:
    (tmp_path / "plugins.toml").write_text("[llm_provider.x]\napi_key = 'sk-live-123'\n")
    settings = Settings.load(environ={})
    with pytest.raises(ConfigError) as exc:
        settings.component_config("llm_provider", "x", _ProviderConfig)
    message = str(exc.value)
    assert message.startswith("plugins.toml: [llm_provider.x] api_key: secrets never live")
    assert "api_key_env" in message
    assert "sk-live-123" not in message


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--config", "missing.toml", "config", "show"], "Error: missing.toml: configuration"),
        (["config", "check"], "Error: plugins.toml: [kernel] mdoe: unknown key (did you mean"),
        (["plugins", "list"], "Error: plugins.toml: [kernel] mdoe: unknown key (did you mean"),
    ],
)
def test_cli_config_errors_are_one_line_exit_2(tmp_path, cli, args, expected) -> None:
    (tmp_path / "plugins.toml").write_text("[kernel]\nmdoe = 'paper'\n")
    code, out, err = cli(*args)
    assert code == 2
    assert out == ""
    assert err.startswith(expected)
    assert err.count("\n") == 1
    assert "Traceback" not in err


def test_cli_traceback_only_with_verbose(tmp_path, cli) -> None:
    (tmp_path / "plugins.toml").write_text("[kernel]\nmdoe = 'paper'\n")
    _, _, quiet = cli("config", "check")
    code, _, verbose = cli("-v", "config", "check")
    assert code == 2
    assert "Traceback" not in quiet
    assert "Traceback" in verbose
    assert verbose.strip().splitlines()[-1].startswith("Error: plugins.toml: [kernel] mdoe")


def test_cli_usage_error_exit_2(cli) -> None:
    code, _, err = cli("config", "nosuch")
    assert code == 2
    assert "No such command 'nosuch'" in err
