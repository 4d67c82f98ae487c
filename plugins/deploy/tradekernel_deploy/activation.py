"""Activating a release and rolling back: a compare-and-set on the control state.

The control ``release`` holds ``{"id", "history", "at"}`` (``history``: the releases
active before, oldest first). Activation writes it, in the same transaction, with each
strategist's stage as that release last had it: the newest ``stage:<name>`` journal
value whose evidence names the release, else no stage. Nothing is granted that the
release did not earn, and the kernel's stage check only counts a stage whose evidence
names the active release. Every write is a journal row with the actor.
"""

from __future__ import annotations

from typing import Any

from attrs import frozen
from tradekernel.api import (
    RELEASE_KEY,
    RefusedError,
    Settings,
    StateConflict,
    release_id,
    stage_key,
    utcnow,
)

from .releases import Release, load, not_installed

HISTORY = 50
"""Releases remembered for rollback."""


@frozen
class Activation:
    """What an activation changed: the release now active, the one before, each
    strategist's stage as restored (``None``: no stage)."""

    release: str
    previous: str | None
    stages: dict[str, str | None]


def earned_stage(store: Any, name: str, release: str) -> dict[str, Any] | None:
    """The newest stage value strategist ``name`` had under ``release`` (journal)."""
    found = None
    for row in store.journal_rows(entity=f"control:{stage_key(name)}"):
        value = (row.payload or {}).get("value")
        evidence = value.get("evidence") if isinstance(value, dict) else None
        if isinstance(evidence, dict) and evidence.get("release") == release:
            found = value
    return found


def _names(*releases: Release | None) -> list[str]:
    names: set[str] = set()
    for release in releases:
        if release is not None:
            names.update((release.bundle.get("strategists") or {}).keys())
    return sorted(names)


def activate(
    settings: Settings,
    store: Any,
    release_ref: str,
    *,
    actor: str,
    reason: str = "",
    history: list[str] | None = None,
) -> Activation:
    """Make release ``release_ref`` the active one (see the module). Refused (exit 3)
    when it does not verify, its plugin versions are not installed here, it is already
    active, or the control changed meanwhile."""
    release = load(settings, release_ref)
    missing = not_installed(release)
    if missing:
        raise RefusedError(
            f"release {release.id} needs plugin versions that are not installed: "
            + ", ".join(missing)
            + "; nothing was changed"
        )
    seen = store.control_text(RELEASE_KEY)
    current = store.get_control(RELEASE_KEY, None)
    previous = release_id(current)
    if previous == release.id:
        raise RefusedError(f"release {release.id} is already active; nothing was changed")
    if history is None:
        past = list(current.get("history") or []) if isinstance(current, dict) else []
        history = [*past, previous] if previous else past
    value = {"id": release.id, "history": history[-HISTORY:], "at": utcnow().isoformat()}
    why = reason or f"activate release {release.id}"
    writes: list[tuple[str, Any, str]] = [(RELEASE_KEY, value, why)]
    old = _old_release(settings, previous)
    stages: dict[str, str | None] = {}
    for name in _names(release, old):
        earned = earned_stage(store, name, release.id)
        stages[name] = earned.get("stage") if earned else None
        if store.control_text(stage_key(name)) is None and earned is None:
            continue  # never staged: nothing to write
        writes.append((stage_key(name), earned, f"{why}: the stage it earned"))
    try:
        store.set_controls(writes, actor=actor, expect={RELEASE_KEY: seen})
    except StateConflict:
        raise RefusedError(
            "the active release changed while activating; nothing was changed (run again)"
        ) from None
    return Activation(release.id, previous, stages)


def _old_release(settings: Settings, previous: str | None) -> Release | None:
    if previous is None:
        return None
    try:
        return load(settings, previous, verify=False)
    except Exception:  # gone or damaged: its strategists are not known
        return None


def rollback(settings: Settings, store: Any, *, actor: str, reason: str = "") -> Activation:
    """Activate the release that was active before the current one (its stages as it
    earned them). Refused (exit 3) when there is none."""
    current = store.get_control(RELEASE_KEY, None)
    history = list(current.get("history") or []) if isinstance(current, dict) else []
    if not history:
        raise RefusedError("no earlier release to roll back to; nothing was changed")
    target = history[-1]
    return activate(
        settings,
        store,
        target,
        actor=actor,
        reason=reason or f"rollback to release {target}",
        history=history[:-1],
    )
