"""Notifications need a dispatcher: selected notifiers or a ``[notify]`` section without
the observer that routes events to them (``tradekernel-notify``) is refused by
``Kernel.check``, never a silent run; only the default ``log`` is a warning."""

from __future__ import annotations

import pytest
from tradekernel.errors import ConfigError
from tradekernel.hookspecs import hookimpl
from tradekernel.kernel import NOTIFICATION_DISPATCHER, Kernel
from tradekernel.plugins import PluginRegistry
from tradekernel.settings import Settings


def kernel(tmp_path, toml: str = "", *plugins: tuple[object, str], environ=None) -> Kernel:
    path = tmp_path / "plugins.toml"
    path.write_text(f'[kernel]\nstate_dir = "{tmp_path}"\n{toml}', encoding="utf-8")
    settings = Settings.load(path, environ=environ or {})
    registry = PluginRegistry(entry_points=[])  # nothing installed: no tradekernel-notify
    for plugin, name in plugins:
        registry.add_plugin(plugin, name)
    return Kernel(settings, registry.load())


class Router:
    """Attaches a dispatcher under the well-known name, as tradekernel-notify does."""

    @hookimpl
    def on_kernel_start(self, kernel):
        kernel.add_observer(Dispatcher(), NOTIFICATION_DISPATCHER)


class Dispatcher:
    @hookimpl
    def on_event(self, event):
        pass


def test_selected_notifiers_without_a_dispatcher_are_refused(tmp_path):
    k = kernel(tmp_path, '[components]\nnotifiers = ["log", "slack"]\n')
    with pytest.raises(ConfigError) as info:
        k.check()
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith("plugins.toml: [components] notifiers selects slack, but ")
    assert "tradekernel-notify is not installed (pip install tradekernel-notify)" in message
    assert message.endswith("so no notifier would receive anything")


def test_a_notify_section_without_a_dispatcher_is_refused(tmp_path):
    k = kernel(tmp_path, '[notify]\ndedup_window = "5m"\n')
    with pytest.raises(ConfigError, match=r"^plugins\.toml: \[notify\] is configured, but "):
        k.check()
    k = kernel(tmp_path, environ={"TRADEKERNEL_NOTIFY__TIMEOUT": "5s"})
    with pytest.raises(ConfigError, match=r"^environment TRADEKERNEL_NOTIFY__TIMEOUT: \[notify\]"):
        k.check()


def test_only_the_default_log_notifier_is_a_warning(tmp_path):
    k = kernel(tmp_path, "[components]\nmetrics_sinks = []\n")
    warnings = k.check_notifications()
    assert len(warnings) == 1
    assert warnings[0].startswith("[components] notifiers selects log, but tradekernel-notify")
    assert "events notify nobody" in warnings[0]
    with pytest.raises(ConfigError, match="broker 'paper' is not available"):
        k.check()  # the warning does not stop the check: the paper broker is missing here


def test_no_notifiers_or_notify_disabled_need_no_dispatcher(tmp_path):
    assert kernel(tmp_path, "[components]\nnotifiers = []\n").check_notifications() == []
    off = '[components]\nnotifiers = ["slack"]\n[notify]\nenabled = false\n'
    assert kernel(tmp_path, off).check_notifications() == []


def test_a_dispatcher_under_the_well_known_name_satisfies_the_check(tmp_path):
    toml = '[components]\nnotifiers = ["log", "slack"]\n[notify]\ndedup_window = "5m"\n'
    assert kernel(tmp_path, toml, (Router(), "router")).check_notifications() == []
