"""Plugin discovery and the component registry.

Plugins are found through the ``tradekernel`` entry-point group, exactly as a third
party's would be, plus the kernel's own default plugins (``tradekernel.defaults``).
Nothing here runs at import time: a :class:`PluginRegistry` loads plugins when a
command first needs them, so ``tradekernel --help`` imports no plugin module.

What may load and the install hints are :mod:`tradekernel.plugin_policy`, what is
recorded :mod:`tradekernel.plugin_records`, the commands plugins add
:mod:`tradekernel.plugin_commands`, the manifest :mod:`tradekernel.plugin_manifest`.
"""

from __future__ import annotations

import importlib
import sys
import threading
from collections import Counter
from collections.abc import Callable, Iterable
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from typing import Any

import pluggy
from attrs import define
from loguru import logger

from . import hookspecs, plugin_manifest
from .components import KINDS
from .errors import PluginError
from .plugin_commands import add_commands, command_names, mark_conflicts
from .plugin_policy import (
    KNOWN_COMMANDS,  # noqa: F401 - re-exported (tests use it)
    KNOWN_DISTRIBUTIONS,
    api_problem,
    hinted,
    in_parens,
    install_hint,
)
from .plugin_policy import normalise as _normalise
from .plugin_records import (
    ComponentListing,  # noqa: F401 - re-exported
    ComponentSpec,
    PluginInfo,
    register_function,
)
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
    "register_allocators": "allocator",
    "register_sizers": "sizer",
    "register_runtimes": "runtime",
    "register_stores": "store",
    "register_nodes": "node",
    "register_sweepers": "sweeper",
}

DEFAULT_PLUGINS = (
    "tradekernel.defaults.skills",
    "tradekernel.defaults.scanner",
    "tradekernel.defaults.notifier",
    "tradekernel.defaults.strategist",
    "tradekernel.defaults.allocator",
    "tradekernel.defaults.sizer",
    "tradekernel.defaults.runtime",
    "tradekernel.defaults.store",
)
"""The kernel's own default behaviour, written as plugins (as datasette does)."""


@define
class _Deferred:
    """An installed plugin not imported yet: its entry point and its manifest entry."""

    ep: EntryPoint
    info: PluginInfo
    entry: dict[str, Any]


def _new_manager() -> pluggy.PluginManager:
    pm = pluggy.PluginManager("tradekernel")
    pm.add_hookspecs(hookspecs)
    return pm


