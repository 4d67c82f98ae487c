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
    assert console["profiles"] == ["console"] and console["command"] == ["console"]
    assert all(port.startswith("127.0.0.1:") for port in console["ports"])


def test_every_service_shares_the_state_and_reads_the_configuration(services):
    for name, service in services.items():
        volumes = service["volumes"]
        assert "state:/var/lib/tradekernel" in volumes, name
        assert "./plugins.toml:/etc/tradekernel/plugins.toml:ro" in volumes, name
    assert "postgres" not in services  # the store is SQLite only (docs/deploy.md)
