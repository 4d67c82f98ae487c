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
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from .hookspecs import hookimpl
from .kernel import Kernel
from .models import Event, IntentTransition
from .plugins import PluginRegistry
from .settings import Settings


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


def config_text(components: Mapping[str, Any] | None = None, extra: str = "") -> str:
    """``plugins.toml`` text: state in ``{state_dir}``, the given ``[components]``, then
    ``extra`` (more sections)."""
    lines = ['[kernel]\nstate_dir = "{state_dir}"\n\n[components]']
    lines += [f"{key} = {json.dumps(value)}" for key, value in (components or {}).items()]
    return "\n".join(lines) + "\n\n" + extra


class KernelFactory:
    """Builds kernels whose state lives under ``directory``; closes them on exit."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self.kernels: list[Kernel] = []

    def write_config(self, text: str, name: str = "plugins.toml") -> Path:
        path = self.directory / name
        path.write_text(text, encoding="utf-8")
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
        path = self.write_config(config.replace("{state_dir}", state_dir))
        env = {"TRADEKERNEL_KERNEL__STATE_DIR": state_dir, **(environ or {})}
        settings = Settings.load(path, environ=env)
        registry = PluginRegistry(block=settings.plugins.block)
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
