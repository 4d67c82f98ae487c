"""deploy/compose.yaml: the agent restarts, the ops batch runs on a schedule, the
console (profile ``console``) is published on localhost only, all share the state."""

from __future__ import annotations

from pathlib import Path

import pytest

yaml = pytest.importorskip("yaml")
COMPOSE = Path(__file__).resolve().parents[3] / "deploy" / "compose.yaml"


@pytest.fixture(scope="module")
def services() -> dict:
    return yaml.safe_load(COMPOSE.read_text())["services"]


def test_the_agent_restarts_and_stops_gracefully(services):
    agent = services["agent"]
    assert agent["restart"] == "unless-stopped" and agent["stop_signal"] == "SIGTERM"
    assert agent["command"][:2] == ["run", "--every"]
    assert agent["build"]["dockerfile"] == "deploy/Dockerfile"


def test_the_ops_batch_runs_every_five_minutes(services):
    script = services["ops"]["entrypoint"][-1]
    assert "tradekernel ops batch" in script and "sleep 300" in script


def test_the_console_is_optional_and_bound_to_localhost(services):
    console = services["console"]
    assert console["profiles"] == ["console"] and console["command"][0] == "console"
    assert all(port.startswith("127.0.0.1:") for port in console["ports"])


def _option(command: list[str], name: str) -> str | None:
    return command[command.index(name) + 1] if name in command else None


def test_the_console_listens_where_the_published_port_reaches_it(services):
    command = services["console"]["command"]
    # a published port reaches the container's interface, not its loopback
    assert _option(command, "--host") == "0.0.0.0"
    # plain HTTP off loopback needs the acknowledgement (or TLS)
    assert "--insecure-remote" in command or _option(command, "--certfile")
    published = {port.rsplit(":", 1)[1] for port in services["console"]["ports"]}
    assert published == {_option(command, "--port")}


def test_the_console_command_parses_with_the_console_plugin():
    pytest.importorskip("tradekernel_console")
    from tradekernel.testing import invoke

    command = yaml.safe_load(COMPOSE.read_text())["services"]["console"]["command"]
    result = invoke([*command, "--help"])  # an unknown option fails parsing (exit 2)
    assert result.exit_code == 0, result.stderr


def test_every_service_shares_the_state_and_reads_the_configuration(services):
    for name, service in services.items():
        volumes = service["volumes"]
        assert "state:/var/lib/tradekernel" in volumes, name
        assert "./plugins.toml:/etc/tradekernel/plugins.toml:ro" in volumes, name
    assert "postgres" not in services  # the store is SQLite only (docs/deploy.md)
