"""Helpers for testing plugins against a real kernel (public API for plugin authors).

A test builds a :class:`~tradekernel.kernel.Kernel` from a ``plugins.toml`` text whose
state lives in a temporary directory, optionally with in-process plugin objects, and
watches what happens through a :class:`Recorder`::

    from tradekernel.testing import KernelFactory

    def test_my_guard(tmp_path):
        with KernelFactory(tmp_path) as factory:
            kernel, recorder = factory.build('[components]\\nguards = ["my_guard"]\\n')
            guard = kernel.component("guard", "my_guard")
            ...

:func:`invoke` runs the real ``tradekernel`` console entry point in process, and the
contract classes (:class:`GuardContract`, :class:`NotifierContract`,
:class:`MetricsSinkContract`, :class:`StrategistContract`, :class:`ScannerContract`,
:class:`MarketDataContract`, :class:`SkillContract`, :class:`SizerContract`) check a
component against its kind's protocol as the kernel uses it: a plugin's test subclasses
the one of its kind (see docs/plugin-authoring.md). A broker's tests subclass
:class:`BrokerContract`, which drives the broker against its double through the
:class:`Venue` protocol (:mod:`tradekernel.broker_contract`, "Testing a broker" in
docs/plugin-authoring.md).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs
import pytest

from .broker_contract import BrokerContract, Venue
from .contracts import (
    NOW,
    STABLE_CODE,
    ComponentContract,
    GuardContract,
    MarketDataContract,
    MetricsSinkContract,
    NotifierContract,
    ScannerContract,
    SizerContract,
    SkillContract,
    StrategistContract,
    bad_scan_inputs,
    bad_strategy_inputs,
    every_event,
    guard_context,
    hostile_intents,
    hostile_notifications,
    hostile_size_requests,
    make_intent,
    sample_bars,
    scan_results,
    size_request,
    strategy_input,
)
from .events import scope
from .hookspecs import hookimpl
from .kernel import Kernel
from .models import Event, IntentTransition
from .plugins import PluginRegistry
from .settings import Settings
from .testing_http import HTTPReceiver, ReceivedRequest  # a real HTTP server for notifiers

__all__ = [
    "NOW",
    "STABLE_CODE",
    "BrokerContract",
    "ComponentContract",
    "GuardContract",
    "HTTPReceiver",
    "Invocation",
    "KernelFactory",
    "MarketDataContract",
    "MetricsSinkContract",
    "NotifierContract",
    "ReceivedRequest",
    "Recorder",
    "ScannerContract",
    "SizerContract",
    "SkillContract",
    "StrategistContract",
    "Venue",
    "bad_scan_inputs",
    "bad_strategy_inputs",
    "config_text",
    "every_event",
    "guard_context",
    "hostile_intents",
    "hostile_notifications",
    "hostile_size_requests",
    "in_cycle",
    "invoke",
    "kernel_factory",
    "make_intent",
    "modules_imported_by",
    "sample_bars",
    "scan_results",
    "size_request",
    "strategy_input",
]


class Recorder:
    """A plugin that keeps every event and intent transition it observes."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self.transitions: list[IntentTransition] = []

    @hookimpl
    def on_event(self, event: Event) -> None:
        self.events.append(event)

    @hookimpl
    def on_intent_transition(self, transition: IntentTransition) -> None:
        self.transitions.append(transition)

    def of(self, stage: str, kind: str | None = None) -> list[Event]:
        """The recorded events of ``stage`` (and ``kind``), in order."""
        return [e for e in self.events if e.stage == stage and (kind is None or e.kind == kind)]


def in_cycle(cycle_id: str) -> Any:
    """A context manager in which code runs as within kernel cycle ``cycle_id``
    (:func:`tradekernel.api.current_cycle_id` answers it), as the runtime's own cycles
    do: for testing a component that does something once per cycle."""
    return scope(cycle_id=cycle_id)


def config_text(
    components: Mapping[str, Any] | None = None,
    extra: str = "",
    *,
    state_dir: str | Path | None = None,
) -> str:
    """``plugins.toml`` text: the given ``[components]``, then ``extra`` (more sections).

    ``[kernel] state_dir`` is ``state_dir`` when given (a file ready for :func:`invoke`
    or ``Settings.load``), else the placeholder ``{state_dir}`` that
    :meth:`KernelFactory.build` and :meth:`KernelFactory.write_config` fill in."""
    where = "{state_dir}" if state_dir is None else str(state_dir)
    lines = [f"[kernel]\nstate_dir = {json.dumps(where)}\n\n[components]"]
    lines += [f"{key} = {json.dumps(value)}" for key, value in (components or {}).items()]
    return "\n".join(lines) + "\n\n" + extra


