"""What the pages read and what the forms do, through the kernel's own APIs.

Every decision goes through :class:`tradekernel.api.ApprovalService` (approve and reject
compare the intent's version: a stale page gets ``StaleVersion``) and every switch
through :class:`tradekernel.api.Control`, exactly as the CLI's ``intents`` and
``control`` commands do: there is no second code path. Each request opens its own
connection to the state store, so two operators racing are decided by the store's
compare-and-set, never by this process.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from tradekernel.api import (
    TRADING_STATES,
    ApprovalService,
    ConfigError,
    Control,
    IntentState,
    RefusedError,
    open_store,
    resolve_mode,
)

MODE_SAFETY = {"shadow": 0, "paper": 1, "live": 2}
"""The runtime modes from safest to least safe: the console only ever moves toward the
left (``shadow`` records and never executes, ``paper`` simulates, ``live`` trades)."""


class Console:
    """The state a console server shares across requests: settings, the kernel (events,
    transitions, brokers) and one lock that serialises this process's writes."""

    def __init__(self, settings: Any, *, kernel: Any = None) -> None:
        self.settings = settings
        self._kernel = kernel
        self._owns_kernel = kernel is None
        """A kernel handed in (the CLI's) is closed by whoever made it."""
        self._kernel_lock = threading.Lock()
        self.write_lock = threading.Lock()
        self.token: str | None = None
        """The start token: a live credential, masked like the configured secrets."""

    def redact(self, text: str) -> str:
        """``text`` with the configured secrets and the start token masked."""
        text = self.settings.redact(text)
        if self.token and self.token.casefold() in text.casefold():
            text = re.sub(re.escape(self.token), "********", text, flags=re.IGNORECASE)
        return text

    # -- plumbing ----------------------------------------------------------------------

    def kernel(self) -> Any:
        with self._kernel_lock:
            if self._kernel is None:
                from tradekernel.api import Kernel

                self._kernel = Kernel(self.settings)
            return self._kernel

    def close(self) -> None:
        with self._kernel_lock:
            if self._kernel is not None and self._owns_kernel:
                self._kernel.close()
                self._kernel = None

    def emit(self, stage: str, kind: str, **fields: Any) -> None:
        """The kernel's ``emit``; a sink that fails must not undo an operator's action."""
        fields = {k: self.redact(v) if isinstance(v, str) else v for k, v in fields.items()}
        try:
            self.kernel().emit(stage, kind, **fields)
        except Exception as exc:  # the decision is journaled; the event is best effort
            from loguru import logger

            logger.warning("event {}.{} not delivered: {}", stage, kind, exc)

    def broker(self, name: str) -> Any:
        """The broker an intent is recorded for (its order constraints size the preview);
        ``None`` when it cannot be built here (the preview then uses the defaults)."""
        try:
            kernel = self.kernel()
            if name in self.settings.components.brokers:
                return kernel.component("broker", name)
            return kernel.component("broker")
        except Exception:
            return None

    @contextmanager
    def store(self, *, create: bool = False, wired: bool = False) -> Iterator[Any]:
        """A connection to the state store for one request (``wired``: transitions go to
        the kernel's ``on_intent_transition`` observers, as the CLI's decisions do)."""
        on_transition = None
        if wired:
            kernel = self.kernel()
            on_transition = kernel.dispatch_transition
        store = open_store(
            self.settings,
            create=create,
            on_transition=on_transition,
            redact=self.redact,
        )
        try:
            yield store
        finally:
            store.close()

    def approvals(self, store: Any) -> Any:
        return ApprovalService(store, self.settings, emit=self.emit, broker=self.broker)

    def acknowledge_incident(self, incident: int, actor: str) -> str:
        """Acknowledge an incident (``tradekernel-ops``): the function behind
        ``incidents ack``. RefusedError when it is acknowledged or resolved already."""
        from tradekernel_ops.incidents.observer import build

        with self.write_lock:
            incidents = build(self.kernel(), emit=self.emit)
            try:
                item = incidents.acknowledge(incident, actor)
            finally:
                incidents.close()
        return f"incident {item.id} acknowledged"

    def control(self, store: Any) -> Any:
        return Control(store, self.settings.runtime, emit=self.emit)

    # -- decisions -----------------------------------------------------------------------

    def decide(
        self,
        verb: str,
        intent_id: str,
        actor: str,
        reason: str,
        version: int,
        *,
        counts: bool = True,
    ) -> Any:
        """Approve or reject ``intent_id`` as ``actor`` if it is still at ``version``
        (``StaleVersion`` otherwise, nothing written). ``counts=False`` (a start-token
        session): an approval is refused when the intent needs two or more, since one
        token holder could pose as several approvers; rejecting stays open to it."""
        if verb not in ("approve", "reject"):
            raise ValueError(f"unknown decision {verb!r}")
        with self.write_lock, self.store(wired=True) as store:
            service = self.approvals(store)
            if verb == "approve" and not counts:
                need = service.quorum(intent_id)[0]
                if need >= 2:
                    raise RefusedError(
                        f"cannot approve intent {intent_id}: this intent needs {need} approvals "
                        "from signed-in users (configured [console] users with a password); "
                        "a start-token login does not count toward it; nothing was changed"
                    )
            return getattr(service, verb)(intent_id, actor, reason, expected_version=version)

    # -- control -------------------------------------------------------------------------

    def current_mode(self, control: Any) -> tuple[str, str]:
        """The mode the next run would use (no ``--mode`` flag) and where it comes from."""
        try:
            resolved = resolve_mode(self.settings, cli_mode=None, persisted=control.mode)
        except ConfigError:  # live without the acknowledgement: a run refuses; rank it live
            return "live", "unacknowledged"
        return resolved.mode, resolved.source

    def safer_modes(self, control: Any) -> list[str]:
        """The modes an operator may choose here: strictly safer than the current one,
        and ``clear`` when the configured mode it falls back to is not less safe."""
        current, _ = self.current_mode(control)
        rank = MODE_SAFETY.get(current, 2)
        choices = [m for m, r in MODE_SAFETY.items() if r < rank]
        if control.mode is not None and MODE_SAFETY.get(self.settings.kernel.mode, 2) <= rank:
            choices.append("clear")
        return choices

    def check_action(self, action: str, value: str) -> None:
        """Refuse (``ValueError``, ``RefusedError``) an action value that :meth:`act` would
        refuse, before any confirmation is asked for."""
        if action in ("kill-switch", "trading-state"):
            _VALUES[action](value)
        elif action == "mode":
            with self.store(create=True) as store:
                control = self.control(store)
                control.refresh()
                _check_mode(self, control, value)

    def act(self, action: str, value: str, actor: str, reason: str) -> str:
        """Run one control action as ``actor``; returns what happened, in words."""
        with self.write_lock, self.store(create=True) as store:
            control = self.control(store)
            control.refresh()
            return _ACTIONS[action](self, control, value, actor, reason)


