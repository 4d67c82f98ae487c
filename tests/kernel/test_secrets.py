"""A secret handed out by ``Settings.secret`` never leaves the process: not in an emitted
event, not in a CLI error message, not in a log line."""

from __future__ import annotations

import json

import pytest
from tradekernel import hookimpl
from tradekernel.kernel import Kernel
from tradekernel.plugins import PluginRegistry
from tradekernel.settings import Settings

SECRET = "sk-test-7f3a9c1e5b"
ENV = "TK_TEST_SECRET_KEY"


class Collector:
    def __init__(self) -> None:
        self.events: list = []

    @hookimpl
    def on_event(self, event) -> None:
        self.events.append(event)


@pytest.fixture
def kernel():
    settings = Settings.load(environ={ENV: SECRET, "TRADEKERNEL_COMPONENTS__METRICS_SINKS": "[]"})
    kernel = Kernel(settings, PluginRegistry(entry_points=[]))
    collector = Collector()
    kernel.registry.pm.register(collector, name="test.collector")
    kernel.collector = collector
    return kernel


def test_secret_is_scrubbed_from_events(kernel) -> None:
    assert kernel.settings.secret(ENV) == SECRET
    event = kernel.emit(
        "strategist_llm",
        "decision",
        error=f"401 for key {SECRET}",
        nested={"headers": {"Authorization": f"Bearer {SECRET}"}, "list": [f"x{SECRET}y"]},
        exc=RuntimeError(f"auth failed: {SECRET}"),
        api_key="looks-like-a-secret",
        api_key_env=ENV,
        total_tokens=120,
    )
    (seen,) = kernel.collector.events
    assert seen is event
    text = json.dumps(event.fields, default=str)
    assert SECRET not in text
    assert event.fields["error"] == "401 for key ********"
    assert event.fields["nested"]["headers"]["Authorization"] == "********"  # a secret key
    assert event.fields["nested"]["list"] == ["x********y"]
    assert event.fields["exc"] == "RuntimeError: auth failed: ********"
    assert event.fields["api_key"] == "********"
    assert event.fields["api_key_env"] == ENV  # the variable's name is not a secret
    assert event.fields["total_tokens"] == 120


def test_unrevealed_values_are_not_touched(kernel) -> None:
    """Only values handed out by Settings.secret are redacted (no guessing)."""
    event = kernel.emit("scan", "candidates", note=f"{SECRET}")
    assert event.fields["note"] == SECRET


LEAKY = """
from loguru import logger
from tradekernel import hookimpl
from tradekernel.errors import ConfigError
from tradekernel.models import GuardVerdict


class Guard:
    def check(self, intent, ctx):
        return GuardVerdict.allowed("leaky")


def _factory(config, ctx):
    key = ctx.secret("TK_TEST_SECRET_KEY")
    logger.warning("connecting with {}", key)
    ctx.emit("notify", "failed", error="token " + key)
    mode = ctx.settings.runtime.watchlist[0]
    if mode == "RAISE":
        raise RuntimeError("auth rejected for " + key)
    if mode == "CONFIG":
        raise ConfigError("bad key " + key)
    return Guard()


@hookimpl
def register_guards(register):
    register("leaky", _factory)
"""


@pytest.mark.parametrize(
    ("watchlist", "code", "message"),
    [
        (
            "RAISE",
            2,
            "Error: guard:leaky (tk-leaky) could not start: "
            "RuntimeError: auth rejected for ********",
        ),
        ("CONFIG", 2, "Error: plugins.toml: [guard.leaky]: bad key ********"),
        ("OK", 0, "WARNING connecting with ********"),
    ],
)
def test_secret_never_in_cli_output(
    stub_config, dists, uid, cli, monkeypatch, watchlist, code, message
) -> None:
    dists.add("tk-leaky", f"tk_leaky_{uid}", LEAKY)
    stub_config('guards = ["leaky"]', f"[runtime]\nwatchlist = ['{watchlist}']\n")
    monkeypatch.setenv(ENV, SECRET)
    got, out, err = cli("config", "check")
    assert got == code, err
    assert message in err
    assert SECRET not in out + err


def test_logged_tracebacks_are_redacted(capsys, monkeypatch, tmp_path):
    """A secret inside an exception's text (or a local variable) never reaches stderr."""
    monkeypatch.chdir(tmp_path)  # no plugins.toml here: built-in defaults
    from loguru import logger
    from tradekernel.cli import context
    from tradekernel.settings import Settings

    settings = Settings.load(environ={"TK_TEST_SECRET": "sk-or-SUPERSECRET-1234"})
    context._REDACTORS.append(settings.redact)
    context.configure_logging(0, settings)
    key = settings.secret("TK_TEST_SECRET")
    try:
        raise RuntimeError(f"HTTP 401 for https://llm.example/v1?key={key}")
    except RuntimeError as exc:
        logger.opt(exception=exc).warning("provider failed: {}", exc)
    context._REDACTORS.remove(settings.redact)
    err = capsys.readouterr().err
    assert "RuntimeError: HTTP 401" in err and "Traceback" in err
    assert "SUPERSECRET" not in err


def test_a_cli_command_knows_every_secret_the_configuration_names(tk, tmp_path):
    """``control pause`` builds no component, yet the key named by ``api_key_env`` in its
    ``--reason`` never reaches the journal, the events file or stderr."""
    key = "sk-or-v1-9f8e7d6c5b4a39281706f5e4d3c2b1a0"
    (tmp_path / "plugins.toml").write_text(
        '[kernel]\nstate_dir = "state"\n[llm_provider.openrouter]\napi_key_env = "MY_LLM_KEY"\n',
        encoding="utf-8",
    )
    env = {"MY_LLM_KEY": key}
    done = tk("control", "pause", "--by", "ops", "--reason", f"rotating key {key}", env=env)
    assert done.returncode == 0, done.stderr
    status = tk("control", "status", env=env)
    assert status.returncode == 0, status.stderr
    files = [p for p in (tmp_path / "state").rglob("*") if p.is_file()]
    assert any(b"rotating key ********" in p.read_bytes() for p in files)  # journaled, masked
    assert files and [p.name for p in files if key[9:21].encode() in p.read_bytes()] == []
    assert key[9:21] not in done.stdout + done.stderr + status.stdout + status.stderr
