"""``tradekernel plugins new``: one plugin of every kind is generated, installed into an
isolated directory, passes its own tests as generated, and runs a cycle selected in
``plugins.toml`` (in place of the default component for single kinds)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from tradekernel.scaffold import KINDS, placeholders
from tradekernel.testing import invoke

NOTIFIER_ENV = {"SC_NOTIFIER_URL": "http://127.0.0.1:9/hook/tOkEn"}  # port 9: discard, closed


def _env(site: Path) -> dict[str, str]:
    """The environment of the subprocesses: the isolated install on the path, and no
    tradekernel setting of the outer shell."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRADEKERNEL_")}
    env["PYTHONPATH"] = str(site)
    return {**env, **NOTIFIER_ENV}


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> tuple[Path, Path]:
    """``(root, site)``: every kind generated under ``root/<kind>`` and installed (no
    dependencies, no build isolation: the project venv has setuptools) into ``site``."""
    root = tmp_path_factory.mktemp("scaffold")
    for kind in KINDS:
        result = invoke(["plugins", "new", f"sc-{kind}", "--kind", kind, "--dir", str(root / kind)])
        assert result.exit_code == 0, result.stderr
        assert f"the {kind} plugin sc-{kind}" in result.stdout
    site = root / "site"
    pip = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index"]
    pip += ["--no-build-isolation", "--target", str(site)]
    done = subprocess.run(
        [*pip, *(str(root / kind) for kind in KINDS)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    return root, site


def test_generated_tests_pass_as_generated(installed):
    root, site = installed
    tests = [str(root / kind / "tests") for kind in KINDS]
    pytest_args = ["-q", "-p", "no:cacheprovider", "--import-mode=importlib"]
    done = subprocess.run(
        [sys.executable, "-m", "pytest", *pytest_args, *tests],
        capture_output=True,
        text=True,
        cwd=root,
        env=_env(site),
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert re.search(r"\b\d+ passed\b", done.stdout)


def test_generated_code_imports_only_the_public_api(installed):
    root, _site = installed
    for path in root.glob("*/**/*.py"):
        if "site" in path.relative_to(root).parts[:1] or "build" in path.parts:
            continue
        for module in re.findall(r"^\s*(?:from|import) (tradekernel\S*)", path.read_text(), re.M):
            assert module in ("tradekernel", "tradekernel.api", "tradekernel.testing"), path


def test_generated_code_is_lint_clean(installed):
    root, _site = installed
    sources = [str(root / kind) for kind in KINDS]
    lint = ["--isolated", "--line-length", "100"]
    rules = ["--select", "E,F,W,I,B,UP,SIM,RUF", "--ignore", "RUF012,B008"]
    check = [sys.executable, "-m", "ruff", "check", "--no-cache", *lint, *rules, *sources]
    done = subprocess.run(check, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout
    form = [sys.executable, "-m", "ruff", "format", "--check", "--no-cache", *lint, *sources]
    done = subprocess.run(form, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout


def _events(state: Path) -> list[dict]:
    lines = [line for f in sorted((state / "events").glob("*.jsonl")) for line in f.open()]
    return [json.loads(line) for line in lines]


def _used(kind: str, name: str, state: Path) -> bool:
    """Whether the run's record shows the new component at work."""
    events = _events(state)

    def any_event(stage: str, kind_: str, **fields: object) -> bool:
        return any(
            e["stage"] == stage
            and e["kind"] == kind_
            and all(e["fields"].get(k) == v for k, v in fields.items())
            for e in events
        )

    if kind == "broker":
        return any_event("commander", "mode", broker=name)
    if kind == "strategist":
        return any_event("strategist", "decision", strategist=name, error_type=None)
    if kind == "llm_provider":  # the llm strategist asked it and got a valid answer
        return any_event("strategist", "decision", strategist="llm", error_type=None)
    if kind == "skill":
        return any_event("hydrate", "skill", skill=name, ok=True)
    if kind == "market_data":  # the template feed starts on 2024-01-02
        return any_event("report", "cycle", as_of="2024-01-02T21:00:00+00:00")
    if kind == "metrics_sink":
        counts = json.loads((state / f"{name}-counts.json").read_text(encoding="utf-8"))
        return counts.get("commander.mode", 0) >= 1
    if kind == "scanner":  # selected in place of watchlist: the cycle's scan ran with it
        return any_event("scan", "candidates")
    # guards and notifiers: built (and checked) before the first cycle, else exit 2
    return True


def test_run_once_with_each_selected(installed):
    root, site = installed
    runs = {}
    for kind in KINDS:
        # The README's plugins.toml snippet, as a user would paste it.
        readme = (root / kind / "README.md").read_text(encoding="utf-8")
        snippet = re.search(r"```toml\n(.*?)```", readme, re.S).group(1)
        state = root / f"state-{kind}"
        config = root / f"{kind}.toml"
        config.write_text(
            f'[kernel]\nstate_dir = "{state}"\napproval_mode = "auto"\n\n{snippet}',
            encoding="utf-8",
        )
        command = [sys.executable, "-m", "tradekernel", "--config", str(config), "run", "--once"]
        runs[kind] = (
            state,
            subprocess.Popen(
                command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env(site)
            ),
        )
    for kind, (state, process) in runs.items():
        out, err = process.communicate(timeout=120)
        assert process.returncode == 0, f"{kind}: {err}"
        name = placeholders(kind, f"sc-{kind}")["component"]
        assert _used(kind, name, state), f"{kind}: {name} left no trace in the run\n{out}"


def test_refuses_an_existing_directory(tmp_path):
    target = tmp_path / "taken"
    target.mkdir()
    (target / "keep.txt").write_text("mine")
    result = invoke(["plugins", "new", "fine-name", "--kind", "guard", "--dir", str(target)])
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and "already exists" in result.stderr
    assert [p.name for p in target.iterdir()] == ["keep.txt"]


@pytest.mark.parametrize(
    "name",
    [
        "../evil",
        "a/b",
        "a\\b",
        "\x1b[2Jx",
        "Upper",
        "1starts-with-digit",
        "trailing-",
        "a--b",
        "sp ace",
        "",
        "x" * 41,
        "tradekernel-",
        "dot.ted",
        "é",
    ],
)
def test_refuses_a_bad_name(tmp_path, name):
    result = invoke(["plugins", "new", name, "--kind", "guard", "--dir", str(tmp_path / "d")])
    assert result.exit_code == 2, result.stdout
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("Error: plugin name")
    assert "\x1b" not in result.stderr
    assert not (tmp_path / "d").exists()


def test_refuses_an_unknown_kind(tmp_path):
    result = invoke(["plugins", "new", "x", "--kind", "scaner", "--dir", str(tmp_path / "d")])
    assert result.exit_code == 2 and "scaner" in result.stderr
    assert not (tmp_path / "d").exists()


def test_default_directory_and_prefix(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = invoke(["plugins", "new", "tradekernel-my-desk", "--kind", "notifier"])
    assert result.exit_code == 0, result.stderr
    made = tmp_path / "tradekernel-my-desk"
    assert (made / "tradekernel_my_desk" / "__init__.py").is_file()
    assert 'my-desk = "tradekernel_my_desk"' in (made / "pyproject.toml").read_text()


def test_help_imports_nothing_new():
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "tradekernel", "--help"],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0
    imported = {line.split("|")[-1].strip() for line in done.stderr.splitlines()}
    assert not {m for m in imported if "scaffold" in m or "plugins_new" in m or "contracts" in m}
