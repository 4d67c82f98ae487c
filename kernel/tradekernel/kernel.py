"""The kernel object: settings, plugins, the event bus and the selected components."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from typing import Any

import attrs
import pluggy
from loguru import logger

from . import hookspecs
from .components import KINDS, ComponentContext
from .errors import ConfigError, PluginError, RefusedError
from .events import EventBus
from .hookspecs import hookimpl
from .models import Event, IntentTransition
from .plugins import KNOWN_DISTRIBUTIONS, ComponentSpec, PluginRegistry, _normalise, in_parens
from .settings import Settings

NOTIFICATION_DISPATCHER = "tradekernel.notify"
"""The :meth:`Kernel.add_observer` name of the observer that routes events to the
selected notifiers (``tradekernel-notify`` attaches its dispatcher under it). Without
one, notifiers receive nothing: :meth:`Kernel.check` refuses a configuration that
selects a notifier other than ``log`` or configures ``[notify]``, and warns when only
``log`` is selected."""

NOTIFY_DISTRIBUTION = "tradekernel-notify"

SINGLE_KINDS = (
    "broker",
    "market_data",
    "strategist",
    "scanner",
    "llm_provider",
    "allocator",
    "runtime",
)
LIST_KINDS = {
    "guard": "guards",
    "notifier": "notifiers",
    "metrics_sink": "metrics_sinks",
    "skill": "skills",
    "node": "nodes",
}
INTEREST_CACHE = 4096
"""At most this many ``(stage, kind, severity)`` answers of :meth:`Kernel.wants_event`."""


def _wants(plugin: Any, key: tuple[str, str, Any]) -> bool:
    wants = getattr(plugin, "wants_event", None)
    if not callable(wants):
        return True  # an observer that does not say consumes every event
    try:
        return bool(wants(*key))
    except Exception as exc:  # a broken filter must not hide events from its observer
        logger.warning("wants_event of {} raised {}: it gets every event", plugin, exc)
        return True


class _SinkFanout:
    """The kernel's own ``on_event`` implementation: hands each event to the enabled sinks."""

    def __init__(self, kernel: Kernel) -> None:
        self.kernel = kernel
        self.broken: set[str] = set()

    def wants_event(self, stage: str, kind: str, severity: Any) -> bool:
        """Every event, when any metrics sink is selected."""
        return bool(self.kernel.selected("metrics_sink"))

    @hookimpl
    def on_event(self, event: Event) -> None:
        for name in self.kernel.selected("metrics_sink"):
            if name in self.broken:
                continue
            try:  # built inside the try: a sink that cannot start must not silence the others
                sink = self.kernel.component("metrics_sink", name)
            except Exception as exc:
                self.broken.add(name)  # warn once, not on every event
                logger.error("metrics sink {} cannot start and is skipped: {}", name, exc)
                continue
            try:
                sink.write(event)
            except Exception as exc:  # a sink must never stop trading
                logger.warning("metrics sink {} failed to write an event: {}", name, exc)


