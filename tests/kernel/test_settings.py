"""Settings precedence, config file selection, ``config show`` and ``config check``."""

from __future__ import annotations

import json

import pytest
from tradekernel.errors import ConfigError
from tradekernel.settings import Duration, Settings

SECRET = "sk-show-me-never-4242"


def test_precedence_cli_over_env_over_file_over_default(tmp_path) -> None:
    assert Settings.load(environ={}).runtime.interval == 60
    assert Settings.load(environ={}).source_of("runtime", "interval") == "default"

    (tmp_path / "plugins.toml").write_text("[runtime]\ninterval = '2m'\n")
    settings = Settings.load(environ={})
    assert (settings.runtime.interval, settings.source_of("runtime", "interval")) == (120, "file")

    env = {"TRADEKERNEL_RUNTIME__INTERVAL": "3m"}
    settings = Settings.load(environ=env)
    assert settings.runtime.interval == 180
    assert settings.source_of("runtime", "interval") == "env:TRADEKERNEL_RUNTIME__INTERVAL"

    settings = Settings.load(environ=env, overrides={"runtime.interval": "4m"})
    assert settings.runtime.interval == 240
    assert settings.source_of("runtime", "interval") == "cli:--interval"


def test_env_values_are_toml_literals_with_string_fallback() -> None:
    env = {
        "TRADEKERNEL_RUNTIME__WATCHLIST": '["xyz", "QQQ"]',
        "TRADEKERNEL_RUNTIME__BARS_LOOKBACK": "7",
        "TRADEKERNEL_KERNEL__LIVE_ACKNOWLEDGED": "true",
        "TRADEKERNEL_KERNEL__STATE_DIR": "/tmp/tk state",
    }
    settings = Settings.load(environ=env)
    assert settings.runtime.watchlist == ["xyz", "QQQ"]
    assert settings.runtime.bars_lookback == 7
    assert settings.kernel.live_acknowledged is True
    assert str(settings.kernel.state_dir) == "/tmp/tk state"


@pytest.mark.parametrize(
    ("name", "hint"),
    [
        ("TRADEKERNEL_KERNEL_MODE", "(did you mean TRADEKERNEL_KERNEL__MODE?)"),
        ("TRADEKERNEL_RUNTIME_INTERVAL", "(did you mean TRADEKERNEL_RUNTIME__INTERVAL?)"),
        ("TRADEKERNEL_RUNTIME", "(set one key: TRADEKERNEL_RUNTIME__<KEY>)"),
        ("TRADEKERNEL_BROKER_PAPER_CASH", "(expected TRADEKERNEL_BROKER__<NAME>__<KEY>)"),
        ("TRADEKERNEL_CONFG", "(did you mean TRADEKERNEL_CONFIG?)"),
        ("TRADEKERNEL_CONFIGURED", "(did you mean TRADEKERNEL_CONFIG?)"),
        ("TRADEKERNEL_SOMETHING", "<KEY>"),
    ],
)
def test_a_tradekernel_variable_that_sets_nothing_is_an_error(name, hint) -> None:
    """Before: silently ignored (``TRADEKERNEL_KERNEL_MODE=shadow`` left the mode as is)."""
    with pytest.raises(ConfigError, match=f"environment {name}: not a tradekernel setting") as e:
        Settings.load(environ={name: "shadow"})
    assert str(e.value).endswith(hint)


def test_a_secret_variable_the_configuration_names_may_start_with_tradekernel(tmp_path):
    path = tmp_path / "plugins.toml"
    path.write_text('[notifier.webhook]\nsecret_env = "TRADEKERNEL_WEBHOOK_SECRET"\n')
    env = {"TRADEKERNEL_WEBHOOK_SECRET": "s3cret-value", "TRADEKERNEL_CONFIG": str(path)}
    assert Settings.load(environ=env).secret("TRADEKERNEL_WEBHOOK_SECRET") == "s3cret-value"


def test_duration_forms() -> None:
    assert [Duration.parse(v) for v in (90, "90s", "15m", "1h", "1d", "250ms")] == [
        90,
        90,
        900,
        3600,
        86400,
        0.25,
    ]
    assert [str(Duration(v)) for v in (900, 3600, 0.2, 86400)] == ["15m", "1h", "0.2s", "1d"]


