"""The alert policy: named threshold profiles plus the explicit ``[alerts]`` keys.

A profile supplies every threshold; a key set in ``plugins.toml`` (or by the environment,
``TRADEKERNEL_ALERTS__GUARD_DENIALS_MAX=3``) replaces the profile's value. A threshold of
``None`` switches its rule off, as does naming the rule in ``[alerts] disabled``.
"""

from __future__ import annotations

from typing import Any

import attrs
from attrs import frozen
from tradekernel.api import ALERT_RULES, AlertsSettings, Settings

PROFILES: dict[str, dict[str, Any]] = {
    "default": {
        "strategist_window": 20,
        "strategist_min_calls": 5,
        "strategist_success_rate_min": 0.8,
        "strategist_latency_p95_ms": 30000.0,
        "breaker_open": True,
        "stuck_after": 300.0,
        "guard_denials_max": 20,
        "notify_failures_max": 5,
        "daily_loss_ratio": 0.05,
        "daily_loss_amount": None,
        "skill_fallbacks_max": 10,
        "invalid_events_max": None,
        "data_quality_rejections_max": 5,
        "broker_failovers_max": 0,
    },
    "strict": {
        "strategist_window": 20,
        "strategist_min_calls": 3,
        "strategist_success_rate_min": 0.95,
        "strategist_latency_p95_ms": 10000.0,
        "breaker_open": True,
        "stuck_after": 120.0,
        "guard_denials_max": 5,
        "notify_failures_max": 0,
        "daily_loss_ratio": 0.02,
        "daily_loss_amount": None,
        "skill_fallbacks_max": 3,
        "invalid_events_max": 0,
        "data_quality_rejections_max": 0,
        "broker_failovers_max": 0,
    },
}
"""Profile name -> threshold key -> value (``None``: the rule is off in that profile)."""

KEYS: tuple[str, ...] = tuple(
    a.name for a in attrs.fields(AlertsSettings) if a.name not in ("profile", "disabled")
)
"""The threshold keys of ``[alerts]`` (every profile defines each of them)."""


@frozen
class Policy:
    """The effective thresholds: ``values[key]`` and where each came from
    (``profile:<name>``, ``file``, ``env:<VAR>`` or ``cli:<flag>``)."""

    profile: str
    values: dict[str, Any]
    sources: dict[str, str]
    disabled: tuple[str, ...] = ()

    def get(self, key: str) -> Any:
        return self.values[key]

    def enabled(self, rule: str) -> bool:
        return rule not in self.disabled

    def as_dict(self) -> dict[str, Any]:
        return {
            "profile": self.profile,
            "disabled": list(self.disabled),
            "thresholds": {
                key: {"value": _plain(self.values[key]), "source": self.sources[key]}
                for key in KEYS
            },
        }


def _plain(value: Any) -> Any:
    return float(value) if isinstance(value, float) else value


def load_policy(settings: Settings) -> Policy:
    """The policy ``settings.alerts`` describes: its profile, then every explicit key."""
    section = settings.alerts
    base = PROFILES[section.profile]
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for key in KEYS:
        explicit = getattr(section, key)
        if explicit is not None:
            values[key] = explicit
            sources[key] = settings.source_of("alerts", key)
        else:
            values[key] = base[key]
            sources[key] = f"profile:{section.profile}"
    return Policy(
        profile=section.profile,
        values=values,
        sources=sources,
        disabled=tuple(r for r in ALERT_RULES if r in section.disabled),
    )
