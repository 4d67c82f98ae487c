"""Plugin discovery and the component registry.

Plugins are found through the ``tradekernel`` entry-point group, exactly as a third
party's would be, plus the kernel's own default plugins (``tradekernel.defaults``).
Nothing here runs at import time: a :class:`PluginRegistry` loads plugins when a
command first needs them, so ``tradekernel --help`` imports no plugin module.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable, Iterable
from importlib.metadata import EntryPoint, entry_points
from typing import Any

import pluggy
from attrs import define, field
from loguru import logger

from . import hookspecs
from .components import KINDS
from .errors import PluginError
from .sections import suggest

ENTRY_POINT_GROUP = "tradekernel"

REGISTRATION_HOOKS: dict[str, str] = {
    "register_brokers": "broker",
    "register_market_data": "market_data",
    "register_llm_providers": "llm_provider",
    "register_strategists": "strategist",
    "register_scanners": "scanner",
    "register_skills": "skill",
    "register_guards": "guard",
    "register_notifiers": "notifier",
    "register_metrics_sinks": "metrics_sink",
}

DEFAULT_PLUGINS = (
    "tradekernel.defaults.skills",
    "tradekernel.defaults.scanner",
    "tradekernel.defaults.notifier",
)
"""The kernel's own default behaviour, written as plugins (as datasette does)."""

KNOWN_DISTRIBUTIONS: dict[tuple[str, str], str] = {
    ("broker", "paper"): "tradekernel-paper",
    ("market_data", "synthetic"): "tradekernel-marketdata",
    ("market_data", "replay"): "tradekernel-marketdata",
    ("strategist", "hold"): "tradekernel-rules",
    ("strategist", "sma-cross"): "tradekernel-rules",
    ("strategist", "llm"): "tradekernel-llm",
    ("llm_provider", "openrouter"): "tradekernel-openrouter",
    ("llm_provider", "openai-compatible"): "tradekernel-openai-compatible",
    ("notifier", "slack"): "tradekernel-slack",
    ("notifier", "webhook"): "tradekernel-webhook",
    ("notifier", "email"): "tradekernel-email",
    ("metrics_sink", "jsonl"): "tradekernel-jsonl",
    ("metrics_sink", "sqlite"): "tradekernel-sqlite-sink",
    ("metrics_sink", "prometheus"): "tradekernel-prometheus",
}
"""First-party components and the distribution that provides each, for install hints."""

for _guard in (
    "kill_switch",
    "allowlist",
    "denylist",
    "max_order_notional",
    "max_position",
    "max_gross_exposure",
    "daily_loss_limit",
    "max_orders_per_day",
    "order_rate",
    "symbol_cooldown",
    "session_hours",
):
    KNOWN_DISTRIBUTIONS[("guard", _guard)] = "tradekernel-guards"


@define
class ComponentSpec:
    """One registered component: how to build it and who provides it."""

    kind: str
    name: str
    factory: Callable[..., Any]
    config_class: type | None
    version: str
    description: str
    plugin: str
    distribution: str

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.name}"


@define
class PluginInfo:
    """What ``plugins list`` shows about one plugin."""

    name: str
    distribution: str
    version: str
    status: str = "enabled"
    """``enabled``, ``blocked``, ``error``, ``default`` (built into the kernel) or ``local``
    (added in-process with :meth:`PluginRegistry.add_plugin`)."""
    hooks: list[str] = field(factory=list)
    components: list[str] = field(factory=list)
    error: str | None = None


def _new_manager() -> pluggy.PluginManager:
    pm = pluggy.PluginManager("tradekernel")
    pm.add_hookspecs(hookspecs)
    return pm