def test_config_file_selection(tmp_path, cli, monkeypatch) -> None:
    (tmp_path / "plugins.toml").write_text("[kernel]\nmode = 'paper'\n")
    (tmp_path / "env.toml").write_text("[kernel]\nmode = 'shadow'\n")
    (tmp_path / "flag.toml").write_text("[kernel]\napproval_mode = 'auto'\n")

    def effective(*args: str) -> dict:
        code, out, err = cli(*args, "config", "show", "--json")
        assert code == 0, err
        data = json.loads(out)
        rows = {row["key"]: row for row in data["settings"]}
        return {"path": data["config_path"], "mode": rows["kernel.mode"]["value"], "rows": rows}

    assert effective()["path"] == "plugins.toml"
    monkeypatch.setenv("TRADEKERNEL_CONFIG", "env.toml")
    assert effective()["path"] == "env.toml"
    assert effective()["mode"] == "shadow"
    picked = effective("--config", "flag.toml")
    assert picked["path"] == "flag.toml"
    assert picked["mode"] == "paper"  # default: the other files are not merged
    assert picked["rows"]["kernel.approval_mode"] == {
        "key": "kernel.approval_mode",
        "value": "auto",
        "source": "file",
    }


def test_config_show_text_lists_sources(tmp_path, cli, monkeypatch) -> None:
    (tmp_path / "plugins.toml").write_text("[runtime]\ninterval = '2m'\n")
    monkeypatch.setenv("TRADEKERNEL_KERNEL__APPROVAL_MODE", "auto")
    code, out, _ = cli("config", "show")
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "# config file: plugins.toml"
    assert "runtime.interval = '2m'  # file" in lines
    assert "kernel.approval_mode = 'auto'  # env:TRADEKERNEL_KERNEL__APPROVAL_MODE" in lines
    assert "kernel.mode = 'paper'  # default" in lines


@pytest.fixture
def secret_config(tmp_path, monkeypatch):
    (tmp_path / "plugins.toml").write_text(
        "[llm_provider.openrouter]\n"
        "model = 'some/model'\n"
        "api_key_env = 'TK_TEST_OPENROUTER_KEY'\n"
        "[notifier.slack]\n"
        "webhook_url_env = 'TK_TEST_UNSET_VAR'\n"
        "[notifier.webhook]\n"
        f"auth_token = '{SECRET}'\n"
    )
    monkeypatch.setenv("TK_TEST_OPENROUTER_KEY", SECRET + "-env")
    monkeypatch.delenv("TK_TEST_UNSET_VAR", raising=False)


def test_config_show_masks_secrets_text(cli, secret_config) -> None:
    code, out, _ = cli("config", "show")
    assert code == 0
    assert SECRET not in out
    assert "llm_provider.openrouter.api_key_env = 'TK_TEST_OPENROUTER_KEY (set)'  # file" in out
    assert "notifier.slack.webhook_url_env = 'TK_TEST_UNSET_VAR (not set)'  # file" in out
    assert "notifier.webhook.auth_token = '********'  # file" in out
    assert "llm_provider.openrouter.model = 'some/model'  # file" in out


def test_config_show_masks_secrets_json(cli, secret_config) -> None:
    code, out, _ = cli("config", "show", "--json")
    assert code == 0
    assert SECRET not in out
    rows = {row["key"]: row["value"] for row in json.loads(out)["settings"]}
    assert rows["llm_provider.openrouter.api_key_env"] == "TK_TEST_OPENROUTER_KEY (set)"
    assert rows["notifier.slack.webhook_url_env"] == "TK_TEST_UNSET_VAR (not set)"
    assert rows["notifier.webhook.auth_token"] == "********"


def test_config_check_ok_with_warnings(stub_config, cli) -> None:
    stub_config(
        'guards = ["symbol_blocklist"]',
        "[guard.symbol_blocklist]\nsymbols = ['GME']\n[plugins]\nblock = ['tradekernel-slack']\n"
        "[notifier.slack]\nwebhook_url_env = 'X'\n",
    )
    code, out, err = cli("config", "check")
    assert code == 0, err
    assert out.strip() == "ok: mode=paper approval=manual broker=stub strategist=stub"
    assert (
        "warning: [notifier.slack]: no installed plugin registers this component; "
        "the section is ignored" in err
    )

    code, out, _ = cli("config", "check", "--json")
    assert code == 0
    report = json.loads(out)
    assert report["ok"] is True and report["mode"] == "paper"
    assert report["warnings"] == [
        "[notifier.slack]: no installed plugin registers this component; the section is ignored"
    ]


def test_config_check_fails_on_component_config(stub_config, cli) -> None:
    stub_config('guards = ["symbol_blocklist"]', "[guard.symbol_blocklist]\nsymbols = 'GME'\n")
    code, out, err = cli("config", "check")
    assert code == 2
    assert out == ""
    assert err == (
        "Error: plugins.toml: [guard.symbol_blocklist] symbols: expected a list, got 'GME'\n"
    )


