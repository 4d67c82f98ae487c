"""``[guard.policy]``: the policy guard's settings (light: registering the guard imports
only this)."""

from __future__ import annotations

from typing import Any

from attrs import define, field


def _non_empty(_inst: object, attribute: Any, value: str) -> None:
    if not value.strip():
        raise ValueError(f"{attribute.name}: expected the path of a policy file")


@define
class PolicyGuardConfig:
    """``[guard.policy]``: the policy file to enforce."""

    file: str = field(validator=_non_empty)
    """The policy file (TOML); relative paths are relative to the configuration file."""
    record: bool = True
    """Record each evaluated intent with its guard context (``policy.db``), for
    ``policy diff`` and ``policy explain``."""
