"""The minimal install, ``pip install tradekernel tradekernel-paper``: exactly the kernel,
the paper broker and the distributions it declares, with no other first-party plugin
visible. ``run`` works with the built-in defaults and no ``plugins.toml``; a command of a
distribution that is not installed names the one to install.

The install is real: the sources are copied (so no build output lands in the project) and
installed with pip into a directory of their own; the third-party libraries they require
are symlinked from the project's environment into another; the commands run with
``python -S`` (no site-packages, so none of the project's editable installs) and only
those two directories on the path."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
STARTER = "tradekernel-paper"


def _declared(pyproject: Path) -> list[str]:
    """The names of the runtime dependencies a ``pyproject.toml`` declares."""
    deps = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]["dependencies"]
    return [re.match(r"[A-Za-z0-9._-]+", d).group(0) for d in deps]


def _plugin_dir(dist: str) -> Path:
    (path,) = (
        p.parent
        for p in ROOT.glob("plugins/*/pyproject.toml")
        if tomllib.loads(p.read_text(encoding="utf-8"))["project"]["name"] == dist
    )
    return path


def _first_party() -> list[Path]:
    """The source directories of the kernel, the starter and the first-party
    distributions the starter declares (whatever its pyproject says)."""
    starter = _plugin_dir(STARTER)
    deps = [d for d in _declared(starter / "pyproject.toml") if d.startswith("tradekernel-")]
    return [ROOT, starter, *(_plugin_dir(d) for d in deps)]


def _third_party(sources: list[Path]) -> set[str]:
    """Every third-party distribution the sources need at run time, transitively, as the
    project's environment has them (requirements of extras left out)."""
    todo = [d for src in sources for d in _declared(src / "pyproject.toml")]
    seen: set[str] = set()
    while todo:
        name = todo.pop().lower().replace("_", "-")
        if name.startswith("tradekernel") or name in seen:
            continue
        try:
            dist = distribution(name)
        except PackageNotFoundError:  # a requirement for another platform
            continue
        seen.add(name)
        for req in dist.requires or []:
            if "extra ==" not in req.partition(";")[2]:
                todo.append(re.match(r"[A-Za-z0-9._-]+", req).group(0))
    return seen


def _link(names: set[str], into: Path) -> None:
    """Symlink each distribution's top-level modules, packages and metadata into ``into``."""
    into.mkdir()
    for name in names:
        dist = distribution(name)
        for top in {f.parts[0] for f in dist.files or [] if f.parts[0] not in ("..", "bin")}:
            if top == "__pycache__" or top.endswith(".pth"):
                continue
            target = into / top
            if not target.exists():
                target.symlink_to(Path(dist.locate_file(top)).resolve())


@pytest.fixture(scope="module")
def minimal(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    """``(workdir, env)``: the minimal install, and the environment that runs it."""
    tmp = tmp_path_factory.mktemp("minimal")
    sources = _first_party()
    ignore = shutil.ignore_patterns("tests", "__pycache__", "*.egg-info", "build")
    copies = []
    for src in sources:
        copy = tmp / "src" / src.name
        if src == ROOT:  # the kernel: its package, pyproject and readme only
            shutil.copytree(ROOT / "kernel", copy / "kernel", ignore=ignore)
            for name in ("pyproject.toml", "README.md"):
                shutil.copy(ROOT / name, copy / name)
        else:
            shutil.copytree(src, copy, ignore=ignore)
        copies.append(str(copy))
    site = tmp / "site"
    pip = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index"]
    pip += ["--no-build-isolation", "--target", str(site), *copies]
    done = subprocess.run(pip, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    _link(_third_party(sources), tmp / "third")
    work = tmp / "work"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TRADEKERNEL_", "PYTHON"))}
    env["PYTHONPATH"] = os.pathsep.join([str(site), str(tmp / "third")])
    env["TRADEKERNEL_KERNEL__STATE_DIR"] = str(tmp / "state")
    return work, env


def tk(minimal, *args: str) -> subprocess.CompletedProcess:
    work, env = minimal
    command = [sys.executable, "-S", "-m", "tradekernel", *args]
    return subprocess.run(command, capture_output=True, text=True, cwd=work, env=env, timeout=60)


def test_no_other_first_party_plugin_is_visible(minimal):
    work, env = minimal
    installed = {src.name for src in _first_party()}
    packages = [
        p.name
        for p in [*ROOT.glob("plugins/*/tradekernel_*"), *ROOT.glob("contrib/*/tradekernel_*")]
        if p.parent.name not in installed
    ]
    assert "tradekernel_rules" in packages
    probe = "import sys, importlib.util as u; print([n for n in sys.argv[1:] if u.find_spec(n)])"
    seen = subprocess.run(
        [sys.executable, "-S", "-c", probe, *packages],
        capture_output=True,
        text=True,
        cwd=work,
        env=env,
    )
    assert seen.returncode == 0, seen.stderr
    assert seen.stdout.strip() == "[]", "the project's plugins leak into the minimal install"


def test_run_once_works_on_the_built_in_defaults(minimal):
    work, env = minimal
    assert not (work / "plugins.toml").exists()
    done = tk(minimal, "run", "--once")
    assert done.returncode == 0, done.stderr[-3000:]
    state = Path(env["TRADEKERNEL_KERNEL__STATE_DIR"])
    lines = [line for f in sorted((state / "events").glob("*.jsonl")) for line in f.open()]
    events = [json.loads(line) for line in lines]
    assert any(e["stage"] == "commander" and e["fields"].get("broker") == "paper" for e in events)
    decisions = [e for e in events if (e["stage"], e["kind"]) == ("strategist", "decision")]
    assert decisions and all(e["fields"].get("strategist") == "hold" for e in decisions)


def test_plugins_list_shows_only_the_minimal_install(minimal):
    done = tk(minimal, "plugins", "list", "--json")
    assert done.returncode == 0, done.stderr
    listed = {i["distribution"] for i in json.loads(done.stdout)}
    declared = _declared(_plugin_dir(STARTER) / "pyproject.toml")
    assert {"tradekernel-marketdata", "tradekernel-jsonl"} <= set(declared)
    expected = {"tradekernel", STARTER, *(d for d in declared if d.startswith("tradekernel-"))}
    assert listed == expected


@pytest.mark.parametrize(
    ("args", "dist"),
    [
        (("report", "daily"), "tradekernel-report"),
        (("backtest", "--help"), "tradekernel-backtest"),
        (("audit", "--help"), "tradekernel-audit"),
    ],
)
def test_a_missing_command_names_its_distribution(minimal, args, dist):
    done = tk(minimal, *args)
    assert done.returncode == 2, done.stderr
    assert done.stdout == ""
    (line,) = done.stderr.strip().splitlines()
    assert dist in line and f"pip install {dist}" in line


def test_a_missing_component_names_its_distribution(minimal):
    work, env = minimal
    command = [sys.executable, "-S", "-m", "tradekernel", "run", "--once"]
    env = {**env, "TRADEKERNEL_COMPONENTS__STRATEGIST": "sma-cross"}
    done = subprocess.run(command, capture_output=True, text=True, cwd=work, env=env, timeout=60)
    assert done.returncode == 2, done.stderr
    assert "(registered strategists: hold)" in done.stderr
    assert "provided by tradekernel-rules: pip install tradekernel-rules" in done.stderr
