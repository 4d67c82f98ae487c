"""``on_kernel_start`` and per-kernel observers (``Kernel.add_observer``): how a plugin
such as tradekernel-notify attaches state to each kernel without the kernel knowing it."""

from __future__ import annotations

import pytest
from tradekernel.errors import PluginError
from tradekernel.hookspecs import hookimpl
from tradekernel.kernel import Kernel
from tradekernel.plugins import PluginRegistry
from tradekernel.settings import Settings


class Counter:
    """A per-kernel observer: counts the events of its own kernel."""

    def __init__(self, kernel: Kernel) -> None:
        self.kernel = kernel
        self.keys: list[str] = []

    @hookimpl
    def on_event(self, event):
        self.keys.append(f"{event.stage}.{event.kind}")


class Attacher:
    """A plugin that attaches one :class:`Counter` to every kernel at its start."""

    def __init__(self) -> None:
        self.started: list[Kernel] = []

    @hookimpl
    def on_kernel_start(self, kernel):
        self.started.append(kernel)
        kernel.add_observer(Counter(kernel), "test.counter")


class Raising:
    @hookimpl
    def on_kernel_start(self, kernel):
        raise RuntimeError("cannot start")


def registry(*plugins: tuple[object, str]) -> PluginRegistry:
    reg = PluginRegistry(entry_points=[])
    for plugin, name in plugins:
        reg.add_plugin(plugin, name)
    return reg.load()


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings.load(
        environ={}, overrides={"kernel.state_dir": str(tmp_path), "components.metrics_sinks": []}
    )


def test_each_kernel_gets_its_own_observer_on_a_shared_registry(settings):
    attacher = Attacher()
    shared = registry((attacher, "attacher"))
    first, second = Kernel(settings, shared), Kernel(settings, shared)
    assert attacher.started == [first, second]  # once per kernel
    counters = first.observer("test.counter"), second.observer("test.counter")
    assert counters[0] is not counters[1]
    assert [c.kernel for c in counters] == [first, second]
    # One plugin manager: every observer registered in it sees every kernel's events.
    first.emit("custom", "one")
    assert [c.keys for c in counters] == [["custom.one"], ["custom.one"]]
    first.close()
    assert first.observer("test.counter") is None
    second.emit("custom", "two")  # the first kernel's observer left the registry
    assert [c.keys for c in counters] == [["custom.one"], ["custom.one", "custom.two"]]
    second.close()
    assert [p for p in shared.pm.get_plugins() if isinstance(p, Counter)] == []


def test_a_raising_on_kernel_start_is_logged_and_skipped(settings):
    attacher = Attacher()
    kernel = Kernel(settings, registry((Raising(), "raising"), (attacher, "attacher")))
    assert attacher.started == [kernel]
    kernel.emit("custom", "one")
    assert kernel.observer("test.counter").keys == ["custom.one"]
    kernel.close()


def test_an_observer_name_is_taken_once_per_kernel(settings):
    kernel = Kernel(settings, registry())
    kernel.add_observer(Counter(kernel), "test.counter")
    with pytest.raises(PluginError, match=r"already has an observer named 'test\.counter'"):
        kernel.add_observer(Counter(kernel), "test.counter")
    assert kernel.observer("no.such") is None
    kernel.close()
