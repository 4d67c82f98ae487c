"""The promotion stage check the runtime enforces: candidate < shadow < paper < live.

A strategy configuration (named by its strategist) has a stage, kept in the store's
control state under ``stage:<name>`` and journaled. The runtime refuses to run a
strategist in a mode above its stage (:func:`check_stage`), and a stage earned with
another configuration (:func:`config_digest`) counts as none. Earning a stage (the gates,
the evidence, ``tradekernel promote``) is the ``tradekernel-backtest`` distribution's job;
this module is the control value it writes and the check that reads it. See
docs/backtest.md.

While a release is active (control ``release``, written by ``tradekernel release
activate``; docs/deploy.md), a stage counts only when its evidence names that release:
a stage is tied to the release that earned it, so rolling back never keeps a stage the
older release did not earn.
"""

from __future__ import annotations

from typing import Any

from ..errors import RefusedError
from ..models import digest
from ..serde import unstructure
from ..settings import Settings

STAGES = ("candidate", "shadow", "paper", "live")
"""The promotion stages, lowest first."""

MODE_NEEDS = {"shadow": "shadow", "paper": "paper", "live": "live"}
"""The lowest stage a strategist must have reached to run in each mode."""


RELEASE_KEY = "release"
"""The control key naming the active release: ``{"id": ..., "history": [...]}``."""


def active_release(store: Any) -> str | None:
    """The id of the active release (``None``: none was ever activated)."""
    return release_id(store.get_control(RELEASE_KEY, None))


def release_id(value: Any) -> str | None:
    """The release id in the control value of :data:`RELEASE_KEY`."""
    found = value.get("id") if isinstance(value, dict) else None
    return found if isinstance(found, str) else None


def stage_key(name: str) -> str:
    """The control key holding strategist ``name``'s stage: ``stage:<name>``."""
    return f"stage:{name}"


def rank(stage: str) -> int:
    return STAGES.index(stage)


def get_stage(store: Any, name: str) -> str | None:
    """The recorded stage of strategist ``name`` (``None`` when never staged)."""
    value = store.get_control(stage_key(name), None)
    if isinstance(value, dict):
        value = value.get("stage")
    return value if value in STAGES else None


def check_stage(
    store: Any, name: str, mode: str, digest: str | None = None, release: str | None = None
) -> None:
    """Refuse (``RefusedError``) to run strategist ``name`` in ``mode`` above its stage.

    No recorded stage: allowed in paper and shadow (configurations that predate
    promotion keep working), refused in live. With ``digest`` (the current configuration's),
    a stage earned with another configuration counts as no stage: editing a promoted
    strategist's settings does not carry its stage over. With ``release`` (the active
    release's id), a stage whose evidence names another release (or none) counts as no
    stage either."""
    needed = MODE_NEEDS.get(mode)
    if needed is None:
        return
    stage = get_stage(store, name)
    why = "it has no promotion stage"
    if stage is not None and (digest is not None or release is not None):
        value = store.get_control(stage_key(name), None)
        evidence = value.get("evidence") if isinstance(value, dict) else None
        evidence = evidence if isinstance(evidence, dict) else {}
        earned = evidence.get("config_digest")
        if digest is not None and earned is not None and earned != digest:
            stage, why = None, "its configuration changed since it was promoted"
        elif release is not None and evidence.get("release") != release:
            stage, why = None, f"its stage was not earned under the active release {release}"
    if stage is None:
        if mode == "live":
            raise RefusedError(
                f"strategist {name} may not trade live: {why}; backtest it and promote it "
                f"with `tradekernel promote {name} --to live` (its gates must pass) first"
            )
        return
    if rank(stage) < rank(needed):
        raise RefusedError(
            f"strategist {name} is at stage {stage}; mode {mode} needs stage {needed} or "
            f"above: promote it with `tradekernel promote {name} --to {needed}`"
        )


HARNESS_KEYS = frozenset(
    {
        "record_dir",
        "replay_dir",
        "log_prompts",
        "cache_ttl",
        "budget_daily_tokens",
        "budget_daily_usd",
    }
)
"""Strategist settings about how it is run (cassettes, logging, cache, budget), not about
what it decides: left out of the digest, so a cassette backtest is evidence for the
configuration that trades."""


def config_digest(settings: Settings, name: str, config_class: type | None) -> str:
    """Digest of a strategist's effective configuration: what promotion evidence is tied to.

    An instance (``use = ...``) adds its ``component``: two components with equal settings
    never share evidence or a stage; one without ``use`` keeps its earlier digest."""
    config = settings.component_config("strategist", name, config_class)
    data = unstructure(config) if config else None
    if isinstance(data, dict):
        data = {k: v for k, v in data.items() if k not in HARNESS_KEYS}
    payload: dict[str, Any] = {"strategist": name, "config": data}
    use = settings.component_use("strategist", name)
    if use != name:
        payload["component"] = use
    return digest(payload)


def current_digest(settings: Settings, registry: Any, name: str) -> str:
    """Digest of the configured ``[strategist.<name>]`` (what evidence must match)."""
    spec = registry.spec("strategist", settings.component_use("strategist", name))
    return config_digest(settings, name, spec.config_class)


def check_stages(
    store: Any, digests: dict[str, str | None], mode: str, release: str | None = None
) -> None:
    """:func:`check_stage` for every configured strategist (``digests``: name -> its
    configuration digest; ``release``: the active release): each strategy has its own
    stage, and the agent runs in a mode only when every strategy's stage allows it."""
    for name, value in digests.items():
        check_stage(store, name, mode, value, release)