class PluginRegistry:
    """Loads plugins and holds every registered component.

    ``entry_points`` can be passed in (tests); by default it is the installed
    ``tradekernel`` entry-point group.
    """

    def __init__(
        self,
        *,
        block: Iterable[str] = (),
        entry_points: Iterable[EntryPoint] | None = None,
        defaults: Iterable[str] = DEFAULT_PLUGINS,
    ) -> None:
        self.pm = _new_manager()
        self.block = {_normalise(b) for b in block}
        self.infos: list[PluginInfo] = []
        self.specs: dict[tuple[str, str], ComponentSpec] = {}
        self.conflicts: dict[tuple[str, str], str] = {}
        """Components registered by two plugins: selecting one is an error."""
        self._entry_points = entry_points
        self._defaults = tuple(defaults)
        self._local: list[tuple[Any, str]] = []
        self._loaded = False

    # -- loading ------------------------------------------------------------------

    def add_plugin(self, plugin: Any, name: str) -> PluginRegistry:
        """Register an in-process plugin object (embedding, tests) before :meth:`load`."""
        if self._loaded:
            raise PluginError(f"add_plugin({name!r}) must be called before load()")
        self._local.append((plugin, name))
        return self

    def load(self) -> PluginRegistry:
        """Import every plugin (once) and collect the components they register."""
        if self._loaded:
            return self
        self._loaded = True
        for module_name in self._defaults:
            module = importlib.import_module(module_name)
            info = PluginInfo(
                name=module_name,
                distribution="tradekernel",
                version=_kernel_version(),
                status="default",
            )
            self._add(module, module_name, info)
        eps = self._entry_points
        if eps is None:
            eps = entry_points(group=ENTRY_POINT_GROUP)
        for ep in sorted(eps, key=lambda e: e.name):
            dist = ep.dist.name if ep.dist else "?"
            version = ep.dist.version if ep.dist else "?"
            info = PluginInfo(name=ep.name, distribution=dist, version=version)
            if _normalise(dist) in self.block or _normalise(ep.name) in self.block:
                info.status = "blocked"
                self.infos.append(info)
                continue
            try:
                plugin = ep.load()
            except (Exception, SystemExit) as exc:
                self._fail(info, f"import failed: {type(exc).__name__}: {exc}")
                continue
            self._add(plugin, ep.name, info)
        for plugin, name in self._local:
            self._add(
                plugin,
                name,
                PluginInfo(name=name, distribution="(local)", version="", status="local"),
            )
        self._collect()
        return self

    def _fail(self, info: PluginInfo, error: str) -> None:
        error = " ".join(error.split())  # pluggy and SyntaxError messages span lines
        info.status = "error"
        info.error = error
        self.infos.append(info)
        logger.warning("plugin {} ({}) not loaded: {}", info.name, info.distribution, error)

    def _add(self, plugin: Any, name: str, info: PluginInfo) -> None:
        if self.pm.has_plugin(name) or self.pm.get_plugin(name) is not None:
            other = next((i for i in self.infos if i.name == name), None)
            by = f" by {other.distribution}" if other else ""
            self._fail(info, f"another plugin is already registered as {name!r}{by}")
            return
        try:
            self.pm.register(plugin, name=name)
            self.pm.check_pending()
        except pluggy.PluginValidationError as exc:
            if self.pm.get_plugin(name) is not None:
                self.pm.unregister(name=name)
            self._fail(info, f"invalid hook implementation: {exc}")
            return
        except ValueError as exc:  # the same object registered under two names
            self._fail(info, f"cannot register: {exc}")
            return
        info.hooks = sorted(impl_name for impl_name in _hook_names(self.pm, plugin))
        self.infos.append(info)

    def _collect(self) -> None:
        by_plugin = {info.name: info for info in self.infos}
        for hook_name, kind in REGISTRATION_HOOKS.items():
            caller = getattr(self.pm.hook, hook_name)
            for impl in caller.get_hookimpls():
                info = by_plugin[impl.plugin_name]
                if info.status == "error":
                    continue
                added: list[ComponentSpec] = []
                register = self._register_function(kind, info, added)
                try:
                    impl.function(*([register] if impl.argnames else []))
                except PluginError as exc:
                    self._drop(info, str(exc))
                except Exception as exc:
                    self._drop(info, f"{hook_name} failed: {type(exc).__name__}: {exc}")

    def _drop(self, info: PluginInfo, error: str) -> None:
        """Unload a plugin whose registration failed: all of it, not just the failing hook
        (its other components, its observers and its commands go too)."""
        for key, spec in list(self.specs.items()):
            if spec.plugin == info.name and spec.distribution == info.distribution:
                del self.specs[key]
        info.components.clear()
        info.hooks.clear()
        if self.pm.get_plugin(info.name) is not None:
            self.pm.unregister(name=info.name)
        info.status = "error"
        info.error = error
        logger.warning("plugin {} ({}) not loaded: {}", info.name, info.distribution, error)

    def _register_function(
        self, kind: str, info: PluginInfo, added: list[ComponentSpec]
    ) -> Callable[..., None]:
        def register(
            name: str,
            factory: Callable[..., Any],
            *,
            config: type | None = None,
            version: str = "1",
            description: str = "",
        ) -> None:
            if not isinstance(name, str) or not name:
                raise PluginError(f"{info.name}: register() needs a non-empty name")
            if not callable(factory):
                raise PluginError(f"{info.name}: {kind}:{name}: factory is not callable")
            existing = self.specs.get((kind, name))
            if existing is not None:
                message = (
                    f"{kind}:{name} is registered twice: by {existing.plugin} "
                    f"({existing.distribution}) and by {info.name} ({info.distribution}); "
                    "block one of them in [plugins] block"
                )
                self.conflicts[(kind, name)] = message
                raise PluginError(message)
            spec = ComponentSpec(
                kind=kind,
                name=name,
                factory=factory,
                config_class=config,
                version=str(version),
                description=description or (factory.__doc__ or "").strip().split("\n")[0],
                plugin=info.name,
                distribution=info.distribution,
            )
            self.specs[(kind, name)] = spec
            added.append(spec)
            info.components.append(spec.key)

        return register

    # -- queries -----------------------------------------------------------------------

    def spec(self, kind: str, name: str) -> ComponentSpec:
        """The registered component ``kind``/``name``, or a :class:`PluginError` that says
        which plugin should provide it, why it is missing, and how to install it."""
        self.load()
        if kind not in KINDS:
            raise PluginError(f"unknown component kind {kind!r}")
        if (kind, name) in self.conflicts:
            raise PluginError(self.conflicts[(kind, name)])
        spec = self.specs.get((kind, name))
        if spec is not None:
            return spec
        registered = sorted(n for k, n in self.specs if k == kind)
        message = f"{kind} {name!r} is not available{suggest(name, registered)}"
        dist = KNOWN_DISTRIBUTIONS.get((kind, name))
        broken = [i for i in self.infos if i.status == "error"]
        blocked = [i for i in self.infos if i.status == "blocked"]
        owner = next((i for i in broken + blocked if dist and i.distribution == dist), None)
        if owner is not None and owner.status == "error":
            message += (
                f": its plugin {owner.name} ({owner.distribution}) failed to load: {owner.error}"
            )
        elif owner is not None:
            message += f": its distribution {owner.distribution} is blocked in [plugins] block"
        else:
            message += f" (registered {kind}s: {', '.join(registered) or 'none'})"
            if broken:
                message += "; plugins that failed to load: " + ", ".join(
                    f"{i.name} ({i.distribution}): {i.error}" for i in broken
                )
            if blocked:
                message += "; blocked in [plugins] block: " + ", ".join(
                    f"{i.name} ({i.distribution})" for i in blocked
                )
            if dist:
                message += f"; it is provided by {dist}: pip install {dist}"
        raise PluginError(message)

    def names(self, kind: str) -> list[str]:
        self.load()
        return sorted(n for k, n in self.specs if k == kind)

    def hook(self) -> Any:
        return self.pm.hook

    def call_each(self, hook_name: str, **kwargs: Any) -> None:
        """Call every implementation of an observer hook; one that raises is logged and
        skipped so that no observer can stop the kernel."""
        for impl in getattr(self.pm.hook, hook_name).get_hookimpls():
            try:
                impl.function(*[kwargs[a] for a in impl.argnames])
            except Exception as exc:
                logger.warning(
                    "{} hook of plugin {} raised {}: {}: skipped",
                    hook_name,
                    impl.plugin_name,
                    type(exc).__name__,
                    exc,
                )
                logger.opt(exception=exc).debug("{} hook traceback", hook_name)

    def observers(self, hook_name: str) -> list[Any]:
        return list(getattr(self.pm.hook, hook_name).get_hookimpls())


def _normalise(name: str) -> str:
    """A distribution or entry-point name compared the PEP 503 way (``A_b.c`` == ``a-b-c``)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _kernel_version() -> str:
    from . import __version__

    return __version__


def _hook_names(pm: pluggy.PluginManager, plugin: Any) -> list[str]:
    return [caller.name for caller in (pm.get_hookcallers(plugin) or [])]
