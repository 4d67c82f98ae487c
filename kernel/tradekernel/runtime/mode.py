"""Deterministic runtime mode resolution: CLI flag, then the operator's persisted mode,
then the environment, then the file, then the default."""

from __future__ import annotations

from attrs import frozen

from ..errors import ConfigError
from ..settings import Settings


@frozen
class ResolvedMode:
    mode: str
    source: str
    """``cli``, ``operator``, ``env:TRADEKERNEL_KERNEL__MODE``, ``file`` or ``default``."""


def resolve_mode(
    settings: Settings, *, cli_mode: str | None, persisted: str | None
) -> ResolvedMode:
    """Pick the mode for this run and check that live mode is acknowledged."""
    if cli_mode:
        resolved = ResolvedMode(cli_mode, "cli")
    elif persisted:
        resolved = ResolvedMode(persisted, "operator")
    else:
        resolved = ResolvedMode(settings.kernel.mode, settings.source_of("kernel", "mode"))
    if resolved.mode == "live" and not settings.kernel.live_acknowledged:
        raise ConfigError(
            f'mode "live" (from {resolved.source}) trades real money and needs '
            "[kernel] live_acknowledged = true"
        )
    return resolved
