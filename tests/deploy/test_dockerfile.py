"""deploy/Dockerfile: its install steps, run as written in a fresh virtual environment,
give a working ``tradekernel`` with the image's plugins; its shape (a non-root user, the
state volume, a HEALTHCHECK calling ``tradekernel health``) is checked; building and
running the image itself is the opt-in podman test (test_podman.py)."""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "deploy" / "Dockerfile"
VENV = "/opt/tradekernel"


def instructions() -> list[tuple[str, str]]:
    """``(INSTRUCTION, arguments)`` pairs, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE.read_text())
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def build_stage() -> list[tuple[str, str]]:
    """The instructions of the first (build) stage."""
    stages: list[list[tuple[str, str]]] = []
    for word, rest in instructions():
        if word == "FROM":
            stages.append([])
        elif stages:
            stages[-1].append((word, rest))
    return stages[0]


def test_the_image_runs_as_a_user_with_a_state_volume_and_a_healthcheck():
    found = instructions()
    words = [w for w, _ in found]
    assert found[0] == ("ARG", "BASE=python:3.11-slim")
    assert [rest for w, rest in found if w == "FROM"] == ["${BASE} AS build", "${BASE}"]
    final = found[len(found) - words[::-1].index("FROM") :]
    user = [rest for w, rest in final if w == "USER"]
    assert user == ["trader"]
    assert ("VOLUME", '["/var/lib/tradekernel"]') in final
    health = next(rest for w, rest in final if w == "HEALTHCHECK")
    assert health.endswith('CMD ["tradekernel", "health", "--max-age", "5m"]')
    assert ("ENTRYPOINT", '["tradekernel"]') in final
    assert ("COPY", "deploy/plugins.toml /etc/tradekernel/plugins.toml") in final
    default = ROOT / "deploy" / "plugins.toml"
    checked = subprocess.run(
        [
            str(Path(sys.executable).with_name("tradekernel")),
            "--config",
            str(default),
            "config",
            "show",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert checked.returncode == 0, checked.stderr
    assert '"/var/lib/tradekernel/state"' in checked.stdout


@pytest.mark.slow
def test_the_install_steps_work_in_a_fresh_venv(tmp_path):
    stage = build_stage()
    args = dict(rest.split("=", 1) for w, rest in stage if w == "ARG" and "=" in rest)
    runs = [rest for w, rest in stage if w == "RUN"]
    assert runs[0] == f"python -m venv {VENV}" and "pip install" in runs[1]
    venv = tmp_path / "venv"
    context = _copy_context(stage, tmp_path / "src")
    # the build arguments as the shell variables the RUN lines read
    assign = "".join(f"{name}={shlex.quote(json.loads(v))}; " for name, v in args.items())
    for run in runs:
        command = run.replace(VENV, str(venv)).replace(
            "python -m venv", f"{sys.executable} -m venv"
        )
        result = subprocess.run(
            ["bash", "-c", assign + command],
            cwd=context,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert result.returncode == 0, (command, result.stderr[-2000:])
    listed = subprocess.run(
        [str(venv / "bin" / "tradekernel"), "plugins", "list", "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert listed.returncode == 0, listed.stderr
    dists = {p["distribution"] for p in json.loads(listed.stdout)}
    wanted = {f"tradekernel-{name}" for name in shlex.split(args["PLUGINS"].strip('"'))}
    assert wanted <= dists, wanted - dists
    health = subprocess.run(
        [str(venv / "bin" / "tradekernel"), "health"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert health.returncode == 1 and "no agent has run here" in health.stdout


IGNORED = shutil.ignore_patterns(".git", ".venv", "__pycache__", "*.egg-info", "build")
"""What .dockerignore keeps out of the build context."""


def _copy_context(stage: list[tuple[str, str]], src: Path) -> Path:
    """The build stage's ``COPY`` lines done into ``src`` (its ``WORKDIR``): the install
    runs on a copy, as in the image, and leaves no build files in the checkout."""
    src.mkdir()
    for word, rest in stage:
        if word != "COPY":
            continue
        *sources, dest = rest.split()
        target = src / dest
        for name in sources:
            if (ROOT / name).is_dir():
                shutil.copytree(ROOT / name, target if dest != "./" else src / name, ignore=IGNORED)
            else:
                shutil.copy(ROOT / name, target)
    return src
