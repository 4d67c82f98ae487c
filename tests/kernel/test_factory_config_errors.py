"""A factory's ConfigError names where the value was really set: ctx.config_error and
tradekernel.api.config_error say the file or the TRADEKERNEL_<KIND>__<NAME>__<KEY>
variable, and the kernel puts the component's section before a bare message."""

from __future__ import annotations

import pytest
from attrs import define
from tradekernel import hookimpl
from tradekernel.delivery.support import config_error
from tradekernel.errors import ConfigError
from tradekernel.models import GuardVerdict
from tradekernel.testing import KernelFactory, config_text


@define
class LimitConfig:
    limit: int = 1
    url: str = "https://example.invalid/"


class _Guard:
    def check(self, intent, ctx):
        return GuardVerdict.allowed("picky")


class Picky:
    """A guard and a notifier whose factories refuse their config three ways."""

    @hookimpl
    def register_guards(self, register):
        register("picky", self.guard, config=LimitConfig)
        register("bare", self.bare, config=LimitConfig)

    @hookimpl
    def register_notifiers(self, register):
        register("picky_hook", self.notifier, config=LimitConfig)

    @staticmethod
    def guard(config, ctx):
        if config.limit > 10:
            raise ctx.config_error("limit", f"expected at most 10, got {config.limit}")
        return _Guard()

    @staticmethod
    def bare(config, ctx):
        raise ConfigError("the limit is too high")

    @staticmethod
    def notifier(config, ctx):
        raise config_error(ctx, "picky_hook", "url", "expected an https:// URL")


def _error(tmp_path, selection, section, environ) -> str:
    with KernelFactory(tmp_path) as factory:
        kernel, _ = factory.build(
            config_text(selection, section), plugins=[(Picky(), "picky")], environ=environ
        )
        with pytest.raises(ConfigError) as info:
            kernel.check()
        return str(info.value)


def test_ctx_config_error_names_the_file(tmp_path):
    message = _error(tmp_path, {"guards": ["picky"]}, "[guard.picky]\nlimit = 11\n", {})
    assert message == "plugins.toml: [guard.picky] limit: expected at most 10, got 11"


def test_ctx_config_error_names_the_environment_variable(tmp_path):
    env = {"TRADEKERNEL_GUARD__PICKY__LIMIT": "12"}
    message = _error(tmp_path, {"guards": ["picky"]}, "[guard.picky]\nlimit = 1\n", env)
    assert message == (
        "environment TRADEKERNEL_GUARD__PICKY__LIMIT: [guard.picky] limit: "
        "expected at most 10, got 12"
    )


@pytest.mark.parametrize(
    ("section", "environ", "where"),
    [
        ('[notifier.picky_hook]\nurl = "ftp://x"\n', {}, "plugins.toml"),
        ("", {"TRADEKERNEL_NOTIFIER__PICKY_HOOK__URL": "ftp://x"}, "environment "),
    ],
)
def test_api_config_error_names_the_real_source(tmp_path, section, environ, where):
    selection = {"notifiers": ["picky_hook"]}
    message = _error(tmp_path, selection, section, environ)
    expected = "[notifier.picky_hook] url: expected an https:// URL"
    assert message.startswith(where) and message.endswith(expected), message
    if environ:
        assert message.startswith("environment TRADEKERNEL_NOTIFIER__PICKY_HOOK__URL: ")


@pytest.mark.parametrize(
    ("section", "environ", "where"),
    [
        ("[guard.bare]\nlimit = 3\n", {}, "plugins.toml"),
        ("", {"TRADEKERNEL_GUARD__BARE__LIMIT": "3"}, "environment TRADEKERNEL_GUARD__BARE__LIMIT"),
    ],
)
def test_a_bare_factory_error_gets_the_components_section(tmp_path, section, environ, where):
    message = _error(tmp_path, {"guards": ["bare"]}, section, environ)
    assert message == f"{where}: [guard.bare]: the limit is too high"


class _Broken:
    """In-process plugins: a sink that is not one, a guard whose factory fails."""

    @hookimpl
    def register_metrics_sinks(self, register):
        register("badsink", lambda config, ctx: object())

    @hookimpl
    def register_guards(self, register):
        register("crashy", self.crashy)

    @staticmethod
    def crashy(config, ctx):
        raise RuntimeError("boom")


@pytest.mark.parametrize(
    ("selection", "expected"),
    [
        ({"metrics_sinks": ["badsink"]}, "metrics_sink:badsink (local): its factory returned"),
        ({"guards": ["crashy"]}, "guard:crashy (local) could not start: RuntimeError: boom"),
    ],
)
def test_an_in_process_plugin_is_named_once_in_parentheses(tmp_path, selection, expected):
    with KernelFactory(tmp_path) as factory:
        kernel, _ = factory.build(config_text(selection), plugins=[(_Broken(), "broken")])
        with pytest.raises(ConfigError) as info:
            kernel.check()
    assert expected in str(info.value) and "((" not in str(info.value)
