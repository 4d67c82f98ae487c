"""Guards on who may trade what: the kill switch, the symbol allowlist and denylist."""

from __future__ import annotations

from attrs import define, field
from tradekernel.api import GuardContext, GuardVerdict, Intent


def _symbols(value: list[str]) -> list[str]:
    return [s.strip().upper() for s in value]


def _non_empty(_inst: object, attribute: object, value: list[str]) -> None:
    if not value:
        raise ValueError(f"{attribute.name}: expected at least one symbol")  # type: ignore[attr-defined]


@define
class KillSwitchConfig:
    """``[guard.kill_switch]`` takes no keys: the switch itself is ``tradekernel kill``."""


class KillSwitchGuard:
    """Denies every intent while the operator's kill switch is on."""

    codes = ("kill_switch_on",)

    def __init__(self, config: KillSwitchConfig, name: str = "kill_switch") -> None:
        self.config = config
        self.name = name

    def check(self, intent: Intent, ctx: GuardContext) -> GuardVerdict:
        if ctx.kill_switch:
            return GuardVerdict.denied(self.name, "kill_switch_on", "the kill switch is on")
        return GuardVerdict.allowed(self.name)


@define
class AllowlistConfig:
    """``[guard.allowlist]``: the only symbols that may trade."""

    symbols: list[str] = field(converter=_symbols, validator=_non_empty)


class AllowlistGuard:
    """Denies intents on symbols outside ``symbols``."""

    codes = ("symbol_not_allowed",)

    def __init__(self, config: AllowlistConfig, name: str = "allowlist") -> None:
        self.symbols = frozenset(config.symbols)
        self.name = name

    def check(self, intent: Intent, ctx: GuardContext) -> GuardVerdict:
        if intent.symbol in self.symbols:
            return GuardVerdict.allowed(self.name)
        return GuardVerdict.denied(
            self.name, "symbol_not_allowed", f"{intent.symbol} is not in the allowlist"
        )


@define
class DenylistConfig:
    """``[guard.denylist]``: symbols that must never trade."""

    symbols: list[str] = field(factory=list, converter=_symbols)


class DenylistGuard:
    """Denies intents on symbols in ``symbols``."""

    codes = ("symbol_denied",)

    def __init__(self, config: DenylistConfig, name: str = "denylist") -> None:
        self.symbols = frozenset(config.symbols)
        self.name = name

    def check(self, intent: Intent, ctx: GuardContext) -> GuardVerdict:
        if intent.symbol in self.symbols:
            return GuardVerdict.denied(
                self.name, "symbol_denied", f"{intent.symbol} is on the denylist"
            )
        return GuardVerdict.allowed(self.name)
