"""Repository-wide rules: only settings.py reads the environment, and start-up
(``--help``, ``--version``) imports no plugin and none of the heavy libraries."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCANNED = ("kernel", "plugins", "contrib")
ENV_READ = re.compile(r"\bos\.environ\b|\bgetenv\s*\(|\bfrom\s+os\s+import\s+[^#\n]*\benviron\b")
ALLOWED = {
    ROOT / "kernel" / "tradekernel" / "settings.py",
    # copies the environment a sweep worker started with and puts it back before each
    # job (a job may change it); it reads no setting from it
    ROOT / "plugins" / "backtest" / "tradekernel_backtest" / "processes.py",
}


def _sources() -> list[Path]:
    files = []
    for top in SCANNED:
        for path in sorted((ROOT / top).rglob("*.py")):
            parts = set(path.relative_to(ROOT).parts)
            if parts & {"tests", "build", ".venv"} or any(p.endswith(".egg-info") for p in parts):
                continue
            if path not in ALLOWED:
                files.append(path)
    return files


def test_the_scan_sees_the_code() -> None:
    names = {p.relative_to(ROOT).as_posix() for p in _sources()}
    assert "kernel/tradekernel/kernel.py" in names
    assert "contrib/symbol-blocklist/tradekernel_symbol_blocklist/__init__.py" in names
    assert ENV_READ.search("x = os.environ.get('A')")
    assert ENV_READ.search("from os import getenv, environ")
    assert ENV_READ.search("getenv ('A')")
    assert not ENV_READ.search("Settings.load(environ=env)")


def test_only_settings_reads_the_environment() -> None:
    offenders = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in _sources()
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if ENV_READ.search(line)
    ]
    assert not offenders, "environment read outside settings.py:\n" + "\n".join(offenders)


PROBE = """
import json, sys
from tradekernel.cli import main
try:
    main(sys.argv[2:])
except SystemExit as exc:
    code = exc.code
with open(sys.argv[1], "w") as f:
    json.dump({"code": code, "modules": sorted(sys.modules)}, f)
"""

HEAVY = ("pluggy", "cattrs", "attrs", "attr", "loguru", "httpx", "tenacity", "sqlite_utils")
"""Libraries that --help and --version do not need (see bench/startup.py)."""


def _plugin_roots() -> set[str]:
    roots = set()
    for ep in entry_points(group="tradekernel"):
        roots.add(ep.module.split(".")[0])
        for name in (ep.dist.read_text("top_level.txt") or "").split() if ep.dist else ():
            roots.add(name)
    roots.discard("tradekernel")
    return roots


@pytest.mark.parametrize("arg", ["--help", "--version"])
def test_startup_imports_no_plugin(tmp_path, arg) -> None:
    out = tmp_path / "modules.json"
    result = subprocess.run(
        [sys.executable, "-c", PROBE, str(out), arg],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    probe = json.loads(out.read_text())
    assert probe["code"] == 0
    modules = set(probe["modules"])
    assert "tradekernel.cli" in modules  # the probe really ran the CLI

    roots = _plugin_roots()
    assert "tradekernel_symbol_blocklist" in roots  # the contrib plugin is installed
    plugin_modules = sorted(
        m for m in modules if m.split(".")[0] in roots or m.startswith("tradekernel_")
    )
    assert not plugin_modules, f"{arg} imported plugin modules: {plugin_modules}"
    kernel_heavy = {"tradekernel.plugins", "tradekernel.settings", "tradekernel.kernel"}
    assert not modules & kernel_heavy
    assert not modules & set(HEAVY), f"{arg} imported {sorted(modules & set(HEAVY))}"


def test_help_lists_built_in_commands_with_their_help(cli) -> None:
    code, out, _ = cli("--help")
    assert code == 0
    assert re.search(r"^  config +Show and check the configuration\.$", out, re.M)
    assert re.search(r"^  plugins +Inspect installed plugins\.$", out, re.M)
    assert "Commands added by plugins are listed by `tradekernel plugins list`." in out


def test_help_lists_the_commands_of_installed_first_party_plugins(cli) -> None:
    """Found by package, not imported (the start-up test above checks no plugin is)."""
    code, out, _ = cli("--help")
    assert code == 0
    section = out.split("Commands of installed first-party plugins:", 1)[1]
    assert re.search(r"^  report +from tradekernel-report ", section, re.M)
    assert re.search(r"^  promote +from tradekernel-backtest ", section, re.M)


def test_version(cli) -> None:
    from tradekernel import __version__

    assert cli("--version") == (0, f"tradekernel, version {__version__}\n", "")


def test_run_once_opens_its_databases_without_sqlite_utils(tmp_path) -> None:
    """The store and the paper broker read and write with the stdlib sqlite3: sqlite-utils
    (and dateutil with it) is imported to create or migrate ``state.db`` (the first run)
    and for plugins' own tables, not on the start-up path of ``run --once`` once the state
    exists (see docs/performance.md)."""
    loaded = {}
    for attempt in ("first", "second"):
        out = tmp_path / f"modules-{attempt}.json"
        result = subprocess.run(
            [sys.executable, "-c", PROBE, str(out), "run", "--once", "--quiet"],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stderr
        probe = json.loads(out.read_text())
        assert probe["code"] in (0, None), attempt
        modules = set(probe["modules"])
        assert {"tradekernel.store.store", "tradekernel_paper.store"} <= modules, attempt
        loaded[attempt] = {m for m in modules if m.split(".")[0] in ("sqlite_utils", "dateutil")}
    assert "sqlite_utils" in loaded["first"]  # creating state.db migrates it: the probe sees it
    assert not loaded["second"], f"run --once imported {sorted(loaded['second'])}"


# A whole-string validator written ``^...$`` accepts a trailing newline (``$`` matches
# before a final "\n"), which then reaches ids, codes and headers: end them with ``\Z``
# (or call ``fullmatch``). Patterns ending in ``\s*$`` are exempt: the newline is blank.
DOLLAR_ANCHORED = re.compile(r"""re\.compile\(\s*r?(["'])\^(?:(?!\1).)*(?<!\\s\*)\$\1""")


def test_whole_string_validators_refuse_a_trailing_newline() -> None:
    assert DOLLAR_ANCHORED.search('X = re.compile(r"^[a-z]+$")')
    assert not DOLLAR_ANCHORED.search('X = re.compile(r"^[a-z]+\\Z")')
    assert not DOLLAR_ANCHORED.search('X = re.compile(r"^\\s*(\\d+)\\s*$")')
    offenders = [
        f"{path.relative_to(ROOT)}:{n}"
        for path in _sources()
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if DOLLAR_ANCHORED.search(line)
    ]
    assert not offenders, f"end these patterns with \\Z, not $: {offenders}"
