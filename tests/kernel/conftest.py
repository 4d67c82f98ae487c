"""Fixtures for the kernel foundation tests.

Plugins here are real installed distributions: either the contrib plugin installed in the
venv (``tradekernel-contrib-symbol-blocklist``) or ``<name>-<version>.dist-info`` folders
written into a temporary directory that goes on ``sys.path``/``PYTHONPATH``, which
``importlib.metadata`` discovers exactly as it discovers site-packages.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Callable, Iterator
from importlib.metadata import EntryPoint, PathDistribution, entry_points
from pathlib import Path

import pytest
from loguru import logger
from tradekernel.cli import main
from tradekernel.plugins import PluginRegistry

CONTRIB_DIST = "tradekernel-contrib-symbol-blocklist"
CONTRIB_EP = "symbol-blocklist"
TK_SCRIPT = Path(sys.executable).with_name("tradekernel")

STUB_PLUGIN = """
from tradekernel import hookimpl
from tradekernel.models import Account, Decision


class StubBroker:
    live_capable = False

    def submit(self, request): raise NotImplementedError
    def get_order(self, client_order_id): return None
    def cancel(self, client_order_id): return None
    def orders(self, *, open_only=False): return []
    def fills(self, client_order_id=None): return []
    def positions(self): return []
    def account(self): return Account(cash=1000, equity=1000)


class StubFeed:
    def symbols(self): return ["AAA"]
    def now(self): return None
    def advance(self): return None
    def quote(self, symbol): return None
    def bars(self, symbol, limit): return []
    def current_bar(self, symbol): return None


class StubStrategist:
    def decide(self, inputs): return Decision.hold("stub")


@hookimpl
def register_brokers(register):
    register("stub", lambda config, ctx: StubBroker())


@hookimpl
def register_market_data(register):
    register("stub", lambda config, ctx: StubFeed())


@hookimpl
def register_strategists(register):
    register("stub", lambda config, ctx: StubStrategist())
"""
"""A plugin with just enough components to make a configuration fully valid."""

STUB_CONFIG = """
[components]
broker = "stub"
market_data = "stub"
strategist = "stub"
scanner = "watchlist"
skills = []
required_skills = []
notifiers = ["log"]
metrics_sinks = []
"""
"""``[components]`` selecting only the stub plugin and kernel defaults."""


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """No TRADEKERNEL_* variable from the outer shell, a fresh working directory (so no
    ./plugins.toml is picked up), and loguru back on stderr afterwards."""
    for name in list(os.environ):
        if name.startswith("TRADEKERNEL_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    _log_to_current_stderr()
    yield
    _log_to_current_stderr()


def _log_to_current_stderr() -> None:
    # Resolve sys.stderr at write time, so capsys/capfd see what the kernel logs.
    logger.remove()
    logger.add(lambda message: sys.stderr.write(message), level="WARNING")


@pytest.fixture
def uid() -> str:
    """A suffix that keeps module names of generated plugins unique in this process."""
    return uuid.uuid4().hex[:8]


class DistFactory:
    """Writes installed distributions (``.dist-info`` + module) into one directory."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.modules: list[str] = []
        root.mkdir(parents=True, exist_ok=True)

    def add(
        self,
        dist: str,
        module: str,
        source: str,
        *,
        ep_name: str | None = None,
        version: str = "1.0",
    ) -> PathDistribution:
        """Install distribution ``dist`` whose ``tradekernel`` entry point loads ``module``."""
        info = self.root / f"{dist.replace('-', '_')}-{version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(
            f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n", encoding="utf-8"
        )
        (info / "entry_points.txt").write_text(
            f"[tradekernel]\n{ep_name or dist} = {module}\n", encoding="utf-8"
        )
        (self.root / f"{module}.py").write_text(textwrap.dedent(source), encoding="utf-8")
        self.modules.append(module)
        return PathDistribution(info)

    def forget(self) -> None:
        """Drop the modules written here from ``sys.modules``, as a new process would
        start (a registry registers a deferred plugin whose module is imported already)."""
        for name in list(sys.modules):
            if name.split(".")[0] in self.modules:
                del sys.modules[name]

    def entry_points(self) -> list[EntryPoint]:
        """The ``tradekernel`` entry points of every distribution written so far."""
        eps: list[EntryPoint] = []
        for info in sorted(self.root.glob("*.dist-info")):
            eps.extend(PathDistribution(info).entry_points.select(group="tradekernel"))
        return eps


@pytest.fixture
def dists(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> DistFactory:
    """A site directory on ``sys.path`` for generated plugin distributions."""
    factory = DistFactory(tmp_path / "site")
    monkeypatch.syspath_prepend(str(factory.root))
    return factory


def contrib_entry_points() -> list[EntryPoint]:
    """The real installed entry point of the contrib plugin (fails if it is not installed)."""
    eps = [ep for ep in entry_points(group="tradekernel") if ep.name == CONTRIB_EP]
    assert eps, f"{CONTRIB_DIST} is not installed: pip install -e contrib/symbol-blocklist"
    return eps


@pytest.fixture
def contrib_registry() -> Callable[..., PluginRegistry]:
    """A registry of the kernel defaults and the real installed contrib plugin only."""

    def build(*, block: tuple[str, ...] = (), extra: tuple[EntryPoint, ...] = ()) -> PluginRegistry:
        return PluginRegistry(entry_points=[*contrib_entry_points(), *extra], block=block)

    return build


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Callable[..., tuple[int, str, str]]:
    """Run ``tradekernel <args>`` in-process through the console entry point ``main``:
    returns ``(exit code, stdout, stderr)``."""

    def run(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        try:
            main(list(args))
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        else:  # pragma: no cover - main always exits
            code = 0
        out, err = capsys.readouterr()
        return code, out, err

    return run


@pytest.fixture
def tk(tmp_path: Path) -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run the installed ``tradekernel`` console script in a subprocess (in ``tmp_path``)."""

    def run(
        *args: str, pythonpath: Path | None = None, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        environ = {k: v for k, v in os.environ.items() if not k.startswith("TRADEKERNEL_")}
        if pythonpath is not None:
            environ["PYTHONPATH"] = str(pythonpath)
        environ.update(env or {})
        return subprocess.run(
            [str(TK_SCRIPT), *args],
            cwd=tmp_path,
            env=environ,
            capture_output=True,
            text=True,
            timeout=60,
        )

    return run


@pytest.fixture
def stub_config(tmp_path: Path, dists: DistFactory, uid: str) -> Callable[[str], Path]:
    """Install the stub plugin; ``write()`` puts a valid ``plugins.toml`` selecting it."""
    dists.add("tk-stub", f"tk_stub_{uid}", STUB_PLUGIN)

    def write(components: str = "", rest: str = "", name: str = "plugins.toml") -> Path:
        """``components``: more lines for ``[components]``; ``rest``: more tables."""
        path = tmp_path / name
        text = STUB_CONFIG + textwrap.dedent(components) + "\n" + textwrap.dedent(rest)
        path.write_text(text, encoding="utf-8")
        return path

    return write
