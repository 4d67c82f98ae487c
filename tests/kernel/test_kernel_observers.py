"""``on_kernel_start`` and per-kernel observers (``Kernel.add_observer``): how a plugin
such as tradekernel-notify attaches state to each kernel without the kernel knowing it."""

from __future__ import annotations

import pytest
from tradekernel.errors import PluginError
from tradekernel.events import EventBus
from tradekernel.hookspecs import hookimpl
from tradekernel.kernel import Kernel
from tradekernel.models import IntentTransition
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
    first.emit("custom", "one")  # a per-kernel observer sees its own kernel's events only
    assert [c.keys for c in counters] == [["custom.one"], []]
    second.emit("custom", "two")
    assert [c.keys for c in counters] == [["custom.one"], ["custom.two"]]
    first.close()
    assert first.observer("test.counter") is None
    second.emit("custom", "three")
    assert [c.keys for c in counters] == [["custom.one"], ["custom.two", "custom.three"]]
    second.close()
    assert [p for p in shared.pm.get_plugins() if isinstance(p, Counter)] == []


class Everything:
    """A plugin-level observer (a hook implementation of the registry's plugin)."""

    def __init__(self) -> None:
        self.keys: list[str] = []
        self.transitions: list[str] = []

    @hookimpl
    def on_event(self, event):
        self.keys.append(f"{event.stage}.{event.kind}")

    @hookimpl
    def on_intent_transition(self, transition):
        self.transitions.append(transition.intent_id)


class Transitions:
    def __init__(self) -> None:
        self.ids: list[str] = []

    @hookimpl
    def on_intent_transition(self, transition):
        self.ids.append(transition.intent_id)


def test_plugin_level_observers_see_every_kernel_and_per_kernel_ones_their_own(settings):
    everything = Everything()
    shared = registry((everything, "everything"))
    first, second = Kernel(settings, shared), Kernel(settings, shared)
    mine = Transitions(), Transitions()
    first.add_observer(mine[0], "test.transitions")
    second.add_observer(mine[1], "test.transitions")
    first.emit("custom", "one")
    second.emit("custom", "two")
    assert everything.keys == ["custom.one", "custom.two"]
    for kernel, intent_id in ((first, "int_a"), (second, "int_b")):
        kernel.dispatch_transition(
            IntentTransition(
                intent_id=intent_id, from_state="proposed", to_state="approved", actor="op"
            )
        )
    assert everything.transitions == ["int_a", "int_b"]
    assert [m.ids for m in mine] == [["int_a"], ["int_b"]]
    first.close()
    second.close()


class Echo:
    """A per-kernel observer that emits an event of its own while it observes one."""

    def __init__(self, kernel: Kernel) -> None:
        self.kernel = kernel

    @hookimpl
    def on_event(self, event):
        if event.stage == "custom":
            self.kernel.emit("echo", "dropped")  # inside a dispatch: dropped
            EventBus(self.kernel.dispatch_event).emit("echo", "nested")


def test_an_observer_dispatches_its_own_events_to_its_kernel_only(settings):
    shared = registry()
    first, second = Kernel(settings, shared), Kernel(settings, shared)
    first.add_observer(Echo(first), "test.echo")
    counters = Counter(first), Counter(second)
    first.add_observer(counters[0], "test.counter")
    second.add_observer(counters[1], "test.counter")
    first.emit("custom", "one")
    assert [c.keys for c in counters] == [["echo.nested", "custom.one"], []]
    first.close()
    second.close()


def test_an_observer_with_an_unknown_hook_is_refused(settings):
    class Typo:
        @hookimpl
        def on_evnt(self, event):
            pass

    kernel = Kernel(settings, registry())
    with pytest.raises(PluginError, match=r"observer 'test\.typo'"):
        kernel.add_observer(Typo(), "test.typo")
    assert kernel.observer("test.typo") is None
    kernel.close()


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


class Holder:
    """An observer that holds a resource of its own (a connection) until closed."""

    def __init__(self, fails: bool = False) -> None:
        self.closed = 0
        self.fails = fails

    @hookimpl
    def on_event(self, event):
        pass

    def close(self) -> None:
        self.closed += 1
        if self.fails:
            raise RuntimeError("already gone")


def test_closing_the_kernel_closes_its_observers_once(settings):
    kernel = Kernel(settings, registry())
    holders = [Holder(fails=True), Holder()]
    kernel.add_observer(holders[0], "test.failing")
    kernel.add_observer(holders[1], "test.holder")
    kernel.close()  # one observer failing to close does not keep the next open
    assert [h.closed for h in holders] == [1, 1]
    assert kernel.observer("test.holder") is None
    kernel.close()
    assert [h.closed for h in holders] == [1, 1]