class Kernel:
    """Settings plus plugins: builds and caches the components ``plugins.toml`` selects."""

    def __init__(self, settings: Settings, registry: PluginRegistry | None = None) -> None:
        self.settings = settings
        self.registry = registry or PluginRegistry.from_settings(settings)
        self.registry.load()
        # This kernel's own observers live in a plugin manager of their own: a registry
        # shared by several kernels (tests, embedding) never hands them another kernel's
        # events. Plugin-level hook implementations (the registry's) see every kernel's.
        self._observers = pluggy.PluginManager("tradekernel")
        self._observers.add_hookspecs(hookspecs)
        self.add_observer(_SinkFanout(self), "tradekernel.sinks")
        self._interest: dict[tuple[str, str, Any], bool] = {}
        self._interest_of: list[Any] = []
        self._on_event = self.registry.pm.hook.on_event
        self.events = EventBus(
            self._dispatch,
            redact=settings.redact,
            wanted=self.wants_event,
            redacting=settings.redacting,
        )
        self._instances: dict[tuple[str, str], Any] = {}
        self._building: set[tuple[str, str]] = set()
        # Skills build components from worker threads: one builder at a time, so a
        # second thread waits for the instance instead of seeing a false cycle.
        self._build_lock = threading.RLock()
        self._dispatching = threading.local()
        # Plugins attach their per-kernel observers (tradekernel-notify's dispatcher);
        # one that raises is logged and skipped, like any observer.
        self.registry.call_each("on_kernel_start", kernel=self)

    def add_observer(self, plugin: Any, name: str) -> str:
        """Register ``plugin`` (an object with ``on_event`` / ``on_intent_transition``
        hook implementations) as an observer of this kernel only, for its lifetime (until
        :meth:`close`): it sees the events this kernel emits and the transitions it
        dispatches, never another kernel's, even when several kernels share one plugin
        registry (tests, embedding); :meth:`close` calls its ``close()``, if it has one.
        ``name`` is unique per kernel; the plugin that routes events to the selected
        notifiers registers as :data:`NOTIFICATION_DISPATCHER`.
        Plugin-level hook implementations (a plugin module's own ``on_event``) see the
        events of every kernel. Returns ``name``."""
        if self._observers.has_plugin(name):
            raise PluginError(f"this kernel already has an observer named {name!r}")
        try:
            self._observers.register(plugin, name=name)
            self._observers.check_pending()
        except (pluggy.PluginValidationError, ValueError) as exc:
            if self._observers.has_plugin(name):
                self._observers.unregister(name=name)
            raise PluginError(f"observer {name!r}: {' '.join(str(exc).split())}") from exc
        return name

    def observer(self, name: str) -> Any | None:
        """The plugin attached with :meth:`add_observer` under ``name`` (``None`` when
        there is none, or after :meth:`close`)."""
        return self._observers.get_plugin(name)

    # -- events ------------------------------------------------------------------------

    def emit(self, stage: str, kind: str, **fields: Any) -> Event:
        """Emit an ``event.v1`` to every ``on_event`` observer and metrics sink."""
        return self.events.emit(stage, kind, **fields)

    def wants_event(self, stage: str, kind: str, severity: Any) -> bool:
        """Whether any ``on_event`` observer consumes a ``stage.kind`` event of
        ``severity``: an observer consumes every event unless its plugin object offers
        ``wants_event(stage, kind, severity) -> bool`` (the sink fan-out wants every
        event while a metrics sink is selected; tradekernel-notify's dispatcher the events
        its routes send somewhere). An event nothing consumes is not built (``emit``
        returns ``None``). Answers are cached until the set of observers changes."""
        impls = self._on_event.get_hookimpls() + self._observers.hook.on_event.get_hookimpls()
        if impls != self._interest_of:
            self._interest_of = impls
            self._interest = {}
        key = (stage, kind, severity)
        answer = self._interest.get(key)
        if answer is None:
            if len(self._interest) >= INTEREST_CACHE:  # kinds are few; bound it anyway
                self._interest.clear()
            answer = self._interest[key] = any(_wants(impl.plugin, key) for impl in impls)
        return answer

    def _dispatch(self, event: Event) -> None:
        # An observer or sink that emits must not recurse forever; the guard is per
        # thread, so events from other threads (skills, plugins) are never dropped.
        if getattr(self._dispatching, "on", False):
            return
        self.dispatch_event(event)

    def dispatch_event(self, event: Event) -> None:
        """Hand an already built event to the plugin-level ``on_event`` hook
        implementations, then to this kernel's observers (:meth:`add_observer`; the
        metrics sinks first). Unlike :meth:`emit` it is not dropped when called from
        inside an observer: for an observer that emits events of its own while it
        observes one (``notify.*``), which must never lead back to emitting again."""
        previous = getattr(self._dispatching, "on", False)
        self._dispatching.on = True
        try:
            self._call_each("on_event", event=event)
        finally:
            self._dispatching.on = previous

    def dispatch_transition(self, transition: IntentTransition) -> None:
        """Hand one journaled intent state change to the plugin-level
        ``on_intent_transition`` hook implementations, then to this kernel's observers
        (what a store opened for this kernel calls with each transition)."""
        self._call_each("on_intent_transition", transition=transition)

    def _call_each(self, hook_name: str, **kwargs: Any) -> None:
        self.registry.call_each(hook_name, **kwargs)
        for impl in getattr(self._observers.hook, hook_name).get_hookimpls():
            try:
                impl.function(*[kwargs[a] for a in impl.argnames])
            except Exception as exc:  # no observer can stop the kernel
                logger.warning(
                    "{} hook of observer {} raised {}: {}: skipped",
                    hook_name,
                    impl.plugin_name,
                    type(exc).__name__,
                    exc,
                )
                logger.opt(exception=exc).debug("{} hook traceback", hook_name)

    # -- components ----------------------------------------------------------------------

    def selected(self, kind: str) -> list[str]:
        """Names of the selected components of ``kind``, in configured order."""
        sel = self.settings.components
        if kind == "broker" and sel.brokers:
            return list(sel.brokers)
        if kind == "strategist" and sel.strategists:
            return list(sel.strategists)
        if kind in SINGLE_KINDS:
            name = getattr(sel, kind)
            return [name] if name else []
        if kind in LIST_KINDS:
            return list(getattr(sel, LIST_KINDS[kind]))
        if kind == "sweeper":  # used by backtest sweeps only: `config check` does not build it
            return [sel.sweeper]
        if kind == "sizer":  # chosen per strategy by [portfolio.sizing], not [components]
            return self.settings.portfolio.sizing.names()
        if kind == "store":  # opened by tradekernel.store.open_store, not built here
            return [sel.store]
        raise ConfigError(f"unknown component kind {kind!r}")

    def component(self, kind: str, name: str | None = None) -> Any:
        """The instance of component ``kind`` (the selected one unless ``name`` is given)."""
        if name is None:
            name = self._first(kind)
        key = (kind, name)
        if key in self._instances:
            return self._instances[key]
        with self._build_lock:
            if key in self._instances:
                return self._instances[key]
            if key in self._building:
                raise PluginError(f"{kind}:{name}: circular dependency between components")
            spec = self._spec_of(kind, name)
            self._building.add(key)
            try:
                instance = self._build(spec)
            finally:
                self._building.discard(key)
            self._instances[key] = instance
            return instance

    def components(self, kind: str) -> list[tuple[str, Any]]:
        """``(name, instance)`` of every selected component of ``kind``, in order."""
        return [(name, self.component(kind, name)) for name in self.selected(kind)]

    def spec(self, kind: str, name: str) -> ComponentSpec:
        """The registration ``kind``/``name`` builds: an instance (``[<kind>.<name>] use =
        "<component>"``) gets its component's, under the instance's own name."""
        used = self.settings.component_use(kind, name)
        spec = self.registry.spec(kind, used)
        return spec if used == name else attrs.evolve(spec, name=name)

    def _first(self, kind: str) -> str:
        names = self.selected(kind)
        if not names:
            raise ConfigError(f"plugins.toml: [components] {kind}: no {kind} is selected")
        return names[0]

    def _spec_of(self, kind: str, name: str) -> ComponentSpec:
        """The spec of ``kind``/``name``; a selected name that no plugin registers is an
        error naming where it was selected (file or variable, ``[components]`` key)."""
        try:
            return self.spec(kind, name)
        except PluginError as exc:
            used = self.settings.component_use(kind, name)
            if used != name:
                raise self.settings.component_error(kind, name, "use", str(exc)) from exc
            if name not in self.selected(kind):
                raise
            if kind == "sizer":
                where = self.settings.where("portfolio", "sizing")
                raise PluginError(f"{where}: [portfolio.sizing]: {exc}") from exc.__cause__
            key = LIST_KINDS.get(kind, kind)
            if kind == "broker" and self.settings.components.brokers:
                key = "brokers"
            if kind == "strategist" and self.settings.components.strategists:
                key = "strategists"
            where = self.settings.where("components", key)
            # from the plugin's own failure, if any: -v shows its file and line
            raise PluginError(f"{where}: [components] {key}: {exc}") from exc.__cause__

    def _build(self, spec: ComponentSpec, probe: _Probe | None = None) -> Any:
        config = self.settings.component_config(spec.kind, spec.name, spec.config_class)
        ctx = ComponentContext(
            settings=self.settings,
            state_dir=self.settings.state_dir,
            emit=probe.emit if probe else self.emit,
            secret=self.settings.secret,
            resolve=probe.component if probe else self.component,
            kind=spec.kind,
            name=spec.name,
            check_only=probe is not None,
        )
        try:
            instance = spec.factory(config, ctx)
        except (PluginError, RefusedError):  # a refusal keeps its one line and exit 3
            raise
        except ConfigError as exc:
            located = self._located(spec, exc)
            if located is exc:
                raise
            raise located from exc  # -v shows the factory's own traceback
        except Exception as exc:
            hint = f"; to install what it needs: {spec.install}" if spec.install else ""
            raise PluginError(
                f"{spec.key} {in_parens(spec.distribution)} could not start: {type(exc).__name__}: "
                f"{self.settings.redact(str(exc))}{hint if isinstance(exc, ImportError) else ''}"
            ) from exc
        _check_protocol(spec, instance)
        per_minute = self.settings.budgets.brokers.get(spec.name)
        if spec.kind == "broker" and per_minute and probe is None:
            from .request_budget import BudgetedBroker, broker_budget

            budget = broker_budget(
                spec.name,
                per_minute,
                reserve=self.settings.budgets.order_reserve,
                agent=str(self.settings.state_dir.resolve()),
            )
            instance = BudgetedBroker(instance, budget, self.emit)
        return instance

    def _located(self, spec: ComponentSpec, exc: ConfigError) -> ConfigError:
        """A factory's :class:`ConfigError`, prefixed with where the component's section
        was set and its ``[<kind>.<name>]`` when the message does not name the section."""
        message = str(exc)
        if _NAMES_A_SECTION.search(message):  # its own, or one it resolved
            return exc
        return self.settings.component_error(spec.kind, spec.name, None, message)

    def check_sections(self) -> list[str]:
        """Refuse a component section that names no registered component (see
        :meth:`Settings.check_component_sections`); returns warnings."""
        use = self.settings.component_use
        sections = [
            (kind, use(kind, name))
            for kind, body in self.settings.component_sections.items()
            for name in body
        ]
        for kind, name in sections:
            self.registry.provide(kind, name)
        if any(key not in self.registry.specs for key in sections):
            self.registry.load_all()  # a section no imported plugin places: look everywhere
        return self.settings.check_component_sections(
            set(self.registry.specs), set(KNOWN_DISTRIBUTIONS)
        )

    def check_notifications(self) -> list[str]:
        """Refuse notifications that would reach nobody: ``[notify]`` enabled, notifiers
        selected other than ``log`` or a ``[notify]`` section set, and no observer
        attached as :data:`NOTIFICATION_DISPATCHER` (``tradekernel-notify`` not installed,
        blocked, left out of ``[plugins] load`` or failed). Only ``log`` selected: a
        warning. Returns the warnings."""
        settings = self.settings
        notifiers = self.selected("notifier")
        if self.observer(NOTIFICATION_DISPATCHER) is not None or not settings.notify.enabled:
            return []
        others = [name for name in notifiers if name != "log"]
        configured = sorted({path[:2] for path in settings.sources if path[:1] == ("notify",)})
        why = self._notify_missing()
        if others:
            where = settings.where("components", "notifiers")
            raise ConfigError(
                f"{where}: [components] notifiers selects {', '.join(others)}, but {why}, "
                "so no notifier would receive anything"
            )
        if configured:
            where = settings.where(*configured[0])
            raise ConfigError(
                f"{where}: [notify] is configured, but {why}, so no event would be routed "
                "to a notifier"
            )
        if not notifiers:
            return []
        return [
            f"[components] notifiers selects log, but {why}: events notify nobody "
            "(set [components] notifiers = [] to turn notifications off)"
        ]

    def _notify_missing(self) -> str:
        """Why no notification dispatcher is attached, with what to do about it."""
        dist = NOTIFY_DISTRIBUTION
        info = next((i for i in self.registry.infos if _normalise(i.distribution) == dist), None)
        if info is None:
            return f"{dist} is not installed (pip install {dist})"
        if info.status == "blocked" and info.error:  # left out of [plugins] load
            return f"{dist} is {info.error} (add {dist} to [plugins] load)"
        if info.status == "blocked":
            return f"{dist} is blocked (remove it from [plugins] block)"
        if info.status == "error":
            return f"{dist} failed to load: {info.error} (`tradekernel -v plugins list` shows why)"
        return (
            f"{dist} attached no notification dispatcher to this kernel (its "
            "on_kernel_start failed: `tradekernel -v config check` shows why)"
        )

    def check(self) -> list[str]:
        """Validate the whole configuration before anything runs: every component section
        names a registered component, notifications reach a dispatcher
        (:meth:`check_notifications`), and every selected component builds with its config
        (``check_only``: nothing is written). Raises the first :class:`ConfigError`;
        returns warnings. ``config check`` calls this, and so do ``run``, ``skills smoke``
        and ``strategist smoke`` before they open the store or write anything, so they
        cannot disagree."""
        warnings = self.check_sections()
        warnings += self.check_notifications()
        warnings += self.check_portfolio()
        probe = _Probe(self)
        try:
            for kind in (*SINGLE_KINDS, *LIST_KINDS, "sizer"):
                for name in self.selected(kind):
                    probe.component(kind, name)
            sweeper = self.settings.components.sweeper  # built by sweeps only
            if sweeper != "processes":  # the default may not be installed (no backtest)
                probe.component("sweeper", sweeper)
            self.refuse_shared_accounts(probe.component)
        finally:
            probe.close()
        self.registry.spec("store", self.settings.components.store)  # installed?
        return warnings

    def refuse_shared_accounts(self, build: Callable[[str, str], Any] | None = None) -> None:
        """Refuse two selected brokers on one account (the same optional
        ``account_key()``, see :class:`components.Broker`): a :class:`ConfigError`
        naming both sections."""
        build = build or self.component
        seen: dict[Any, str] = {}
        for name in self.selected("broker"):
            key_of = getattr(build("broker", name), "account_key", None)
            key = key_of() if callable(key_of) else None
            if key is None:
                continue
            if key in seen:
                raise self.settings.component_error(
                    "broker",
                    name,
                    None,
                    f"trades the same account as [broker.{seen[key]}]: it would be counted "
                    "twice (and its orders seen by both); give each instance its own "
                    "account (paper: its own db)",
                )
            seen[key] = name

    def check_portfolio(self) -> list[str]:
        """Warn about a ``[portfolio.budgets.<strategy>]`` no selected strategist is named
        after (a typo, or a strategy taken out): that budget limits nothing."""
        selected = set(self.selected("strategist"))
        where = self.settings.where("portfolio", "budgets")
        return [
            f"{where}: [portfolio.budgets.{name}]: no selected strategist is named {name!r}, "
            "so this budget limits nothing"
            for name in sorted(self.settings.portfolio.budgets)
            if name not in selected
        ]

    def close(self) -> None:
        """Close components that hold resources (sinks, brokers, providers)."""
        for (kind, name), instance in list(self._instances.items()):
            close = getattr(instance, "close", None)
            if callable(close):
                try:
                    close()
                except Exception as exc:
                    logger.warning("{}:{} failed to close: {}", kind, name, exc)
        self._instances.clear()
        for name, plugin in self._observers.list_name_plugin():
            self._observers.unregister(name=name)
            close = getattr(plugin, "close", None)
            if callable(close):  # what the observer opened for this kernel (a connection)
                try:
                    close()
                except Exception as exc:
                    logger.warning("observer {} failed to close: {}", name, exc)

    def __enter__(self) -> Kernel:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _Probe:
    """Components built for :meth:`Kernel.check` only: ``check_only`` factories, their
    events dropped, closed at the end and never handed to the runtime."""

    def __init__(self, kernel: Kernel) -> None:
        self.kernel = kernel
        self.emit = EventBus(lambda event: None, redact=kernel.settings.redact).emit
        self._instances: dict[tuple[str, str], Any] = {}
        self._building: set[tuple[str, str]] = set()

    def component(self, kind: str, name: str | None = None) -> Any:
        kernel = self.kernel
        if name is None:
            name = kernel._first(kind)
        key = (kind, name)
        if key in self._instances:
            return self._instances[key]
        if key in self._building:
            raise PluginError(f"{kind}:{name}: circular dependency between components")
        spec = kernel._spec_of(kind, name)
        self._building.add(key)
        try:
            self._instances[key] = kernel._build(spec, self)
        finally:
            self._building.discard(key)
        return self._instances[key]

    def close(self) -> None:
        for (kind, name), instance in reversed(list(self._instances.items())):
            close = getattr(instance, "close", None)
            if callable(close):
                try:
                    close()
                except Exception as exc:
                    logger.warning("{}:{} failed to close after its check: {}", kind, name, exc)
        self._instances.clear()


_NAMES_A_SECTION = re.compile(r"\[(?:" + "|".join(KINDS) + r")\.")
"""A message that already names a component section (``[notifier.x]``)."""


def _check_protocol(spec: ComponentSpec, instance: Any) -> None:
    """Refuse a component that lacks a member of its kind's protocol (components.py)."""
    from . import components

    protocol = getattr(components, spec.kind.title().replace("_", "").replace("Llm", "LLM"))
    missing = [m for m in _protocol_members(protocol) if not hasattr(instance, m)]
    if missing:
        raise PluginError(
            f"{spec.key} {in_parens(spec.distribution)}: its factory returned a "
            f"{type(instance).__name__} that is not a {protocol.__name__} "
            f"(missing: {', '.join(missing)})"
        )


def _protocol_members(protocol: type) -> list[str]:
    members = getattr(protocol, "__protocol_attrs__", None)  # Python 3.12+
    if members is None:
        from typing import _get_protocol_attrs  # type: ignore[attr-defined]

        members = _get_protocol_attrs(protocol)
    return sorted(members)
