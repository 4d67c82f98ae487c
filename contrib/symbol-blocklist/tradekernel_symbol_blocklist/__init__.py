"""tradekernel-contrib-symbol-blocklist: the example third-party plugin.

It shows every extension point a plugin normally needs:

* a component (the ``symbol_blocklist`` guard) with a typed config class,
* the two observer hooks (``on_event``, ``on_intent_transition``), which count what they
  see in :data:`stats` (in memory, per process),
* a CLI command (``tradekernel blocklist``) added through ``register_commands``.

Only public API is used: ``tradekernel.hookimpl``, ``tradekernel.models``,
``tradekernel.components`` and ``tradekernel.cli.context``.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from attrs import define, field
from tradekernel.api import (
    ComponentContext,
    Event,
    GuardContext,
    GuardVerdict,
    Intent,
    IntentTransition,
    hookimpl,
)

GUARD_NAME = "symbol_blocklist"
DENY_CODE = "symbol_blocked"


def _symbols(value: list[str]) -> list[str]:
    return [s.strip().upper() for s in value]


def _non_empty(_inst: Any, attribute: Any, value: list[str]) -> None:
    if any(not s for s in value):
        raise ValueError(f"{attribute.name}: expected non-empty symbols, got {value!r}")


@define
class SymbolBlocklistConfig:
    """``[guard.symbol_blocklist]`` in plugins.toml."""

    symbols: list[str] = field(factory=list, converter=_symbols, validator=_non_empty)
    """Symbols to deny (case-insensitive)."""
    reason: str = "symbol is on the blocklist"
    """Text put in the verdict's ``detail``."""


class SymbolBlocklistGuard:
    """Denies intents whose symbol is listed, with code ``symbol_blocked``."""

    def __init__(self, config: SymbolBlocklistConfig) -> None:
        self.config = config
        self.blocked = frozenset(config.symbols)

    def check(self, intent: Intent, ctx: GuardContext) -> GuardVerdict:
        if intent.symbol.upper() in self.blocked:
            return GuardVerdict.denied(
                GUARD_NAME, DENY_CODE, f"{intent.symbol}: {self.config.reason}"
            )
        return GuardVerdict.allowed(GUARD_NAME)


def create_guard(config: SymbolBlocklistConfig, ctx: ComponentContext) -> SymbolBlocklistGuard:
    """Deny intents for listed symbols."""
    return SymbolBlocklistGuard(config)


@define
class ObserverStats:
    """What the observer hooks saw in this process."""

    events: Counter[str] = field(factory=Counter)
    """Event count by ``"stage.kind"``."""
    transitions: list[tuple[str, str | None, str]] = field(factory=list)
    """``(intent_id, from_state, to_state)`` of every intent transition, in order."""

    def reset(self) -> None:
        self.events.clear()
        self.transitions.clear()


stats = ObserverStats()


@hookimpl
def register_guards(register):
    register(GUARD_NAME, create_guard, config=SymbolBlocklistConfig, version="1")


@hookimpl
def on_event(event: Event) -> None:
    stats.events[f"{event.stage}.{event.kind}"] += 1


@hookimpl
def on_intent_transition(transition: IntentTransition) -> None:
    stats.transitions.append((transition.intent_id, transition.from_state, transition.to_state))


@hookimpl
def register_commands(cli):
    from .commands import blocklist

    cli.add_command(blocklist)