def test_live_mode_refused_by_the_cli(stub_config, cli, monkeypatch) -> None:
    stub_config()
    monkeypatch.setenv("TRADEKERNEL_KERNEL__MODE", "live")
    code, _, err = cli("config", "check")
    assert code == 2
    assert "TRADEKERNEL_KERNEL__MODE" in err and "live_acknowledged = true" in err
    monkeypatch.setenv("TRADEKERNEL_KERNEL__LIVE_ACKNOWLEDGED", "true")
    code, out, err = cli("config", "show", "--json")
    assert code == 0, err
    rows = {row["key"]: row for row in json.loads(out)["settings"]}
    assert rows["kernel.mode"]["value"] == "live"
    assert rows["kernel.mode"]["source"] == "env:TRADEKERNEL_KERNEL__MODE"


def test_a_config_file_starting_with_a_byte_order_mark_loads(tmp_path) -> None:
    """Before: "invalid TOML: Invalid statement (at line 1, column 1)"."""
    path = tmp_path / "plugins.toml"
    path.write_bytes(b"\xef\xbb\xbf[runtime]\ninterval = '5m'\n")
    assert Settings.load(path, environ={}).runtime.interval == 300


def test_a_misspelt_skill_is_named_as_the_typo(tmp_path) -> None:
    """Before: "(did you mean 'market.quot'?)", pointing at the typo as the fix."""
    path = tmp_path / "plugins.toml"
    path.write_text('[components]\nskills = ["market.quot"]\n', encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        Settings.load(path, environ={})
    assert str(info.value) == (
        "plugins.toml: [components] required_skills: 'market.quote' is not selected in skills "
        "(skills has 'market.quot': a misspelling of 'market.quote'?)"
    )


def test_a_cross_key_error_from_the_environment_blames_the_variable(tmp_path) -> None:
    """Before: "q.toml: [strategist.sma_cross] slow: ..." though the file sets nothing there."""
    from tradekernel_rules.sma import SmaCrossConfig

    path = tmp_path / "plugins.toml"
    path.write_text("[runtime]\ninterval = '5m'\n", encoding="utf-8")
    env = {"TRADEKERNEL_STRATEGIST__SMA_CROSS__FAST": "50"}
    settings = Settings.load(path, environ=env)
    with pytest.raises(ConfigError) as info:
        settings.component_config("strategist", "sma-cross", SmaCrossConfig)
    assert str(info.value) == (
        "environment TRADEKERNEL_STRATEGIST__SMA_CROSS__FAST: [strategist.sma-cross] slow: "
        "must be greater than fast (50), got 30"
    )


def test_variables_named_by_envs_lists_at_any_depth_or_by_the_caller_are_not_strays(tmp_path):
    path = tmp_path / "plugins.toml"
    path.write_text(
        '[audit]\nhmac_verify_key_envs = ["TRADEKERNEL_AUDIT_HMAC_2025"]\n'
        '[notifier.webhook]\nheaders = {}\n[notifier.webhook.extra]\nkey_envs = ["TRADEKERNEL_X"]\n'
    )
    env = {
        "TRADEKERNEL_CONFIG": str(path),
        "TRADEKERNEL_AUDIT_HMAC_2025": "k" * 32,
        "TRADEKERNEL_X": "x" * 16,
        "TRADEKERNEL_OLDKEY": "o" * 32,
    }
    with pytest.raises(ConfigError, match="TRADEKERNEL_OLDKEY: not a tradekernel setting"):
        Settings.load(environ=env)
    settings = Settings.load(environ=env, env_names=["TRADEKERNEL_OLDKEY"])
    assert "k" * 32 not in settings.redact("key " + "k" * 32)  # a named key is a secret


def test_environment_overrides_carry_the_environment_settings_and_no_secret(tmp_path):
    path = tmp_path / "plugins.toml"
    path.write_text('[strategist.sma-cross]\nfast = 3\n[notifier.webhook]\nurl_env = "HOOK"\n')
    env = {
        "TRADEKERNEL_STRATEGIST__SMA_CROSS__FAST": "5",
        "TRADEKERNEL_STORE__URL": "postgresql://u:hunter2secret@db/x",
        "TK_STORE_URL": "postgresql://u:hunter2secret@db/x",
        "OPENAI_API_KEY": "sk-live-SECRETVALUE1",
        "HOOK": "https://hooks.example/T000/SECRETPATH",
    }
    settings = Settings.load(path, environ=env)
    overrides = settings.environment_overrides()
    assert overrides == {
        "strategist.sma-cross.fast": (5, "environment TRADEKERNEL_STRATEGIST__SMA_CROSS__FAST")
    }
    again = Settings.load(path, overrides=overrides, environ={})
    assert again.component_sections["strategist"]["sma-cross"]["fast"] == 5
