"""tradekernel-guards: first-party risk guards (see docs/guards-and-strategists.md).

Each guard has its own strict config class (``[guard.<name>]``) and answers a
:class:`~tradekernel.models.GuardVerdict` with a stable reason code listed in its
``codes`` attribute.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tradekernel import hookimpl

from .adaptive import AdaptiveNotionalConfig, AdaptiveNotionalGuard
from .limits import (
    DailyLossLimitConfig,
    DailyLossLimitGuard,
    MaxGrossExposureConfig,
    MaxGrossExposureGuard,
    MaxOrderNotionalConfig,
    MaxOrderNotionalGuard,
    MaxPositionConfig,
    MaxPositionGuard,
)
from .lists import (
    AllowlistConfig,
    AllowlistGuard,
    DenylistConfig,
    DenylistGuard,
    KillSwitchConfig,
    KillSwitchGuard,
)
from .peaks import PeakStore
from .timing import (
    MaxOrdersPerDayConfig,
    MaxOrdersPerDayGuard,
    OrderRateConfig,
    OrderRateGuard,
    SessionHoursConfig,
    SessionHoursGuard,
    SymbolCooldownConfig,
    SymbolCooldownGuard,
)

GUARDS: dict[str, tuple[type, type]] = {
    "kill_switch": (KillSwitchGuard, KillSwitchConfig),
    "allowlist": (AllowlistGuard, AllowlistConfig),
    "denylist": (DenylistGuard, DenylistConfig),
    "max_order_notional": (MaxOrderNotionalGuard, MaxOrderNotionalConfig),
    "max_position": (MaxPositionGuard, MaxPositionConfig),
    "max_gross_exposure": (MaxGrossExposureGuard, MaxGrossExposureConfig),
    "daily_loss_limit": (DailyLossLimitGuard, DailyLossLimitConfig),
    "max_orders_per_day": (MaxOrdersPerDayGuard, MaxOrdersPerDayConfig),
    "order_rate": (OrderRateGuard, OrderRateConfig),
    "symbol_cooldown": (SymbolCooldownGuard, SymbolCooldownConfig),
    "session_hours": (SessionHoursGuard, SessionHoursConfig),
    "adaptive_notional": (AdaptiveNotionalGuard, AdaptiveNotionalConfig),
}
"""Registered name -> (guard class, config class)."""


def _factory(name: str, guard_class: type) -> Callable[[Any, Any], Any]:
    def factory(config: Any, ctx: Any) -> Any:
        own = getattr(ctx, "name", None) or name  # an instance answers under its own name
        if getattr(guard_class, "wants_resolve", False):
            return guard_class(config, name=own, resolve=ctx.resolve)
        if guard_class is AdaptiveNotionalGuard:
            state_dir = getattr(ctx, "state_dir", None)
            peaks = PeakStore(state_dir, check_only=bool(getattr(ctx, "check_only", False)))
            return guard_class(config, name=own, emit=getattr(ctx, "emit", None), peaks=peaks)
        return guard_class(config, name=own)

    factory.__doc__ = guard_class.__doc__
    return factory


@hookimpl
def register_guards(register):
    for name, (guard_class, config_class) in GUARDS.items():
        register(
            name,
            _factory(name, guard_class),
            config=config_class,
            version="1",
            description=" ".join((guard_class.__doc__ or "").split()),
        )
