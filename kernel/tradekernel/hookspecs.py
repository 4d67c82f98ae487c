"""The hooks a tradekernel plugin can implement. Their docstrings are the reference.

Two families:

* ``register_*(register)``: called once when the plugin is loaded (plugins are
  imported when a command needs them: see ``docs/architecture.md``). Call
  ``register(name, factory, config=ConfigClass, version="1", description="...",
  install="pip install ...")`` once per component. ``factory(config, ctx)`` is called later,
  only for components that ``plugins.toml`` selects, with the component's typed
  config (an instance of ``config``, structured strictly from the
  ``[<kind>.<name>]`` section, or ``None`` when no config class is given) and a
  ``ComponentContext``. The object it returns must meet the kind's protocol
  (``Broker``, ``Guard``, ...; docs/api.md). Return values of these hooks are
  ignored; two plugins registering the same kind and name: neither can be selected.
* Observers (``on_event``, ``on_intent_transition``): called for every event and every
  intent state change, with all results ignored. They must be fast and must not raise;
  an observer that raises is logged and skipped, never allowed to stop trading.
* ``on_kernel_start(kernel)``: called once per :class:`~tradekernel.kernel.Kernel`, for
  plugins that keep per-kernel state (such as the notification dispatcher of
  ``tradekernel-notify``); isolated like the observers. An observer it attaches with
  ``kernel.add_observer`` sees that kernel's events and transitions only; a plugin's
  own ``on_event`` sees every kernel's.
"""

from __future__ import annotations

import pluggy

hookspec = pluggy.HookspecMarker("tradekernel")
hookimpl = pluggy.HookimplMarker("tradekernel")
"""Decorator marking a plugin's hook implementations (``@hookimpl def register_guards(register):``);
a function named like a hook but not marked is ignored."""


@hookspec
def register_brokers(register):
    """Register brokers: objects that submit, look up and cancel orders (``Broker``)."""


@hookspec
def register_market_data(register):
    """Register market data feeds: quotes and bars on a clock (``MarketData``)."""


@hookspec
def register_llm_providers(register):
    """Register LLM providers that answer a ``ChatRequest`` (``LLMProvider``)."""


@hookspec
def register_strategists(register):
    """Register strategists that turn a cycle's inputs into a ``Decision`` (``Strategist``)."""


@hookspec
def register_scanners(register):
    """Register scanners that pick candidate symbols for the strategist (``Scanner``)."""


@hookspec
def register_skills(register):
    """Register skills, named ``area.verb`` (``market.quote``) with a ``version`` (``Skill``)."""


@hookspec
def register_guards(register):
    """Register guards that allow or deny an intent with a stable reason code (``Guard``)."""


@hookspec
def register_sizers(register):
    """Register sizers that turn a strategy's unsized intent (a direction) into a
    quantity (``Sizer``); ``[portfolio.sizing]`` says which strategy uses which."""


@hookspec
def register_notifiers(register):
    """Register notifiers that deliver operator notifications (``Notifier``)."""


@hookspec
def register_metrics_sinks(register):
    """Register metrics sinks that receive every event (``MetricsSink``)."""


@hookspec
def register_allocators(register):
    """Register allocators that decide each strategy's capital budget (``Allocator``)."""


@hookspec
def register_runtimes(register):
    """Register runtimes that walk the cycle graph (``Runtime``; ``[components] runtime``)."""


@hookspec
def register_stores(register):
    """Register stores that keep the state (intents, journal, controls, orders and fills;
    ``[components] store``). A store's factory is called as ``factory(settings, **options)``
    with :func:`tradekernel.store.open_store`'s options and returns an opened
    :class:`tradekernel.store.Store`."""


@hookspec
def register_sweepers(register):
    """Register sweepers that run a parameter sweep's combinations (``Sweeper``;
    ``[components] sweeper``)."""


@hookspec
def register_nodes(register):
    """Register nodes that plugins add to the cycle graph (``Node``; ``[components] nodes``)."""


@hookspec
def register_commands(cli):
    """Add click commands or groups to the ``tradekernel`` CLI group ``cli``."""


@hookspec
def on_kernel_start(kernel):
    """Called once when a Kernel is created, before any component is built: attach
    per-kernel observers with ``kernel.add_observer(plugin, name)``."""


@hookspec
def on_event(event):
    """Observe every ``Event`` (``event.v1``) as it is emitted."""


@hookspec
def on_intent_transition(transition):
    """Observe every journaled intent state change (an ``IntentTransition``)."""


@hookspec
def live_start_checks(kernel, store, mode):
    """Checks a live start must pass, run by the runtime before a live agent's first
    cycle (after the acknowledgement, promotion and broker checks). Return a list of
    problems, one line each (empty: passed). In live mode the runtime refuses to start
    (exit 3, naming each problem) when any implementation reports one, and when no
    installed plugin implements this hook at all (the readiness gate is required)."""


@hookspec(firstresult=True)
def release_settings(settings, release):
    """The :class:`Settings` an agent runs under while release ``release`` (its id) is
    active, instead of the configuration file's; raise ``RefusedError`` when it may not
    run (unsigned, altered, its plugin versions not installed). ``None``: not handled
    (an active release no plugin loads is refused)."""
