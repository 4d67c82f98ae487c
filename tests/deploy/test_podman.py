"""Opt-in: build deploy/Dockerfile with podman and run the image: ``--version``,
``plugins list``, ``health`` without an agent (exit 1), then an agent in the background
whose ``health`` and the image's HEALTHCHECK pass, stopped with SIGTERM (exit 0).

Enabled by ``TK_TEST_PODMAN=1``; ``TK_TEST_PODMAN_BASE`` names the base image (default
``python:3.11-slim``), ``TK_TEST_PODMAN_RUNTIME`` an OCI runtime (``runc``), and
``TK_TEST_PODMAN_BUILD_ARGS`` more ``podman build`` arguments (volumes and pip settings
for a mirror or a proxy's certificate authority) and ``TK_TEST_PODMAN_RUN_ARGS`` more
``podman run`` arguments (``--ulimit`` where the default limits may not be set).
docs/deploy.md has the steps."""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest
from tradekernel.api import Settings

ROOT = Path(__file__).resolve().parents[2]


def _option(settings: Settings, name: str, default: str = "") -> str:
    return settings.secret(name, partial=False) or default


@pytest.fixture(scope="module")
def podman():
    settings = Settings.load(environ=None, check_env_names=False)
    if _option(settings, "TK_TEST_PODMAN") != "1":
        pytest.skip("opt-in: set TK_TEST_PODMAN=1 to build and run the image with podman")
    if shutil.which("podman") is None:
        pytest.skip("podman is not installed")
    runtime = _option(settings, "TK_TEST_PODMAN_RUNTIME")
    base = ["podman", *(["--runtime", runtime] if runtime else [])]
    image = f"localhost/tradekernel-test:{uuid.uuid4().hex[:8]}"
    build = [
        *base,
        "build",
        "--format",
        "docker",  # the OCI format has no HEALTHCHECK
        "--build-arg",
        f"BASE={_option(settings, 'TK_TEST_PODMAN_BASE', 'python:3.11-slim')}",
        *shlex.split(_option(settings, "TK_TEST_PODMAN_BUILD_ARGS")),
        "-f",
        "deploy/Dockerfile",
        "-t",
        image,
        ".",
    ]
    result = subprocess.run(build, cwd=ROOT, capture_output=True, text=True, timeout=1800)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    run_args = shlex.split(_option(settings, "TK_TEST_PODMAN_RUN_ARGS"))
    yield base, image, run_args
    subprocess.run([*base, "rmi", "-f", image], capture_output=True, timeout=300)


def _run(base, *args, timeout=300):
    return subprocess.run([*base, *args], capture_output=True, text=True, timeout=timeout)


def _start(podman, *args):
    """``podman run RUN_ARGS ARGS`` (the image and command are in ``args``)."""
    base, _, run_args = podman
    return _run(base, "run", *run_args, *args)


def test_the_image_runs_the_cli(podman):
    _, image, _ = podman
    version = _start(podman, "--rm", image, "--version")
    assert version.returncode == 0, version.stderr
    listed = _start(podman, "--rm", image, "plugins", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    assert "tradekernel-deploy" in {p["distribution"] for p in json.loads(listed.stdout)}
    health = _start(podman, "--rm", image, "health")
    assert health.returncode == 1 and "no agent has run here" in health.stdout
    whoami = _start(podman, "--rm", "--entrypoint", "id", image, "-un")
    assert whoami.stdout.strip() == "trader"


def test_an_agent_in_the_image_is_healthy_and_stops_on_sigterm(podman, tmp_path):
    base, image, _ = podman
    config = tmp_path / "plugins.toml"
    config.write_text('[kernel]\nstate_dir = "/var/lib/tradekernel/state"\n')
    config.chmod(0o644)
    name = f"tk-agent-{uuid.uuid4().hex[:8]}"
    started = _start(
        podman,
        "-d",
        "--name",
        name,
        "-v",
        f"{config}:/etc/tradekernel/plugins.toml:ro",
        image,
        "run",
        "--every",
        "1s",
    )
    assert started.returncode == 0, started.stderr
    try:
        for _ in range(60):  # the first cycle (the lock is taken at start)
            health = _run(base, "exec", name, "tradekernel", "health", "--max-age", "1m")
            if health.returncode == 0:
                break
            subprocess.run(["sleep", "1"], check=True)
        assert health.returncode == 0, (health.stdout, _run(base, "logs", name).stderr)
        assert _run(base, "healthcheck", "run", name).returncode == 0
        assert _run(base, "stop", "-t", "60", name).returncode == 0
        state = _run(base, "inspect", name, "--format", "{{.State.ExitCode}}")
        assert state.stdout.strip() == "0", _run(base, "logs", name).stderr
    finally:
        _run(base, "rm", "-f", name)