class KernelFactory:
    """Builds kernels whose state lives under ``directory``; closes them on exit."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self.kernels: list[Kernel] = []

    def write_config(self, text: str, name: str = "plugins.toml", state: str = "state") -> Path:
        """Write ``text`` to ``directory / name``, with ``{state_dir}`` replaced by
        ``directory / state`` (the state directory :meth:`build` uses), and return the
        path (for :func:`invoke` ``["--config", str(path), ...]``)."""
        path = self.directory / name
        path.write_text(text.replace("{state_dir}", str(self.directory / state)), "utf-8")
        return path

    def build(
        self,
        config: str = "",
        *,
        plugins: Iterable[tuple[Any, str]] = (),
        environ: Mapping[str, str] | None = None,
        state: str = "state",
    ) -> tuple[Kernel, Recorder]:
        """A kernel from ``config`` (``plugins.toml`` text) plus in-process ``plugins``
        (``(object, name)`` pairs). ``state_dir`` is ``directory / state``: set through the
        environment override, and written wherever ``config`` says ``{state_dir}`` (so a
        CLI run on the same file finds the same state)."""
        state_dir = str(self.directory / state)
        path = self.write_config(config, state=state)
        env = {"TRADEKERNEL_KERNEL__STATE_DIR": state_dir, **(environ or {})}
        settings = Settings.load(path, environ=env)
        registry = PluginRegistry(block=settings.plugins.block, allow=settings.plugins.load)
        recorder = Recorder()
        registry.add_plugin(recorder, f"test-recorder-{len(self.kernels)}")
        for plugin, name in plugins:
            registry.add_plugin(plugin, name)
        kernel = Kernel(settings, registry.load())
        self.kernels.append(kernel)
        return kernel, recorder

    def close(self) -> None:
        for kernel in self.kernels:
            kernel.close()
        self.kernels.clear()

    def __enter__(self) -> KernelFactory:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@pytest.fixture
def kernel_factory(tmp_path: Path) -> Iterator[KernelFactory]:
    """A :class:`KernelFactory` in ``tmp_path`` (import it into your ``conftest.py``)."""
    with KernelFactory(tmp_path) as factory:
        yield factory


@attrs.frozen
class Invocation:
    """What :func:`invoke` saw: the exit code the console script would give, and its
    standard output and standard error, separately."""

    exit_code: int
    stdout: str
    stderr: str


def invoke(
    args: Sequence[str],
    env: Mapping[str, str | None] | None = None,
    input: str | bytes | None = None,
) -> Invocation:
    """Run ``tradekernel ARGS`` through the real console entry point
    (:func:`tradekernel.cli.main`) in this process and return its exit code and output.

    Unlike click's ``CliRunner.invoke`` on the command group, errors are handled exactly
    as the installed script handles them (a usage error is 2, a refusal 3, a failed gate
    4, one line on stderr). ``env`` sets (a ``None`` value unsets) environment variables
    for the call only; ``input`` is standard input."""
    from click.testing import CliRunner

    from .cli import main

    with CliRunner().isolation(input=input, env=env) as streams:
        try:
            main(list(args))
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
        stdout, stderr = (s.getvalue().decode("utf-8", "replace") for s in streams[:2])
    return Invocation(exit_code=code, stdout=stdout, stderr=stderr)


_PROBE = """
import json, runpy, sys
out, sys.argv = sys.argv[1], ["tradekernel", *sys.argv[2:]]
try:
    runpy.run_module("tradekernel", run_name="__main__")  # as `python -m tradekernel`
except SystemExit:
    pass
with open(out, "w") as f:
    json.dump(sorted(sys.modules), f)
"""


def modules_imported_by(args: Sequence[str], cwd: Path) -> set[str]:
    """The modules a fresh ``python -m tradekernel ARGS`` process has imported when it
    ends (run in ``cwd``): a plugin's test checks that commands which do not use it never
    import its heavy dependencies."""
    import subprocess

    out = Path(cwd) / "modules.json"
    result = subprocess.run(
        [sys.executable, "-c", _PROBE, str(out), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.exists(), result.stderr
    return set(json.loads(out.read_text()))


_ELSEWHERE: dict[str, str] = {
    "cli": "tradekernel.cli",
}
"""Test helpers defined in other kernel modules, imported on first use (:pep:`562`):
``cli``, the ``tradekernel`` command group to run with :class:`click.testing.CliRunner`."""


def __getattr__(name: str) -> Any:
    module = _ELSEWHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'tradekernel.testing' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