class PluginRegistry:
    """Loads plugins and holds every registered component.

    ``entry_points`` can be passed in (tests); by default it is the installed
    ``tradekernel`` entry-point group. ``block`` names distributions or entry points never
    to import; ``allow`` (``[plugins] load``), when not ``None``, the only ones to import.

    With a ``manifest`` path (:mod:`tradekernel.plugin_manifest`) loading is lazy: a
    plugin whose fresh manifest entry shows no observer hook is imported only when a
    component it registers is asked for (:meth:`spec`), when one of its commands runs
    (:meth:`load_commands`) or when everything is (:meth:`load_all`). Without one, every
    allowed plugin is imported by :meth:`load`.
    """

    def __init__(
        self,
        *,
        block: Iterable[str] = (),
        allow: Iterable[str] | None = None,
        entry_points: Iterable[EntryPoint] | None = None,
        defaults: Iterable[str] = DEFAULT_PLUGINS,
        manifest: Path | None = None,
        redact: Callable[[str], str] | None = None,
    ) -> None:
        self.pm = _new_manager()
        self.redact = redact or (lambda text: text)
        """Masks secrets in the load errors kept (a plugin's exception may quote one)."""
        self.block = {_normalise(b) for b in block}
        self.allow = None if allow is None else {_normalise(a) for a in allow}
        self.infos: list[PluginInfo] = []
        self.specs: dict[tuple[str, str], ComponentSpec] = {}
        self.conflicts: dict[tuple[str, str], str] = {}
        """Components registered by two plugins: selecting one is an error."""
        self.command_conflicts: dict[str, str] = {}
        """Commands added by two plugins: running one is refused (exit 2)."""
        self.command_failures: dict[str, str] = {}
        """Why a plugin's ``register_commands`` failed, by plugin name."""
        self.failures: dict[str, BaseException] = {}
        """The exception that stopped each plugin that failed (for ``-v`` tracebacks)."""
        self.manifest = manifest
        self._entry_points = entry_points
        self._defaults = tuple(defaults)
        self._local: list[tuple[Any, str]] = []
        self._loaded = False
        self._deferred: dict[str, _Deferred] = {}
        self._order: dict[str, int] = {}
        self._registered: dict[str, list[dict[str, Any]]] = {}
        self._stamps: dict[str, dict[str, Any]] = {}
        self._env: str | None = None
        self._duplicates: set[str] = set()
        self._rechecked: set[str] = set()
        self._cached: dict[str, dict[str, Any]] = {}
        self._entries: dict[str, dict[str, Any]] = {}
        self._written: dict[str, dict[str, Any]] = {}
        self._dirty = False
        """The entries differ from the file (it is written once the state dir exists)."""
        # Components are built from worker threads (skills): one importer at a time.
        self._lock = threading.RLock()

    @classmethod
    def from_settings(cls, settings: Any, **kwargs: Any) -> PluginRegistry:
        """The registry ``[plugins]`` describes: block, load and the manifest cache."""
        section = settings.plugins
        return cls(
            block=section.block,
            allow=section.load,
            manifest=settings.plugin_manifest_path,
            redact=getattr(settings, "redact", None),
            **kwargs,
        )

    # -- loading ------------------------------------------------------------------

    def add_plugin(self, plugin: Any, name: str) -> PluginRegistry:
        """Register an in-process plugin object (embedding, tests) before :meth:`load`."""
        if self._loaded:
            raise PluginError(f"add_plugin({name!r}) must be called before load()")
        self._local.append((plugin, name))
        return self

    @property
    def complete(self) -> bool:
        """Whether every allowed plugin is imported (nothing is deferred)."""
        return self._loaded and not self._deferred

    def load(self) -> PluginRegistry:
        """Import the kernel defaults and the plugins a command always needs (all of them
        without a manifest; with one, those the manifest does not know and those with
        observer hooks), once, and collect what they register."""
        with self._lock:
            return self._load()

    def _load(self) -> PluginRegistry:
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
            self._order[module_name] = len(self._order)
            if self._add(module, module_name, info):
                self._collect(module, info)
        eps = self._entry_points
        if eps is None:
            eps = entry_points(group=ENTRY_POINT_GROUP)
        eps = sorted(eps, key=lambda e: e.name)
        self._env = plugin_manifest.environment() if self.manifest is not None else None
        self._cached = plugin_manifest.read(self.manifest, _kernel_version(), self._env)
        self._written = dict(self._cached)
        installed = set()
        counts = Counter(ep.name for ep in eps)
        self._duplicates = {name for name, count in counts.items() if count > 1}
        for ep in eps:
            pid = self._id(ep)
            dist = ep.dist.name if ep.dist else "?"
            version = ep.dist.version if ep.dist else "?"
            installed.update((_normalise(dist), _normalise(ep.name)))
            info = PluginInfo(name=pid, distribution=dist, version=version)
            self._order.setdefault(pid, len(self._order))
            names = {_normalise(dist), _normalise(ep.name)}
            blocked = bool(names & self.block)
            unlisted = self.allow is not None and not names & self.allow
            if blocked or unlisted:
                info.status = "blocked"
                info.error = None if blocked else "not listed in [plugins] load"
                self.infos.append(info)
                if pid in self._cached:  # kept to name the owner in messages, never run
                    self._entries[pid] = self._cached[pid]
                continue
            entry = self._fresh_entry(ep)
            if entry is not None and not _observes(entry):
                self._deferred[pid] = _Deferred(ep, info, entry)
                self._entries[pid] = entry
                continue
            self._load_ep(ep, info)
        for name in sorted(self._duplicates):
            pids = {self._id(ep) for ep in eps if ep.name == name}
            clashing = [i for i in self.infos if i.name in pids]
            clashing += [d.info for pid, d in self._deferred.items() if pid in pids]
            logger.warning(
                "entry point {!r} is installed by {}: both load under their distribution's "
                "name; a component both register cannot be selected",
                name,
                " and ".join(sorted({i.distribution for i in clashing})),
            )
            for info in clashing:
                info.conflicts.append(f"entry-point:{name}")
        self._adopt_imported()
        for name in sorted((self.allow or set()) - installed):
            logger.warning("[plugins] load: no installed plugin is named {!r}", name)
        for plugin, name in self._local:
            info = PluginInfo(name=name, distribution="(local)", version="", status="local")
            self._order.setdefault(name, len(self._order))
            if self._add(plugin, name, info):
                self._collect(plugin, info)
        self._save()
        return self

    def load_all(self) -> PluginRegistry:
        """Import every allowed plugin (a name no imported plugin registers; a manifest
        found wrong)."""
        with self._lock:
            self.load()
            while self._deferred:
                self._import(min(self._deferred))
            self.infos.sort(key=lambda i: self._order.get(i.name, len(self._order)))
            self._save()
        return self

    def listing(self) -> list[PluginInfo]:
        """Every plugin, all imported, each with the commands it adds (``plugins list``)."""
        with self._lock:
            self.load_all()
            for info in self.infos:
                if info.status in ("enabled", "local", "default") and not info.commands:
                    info.commands = command_names(self.pm, info.name)
            mark_conflicts(self.infos)
            return list(self.infos)

    def provide(self, kind: str, name: str) -> None:
        """Import the deferred plugins the manifest says register ``kind``/``name`` (all
        of them: two would be a clash, which must be seen to fail closed)."""
        with self._lock:
            self._provide(kind, name)

    def _provide(self, kind: str, name: str) -> None:
        self.load()
        self._adopt_imported()
        if not self._deferred:
            if self._dirty:  # not written yet: the state dir may exist by now
                self._save()
            return
        for ep_name in sorted(self._deferred):
            deferred = self._deferred.get(ep_name)
            if deferred is not None and any(
                c["kind"] == kind and c["name"] == name for c in deferred.entry["components"]
            ):
                self._import(ep_name)
        self._save()

    def _adopt_imported(self) -> None:
        """Register the deferred plugins whose module is imported already (another plugin
        or a command imported it): that costs nothing, and compares their real hooks and
        components with their entry (a mismatch loads everything, rewrites the entry)."""
        for pid in sorted(self._deferred):
            deferred = self._deferred.get(pid)
            if deferred is not None and deferred.ep.module in sys.modules:
                self._import(pid)

    def recheck(self) -> None:
        """Import every deferred plugin whose manifest entry is no longer fresh, stamped
        again now (not as :meth:`load` saw it; once per plugin and registry). A guard is
        built only after this: that a plugin does not register a guard (which would be a
        clash, failing closed) is believed only from an entry whose plugin has not changed
        since it was recorded."""
        with self._lock:
            self.load()
            self._adopt_imported()
            for ep_name in sorted(set(self._deferred) - self._rechecked):
                deferred = self._deferred.get(ep_name)
                if deferred is None:
                    continue
                self._rechecked.add(ep_name)  # once per plugin: guards are built together
                if plugin_manifest.stamp(deferred.ep) != deferred.entry["stamp"]:
                    self._stamps.pop(ep_name, None)
                    self._import(ep_name)
            self._save()

    def load_commands(self, command: str) -> None:
        """Import the plugins that add ``command`` by the manifest; every plugin when none
        does (a command the manifest does not know)."""
        with self._lock:
            self._load_commands(command)

    def _load_commands(self, command: str) -> None:
        self.load()
        providers = [n for n, d in self._deferred.items() if command in d.entry["commands"]]
        if not providers and not any(
            command in self._entries.get(i.name, {}).get("commands", []) for i in self.infos
        ):
            self.load_all()
            return
        for ep_name in sorted(providers):
            if ep_name in self._deferred:
                self._import(ep_name)
        self._save()

    def _import(self, ep_name: str) -> None:
        deferred = self._deferred.pop(ep_name)
        self._load_ep(deferred.ep, deferred.info)
        fresh = self._entries.get(ep_name)
        if fresh is None or _shape(fresh) != _shape(deferred.entry):
            logger.debug("plugin manifest entry of {} was wrong: loading every plugin", ep_name)
            self.load_all()

    def _fresh_entry(self, ep: EntryPoint) -> dict[str, Any] | None:
        """The cached manifest entry of ``ep`` when its stamp still matches."""
        if self.manifest is None:
            return None
        stamp = self._stamp(ep)
        entry = self._cached.get(self._id(ep))
        if entry is None or entry["stamp"] != stamp or entry.get("failed"):
            return None
        return entry

    def _stamp(self, ep: EntryPoint) -> dict[str, Any]:
        pid = self._id(ep)
        if pid not in self._stamps:
            self._stamps[pid] = plugin_manifest.stamp(ep)
        return self._stamps[pid]

    def _id(self, ep: EntryPoint) -> str:
        """The name a plugin is known by: its entry-point name, or ``distribution:name``
        when two distributions install an entry point of that name (both load)."""
        if ep.name in self._duplicates:
            return f"{ep.dist.name if ep.dist else '?'}:{ep.name}"
        return ep.name

    def _load_ep(self, ep: EntryPoint, info: PluginInfo) -> None:
        """Import one plugin, check the API range it declares, register and collect it,
        and record its manifest entry."""
        try:
            module = importlib.import_module(ep.module)
            info.install = install_hint(module)
            problem = api_problem(getattr(module, "TRADEKERNEL_API", None))
            if problem is None:
                plugin = ep.load()
        except (Exception, SystemExit) as exc:
            self._fail(info, f"import failed: {type(exc).__name__}: {exc}", exc)
        else:
            if problem is not None:
                self._fail(info, problem)
            elif self._add(plugin, info.name, info):
                self._collect(plugin, info)
        if self.manifest is not None:
            self._entries[info.name] = self._entry(ep, info)

    def _entry(self, ep: EntryPoint, info: PluginInfo) -> dict[str, Any]:
        failed = info.status == "error"
        old = self._cached.get(info.name, {})
        if info.status == "enabled" and not info.commands:
            info.commands = command_names(self.pm, info.name)
        return {
            "stamp": self._stamp(ep),
            # a failed plugin keeps what it registered before: install hints, never trust
            "components": (
                (self._registered.get(info.name) or old.get("components", []))
                if failed
                else self._registered[info.name]
            ),
            "hooks": [] if failed else list(info.hooks),
            "commands": [] if failed else list(info.commands),
            "install": info.install,
            "failed": failed,
        }

    def save(self) -> None:
        """Write the manifest if it changed and could not be written yet (the CLI calls
        this when a command ends: a first ``run`` creates the state dir after loading)."""
        with self._lock:
            self._save()

    def _save(self) -> None:
        if self.manifest is None or not self._loaded:
            return
        if not self._dirty:
            self._dirty = self._entries != self._written
        if self._dirty and plugin_manifest.write(
            self.manifest, _kernel_version(), self._entries, self._env
        ):
            self._written = dict(self._entries)
            self._dirty = False

    def _fail(self, info: PluginInfo, error: str, exc: BaseException | None = None) -> None:
        error = self.redact(" ".join(error.split()))  # pluggy, SyntaxError: several lines
        info.status = "error"
        info.error = error
        if info not in self.infos:
            self.infos.append(info)
        if exc is not None:
            self.failures[info.name] = exc
        logger.warning(
            "plugin {} {} not loaded: {}", info.name, in_parens(info.distribution), error
        )
        if exc is not None:
            logger.opt(exception=exc).info("plugin {} traceback", info.name)

    def _add(self, plugin: Any, name: str, info: PluginInfo) -> bool:
        if self.pm.has_plugin(name) or self.pm.get_plugin(name) is not None:
            other = next((i for i in self.infos if i.name == name), None)
            by = f" by {other.distribution}" if other else ""
            self._fail(info, f"another plugin is already registered as {name!r}{by}")
            return False
        try:
            self.pm.register(plugin, name=name)
            self.pm.check_pending()
        except pluggy.PluginValidationError as exc:
            if self.pm.get_plugin(name) is not None:
                self.pm.unregister(name=name)
            self._fail(info, f"invalid hook implementation: {exc}", exc)
            return False
        except ValueError as exc:  # the same object registered under two names
            self._fail(info, f"cannot register: {exc}", exc)
            return False
        info.hooks = sorted(impl_name for impl_name in _hook_names(self.pm, plugin))
        self.infos.append(info)
        return True

    def _collect(self, plugin: Any, info: PluginInfo) -> None:
        """Call the ``register_*`` hooks of one plugin just added."""
        self._registered[info.name] = []
        for hook_name, kind in REGISTRATION_HOOKS.items():
            for impl in getattr(self.pm.hook, hook_name).get_hookimpls():
                if impl.plugin is not plugin:
                    continue
                register = register_function(
                    kind,
                    info,
                    specs=self.specs,
                    conflicts=self.conflicts,
                    registered=self._registered,
                )
                try:
                    impl.function(*([register] if impl.argnames else []))
                except PluginError as exc:
                    self._drop(info, str(exc), exc)
                    return
                except Exception as exc:
                    self._drop(info, f"{hook_name} failed: {type(exc).__name__}: {exc}", exc)
                    return

    def _drop(self, info: PluginInfo, error: str, exc: BaseException) -> None:
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
        info.error = self.redact(" ".join(error.split()))
        self.failures[info.name] = exc
        logger.warning(
            "plugin {} {} not loaded: {}", info.name, in_parens(info.distribution), error
        )
        logger.opt(exception=exc).info("plugin {} traceback", info.name)

    def add_commands(self, group: Any) -> None:
        """Add the commands of every imported plugin to ``group`` (a click group). Each
        plugin's ``register_commands`` runs on a scratch group first: one that fails is
        logged and recorded (:attr:`command_failures`) without taking the others down,
        and a command two plugins add is added by neither (:attr:`command_conflicts`)."""
        add_commands(self, group)

    # -- queries -----------------------------------------------------------------------

    def spec(self, kind: str, name: str) -> ComponentSpec:
        """The registered component ``kind``/``name``, or a :class:`PluginError` that says
        which plugin should provide it, why it is missing, and how to install it (raised
        from the plugin's own exception when it failed: ``-v`` shows its traceback)."""
        if kind not in KINDS:
            raise PluginError(f"unknown component kind {kind!r}")
        if kind == "guard":
            self.recheck()
        self.provide(kind, name)
        if (kind, name) not in self.specs and (kind, name) not in self.conflicts:
            self.load_all()  # a name the manifest does not know: look everywhere
        if (kind, name) in self.conflicts:
            raise PluginError(self.conflicts[(kind, name)])
        spec = self.specs.get((kind, name))
        if spec is not None:
            return spec
        raise self._missing(kind, name)

    def _missing(self, kind: str, name: str) -> PluginError:
        registered = sorted(n for k, n in self.specs if k == kind)
        message = f"{kind} {name!r} is not available{suggest(name, registered)}"
        dist = KNOWN_DISTRIBUTIONS.get((kind, name))
        broken = [i for i in self.infos if i.status == "error"]
        blocked = [i for i in self.infos if i.status == "blocked"]
        owner = next(
            (
                i
                for i in broken + blocked
                if (dist and i.distribution == dist) or self._claimed(i.name, kind, name)
            ),
            None,
        )
        hint = self._hint(owner, kind, name) if owner is not None else None
        culprit = owner or (broken[0] if len(broken) == 1 else None)
        cause = self.failures.get(culprit.name) if culprit is not None else None
        if owner is not None and owner.status == "error":
            message += (
                f": its plugin {owner.name} {in_parens(owner.distribution)} failed to load: "
                f"{owner.error}"
            )
            if hint:
                message += f"; to install what it needs: {hint}"
        elif owner is not None:
            why = owner.error or "blocked in [plugins] block"
            message += f": its distribution {owner.distribution} is {why}"
        else:
            message += f" (registered {kind}s: {', '.join(registered) or 'none'})"
            if broken:
                message += "; plugins that failed to load: " + ", ".join(
                    f"{i.name} {in_parens(i.distribution)}: {i.error}"
                    + hinted(self._hint(i, kind, name))
                    for i in broken
                )
            if blocked:
                message += "; blocked in [plugins] block or left out of [plugins] load: "
                message += ", ".join(f"{i.name} {in_parens(i.distribution)}" for i in blocked)
            if dist:
                message += f"; it is provided by {dist}: pip install {dist}"
        error = PluginError(message)
        error.__cause__ = cause
        return error

    def _claimed(self, ep_name: str, kind: str, name: str) -> bool:
        """Whether a previous manifest says plugin ``ep_name`` registers ``kind``/``name``
        (only to name the owner of a missing component in a message)."""
        entry = self._cached.get(ep_name) or self._entries.get(ep_name) or {}
        return any(c["kind"] == kind and c["name"] == name for c in entry.get("components", []))

    def _hint(self, owner: PluginInfo, kind: str, name: str) -> str | None:
        """The install hint for a component of ``owner``: the component's own (from a
        manifest entry still fresh: a stale or failed one may name what an older version
        needed), the plugin's (``TRADEKERNEL_INSTALL``), else ``pip install`` of a
        first-party distribution."""
        entry = self._cached.get(owner.name) or {}
        if entry.get("failed") or entry.get("stamp") != self._stamps.get(owner.name):
            entry = {}
        for component in entry.get("components", []):
            if component["kind"] == kind and component["name"] == name and component["install"]:
                return component["install"]
        hint = owner.install or entry.get("install")
        if hint:
            return hint
        dist = KNOWN_DISTRIBUTIONS.get((kind, name))
        return f"pip install {dist}" if dist and dist == owner.distribution else None

    def names(self, kind: str) -> list[str]:
        """Every registered component of ``kind`` (imports every plugin)."""
        self.load_all()
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


def _observes(entry: dict[str, Any]) -> bool:
    """Whether a plugin has a hook that must run without being asked (any hook but the
    ``register_*`` ones): it is imported by every command."""
    return any(not hook.startswith("register_") for hook in entry["hooks"])


def _shape(entry: dict[str, Any]) -> tuple[Any, ...]:
    """What a manifest entry is trusted for: the components, hooks and commands."""
    components = sorted((c["kind"], c["name"]) for c in entry["components"])
    failed = entry.get("failed", False)
    return (components, sorted(entry["hooks"]), sorted(entry["commands"]), failed)


def _kernel_version() -> str:
    from . import __version__

    return __version__


def _hook_names(pm: pluggy.PluginManager, plugin: Any) -> list[str]:
    return [caller.name for caller in (pm.get_hookcallers(plugin) or [])]
