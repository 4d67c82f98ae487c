"""The event bus: every observable thing becomes an ``event.v1`` through ``on_event``.

Secrets are scrubbed before an event leaves the bus: values of secret-looking keys are
masked, and any secret value Settings has handed out is redacted from strings.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import uuid
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

from .models import Event, Severity, utcnow
from .settings import SECRET_KEY_PATTERN

_run_id: contextvars.ContextVar[str] = contextvars.ContextVar("run_id", default="")
_cycle_id: contextvars.ContextVar[str] = contextvars.ContextVar("cycle_id", default="")


def new_id(prefix: str) -> str:
    """A fresh random id such as ``run_3f2a...``."""
    return f"{prefix}_{uuid.uuid4().hex[:16]}"


@contextlib.contextmanager
def scope(*, run_id: str | None = None, cycle_id: str | None = None) -> Iterator[None]:
    """Tag every event emitted inside the block with this run and cycle id."""
    tokens = []
    if run_id is not None:
        tokens.append((_run_id, _run_id.set(run_id)))
    if cycle_id is not None:
        tokens.append((_cycle_id, _cycle_id.set(cycle_id)))
    try:
        yield
    finally:
        for var, token in reversed(tokens):
            var.reset(token)


def current_run_id() -> str:
    return _run_id.get()


def current_cycle_id() -> str:
    """The id of the cycle the calling code runs in (``""`` outside a cycle): a
    component may use it to do once per cycle what need not be done on every call."""
    return _cycle_id.get()


class EventBus:
    """Builds events and hands each to ``dispatch`` (the ``on_event`` hook callers).

    ``wanted(stage, kind, severity)``, when given, says whether anything consumes such an
    event: when it answers ``False`` the event is neither built nor scrubbed, and
    :meth:`emit` returns ``None``. ``redacting()``, when given, says whether any secret
    is known: while none is, strings are not passed through ``redact``."""

    def __init__(
        self,
        dispatch: Callable[[Event], None],
        *,
        redact: Callable[[str], str] = lambda s: s,
        clock: Callable[[], Any] = utcnow,
        wanted: Callable[[str, str, Any], bool] | None = None,
        redacting: Callable[[], bool] | None = None,
    ) -> None:
        self._dispatch = dispatch
        self._redact = redact
        self._wanted = wanted
        self._redacting = redacting
        self.clock = clock

    def emit(
        self, stage: str, kind: str, *, severity: Severity | str = Severity.INFO, **fields: Any
    ) -> Event | None:
        """Emit one event; returns it (already scrubbed of secrets), or ``None`` when
        nothing consumes it (see ``wanted``)."""
        if self._wanted is not None and not self._wanted(stage, kind, severity):
            return None
        event = Event(
            stage=stage,
            kind=kind,
            fields=self._scrub_fields(fields),
            ts=self.clock(),
            run_id=_run_id.get(),
            cycle_id=_cycle_id.get(),
            severity=severity,
        )
        self._dispatch(event)
        return event

    def _scrub_fields(self, fields: dict[str, Any]) -> dict[str, Any]:
        """:meth:`scrub` of an event's fields, with a fast path for the flat values most
        fields hold (text, numbers, ``None``); text is redacted only when a secret is
        known. Anything else goes through :meth:`scrub`, so the answer is the same."""
        redact = self._redact if self._redacting is None or self._redacting() else None
        out: dict[str, Any] = {}
        for key, value in fields.items():
            kind = type(value)
            if kind is str:
                if value and _secret_key(key):
                    out[key] = "********"
                else:
                    out[key] = value if redact is None else redact(value)
            elif value is None or kind in _NUMBERS:
                out[key] = value
            else:
                out[key] = self.scrub(value, key)
        return out

    def scrub(self, value: Any, key: str = "") -> Any:
        """``value`` with secrets masked: values of secret-looking keys (numbers such as
        ``prompt_tokens`` excepted), and any secret text Settings handed out."""
        kind = type(value)
        if key and value and _secret_key(key) and kind not in _NUMBERS:
            return "********"
        if kind is str:
            return self._redact(value)
        if value is None or kind in _NUMBERS:
            return value
        if isinstance(value, dict):
            return {k: self.scrub(v, str(k)) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.scrub(v) for v in value]
        if isinstance(value, str):
            return self._redact(value)
        if isinstance(value, BaseException):  # its text may carry a secret: keep only text
            return self._redact(f"{type(value).__name__}: {value}")
        return value


_NUMBERS = (bool, int, float, Decimal)


@functools.lru_cache(maxsize=4096)
def _secret_key(key: str) -> bool:
    return bool(SECRET_KEY_PATTERN.search(key)) and not key.endswith("_env")