def _pause(console: Console, control: Any, value: str, actor: str, reason: str) -> str:
    control.pause(actor=actor, reason=reason)
    return "paused"


def _resume(console: Console, control: Any, value: str, actor: str, reason: str) -> str:
    control.resume(actor=actor, reason=reason)
    return "resumed"


def _kill_switch_value(value: str) -> None:
    if value not in ("on", "off"):
        raise ValueError("the kill switch is on or off")


def _trading_state_value(value: str) -> None:
    if value not in TRADING_STATES:
        raise ValueError(f"the trading state is one of {', '.join(TRADING_STATES)}")


_VALUES: dict[str, Callable[[str], None]] = {
    "kill-switch": _kill_switch_value,
    "trading-state": _trading_state_value,
}


def _kill_switch(console: Console, control: Any, value: str, actor: str, reason: str) -> str:
    _kill_switch_value(value)
    control.set_kill_switch(value == "on", actor=actor, reason=reason)
    return f"kill switch {value}"


def _trading_state(console: Console, control: Any, value: str, actor: str, reason: str) -> str:
    _trading_state_value(value)
    control.set_trading_state(value, actor=actor, reason=reason)
    return f"trading state {value}"


def _check_mode(console: Console, control: Any, value: str) -> None:
    allowed = console.safer_modes(control)
    if value not in allowed:
        current, _ = console.current_mode(control)
        raise RefusedError(
            f"mode {value!r} is not safer than the current mode {current!r}: the console only "
            f"moves toward safer modes ({', '.join(allowed) or 'none left'}); nothing was changed"
        )


def _mode(console: Console, control: Any, value: str, actor: str, reason: str) -> str:
    _check_mode(console, control, value)
    control.set_mode(None if value == "clear" else value, actor=actor, reason=reason)
    return f"persisted mode: {value}"


_ACTIONS: dict[str, Callable[..., str]] = {
    "pause": _pause,
    "resume": _resume,
    "kill-switch": _kill_switch,
    "trading-state": _trading_state,
    "mode": _mode,
}
ACTIONS = tuple(_ACTIONS)


def needs_confirmation(action: str, value: str) -> bool:
    """Whether an action takes a second, confirming step: the kill switch (either way),
    a mode change, Resume and every trading state but ``halted`` (each may let more
    trade than before). Pause and ``halted`` only stop trading: one step."""
    if action in ("kill-switch", "mode", "resume"):
        return True
    return action == "trading-state" and value != "halted"


PENDING = IntentState.PENDING_APPROVAL.value
