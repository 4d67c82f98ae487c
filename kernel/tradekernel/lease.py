"""Agent leases: one trading agent per store across hosts (docs/scale-out.md).

``run.lock`` keeps a second agent off one state directory on one machine. A store shared
by several hosts may offer more: ``store.lease(namespace, holder)``, a context manager
that holds the store's lease for the block and yields a :class:`LeaseInfo`, or raises
:class:`LeaseHeld` (exit 3) naming the live holder and its namespace. One store holds one
agent whatever its namespace (the store's intents, orders and controls carry none): the
namespace is a label, recorded with the lease, that tells an operator which account and
strategy set holds the store. The embedded SQLite store offers none. This module is the
contract and the kernel's side of it: the agent's label (:func:`namespace_for`), holding
the lease with its events (:func:`hold`), and the :class:`LeaseFence` the runtime and the
executor call before every claim and every order.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any, Protocol

from attrs import frozen

from .errors import RefusedError


class LeaseHeld(RefusedError):
    """Another live agent holds the store's lease (exit 3); the message names it and its
    namespace."""


class LeaseLost(RefusedError):
    """This agent's lease lapsed (not renewed in time) or was taken over: it must not
    claim nor send anything more (exit 3)."""


@frozen
class LeaseHolder:
    """Who holds (or held) a store's lease."""

    holder: str
    """What the holder called itself (``tradekernel run``)."""
    host: str
    pid: int
    since: datetime
    """When it acquired the lease."""
    heartbeat: datetime
    """Its last renewal."""
    epoch: int
    """The lease's fencing token: it grows by one at every acquisition of the store."""
    namespace: str = ""
    """The holder's namespace (its account and strategy set, or ``[store] namespace``)."""

    def describe(self) -> str:
        """``tradekernel run on host h1, pid 42, namespace '...', since ..., last
        heartbeat ...``."""
        return (
            f"{self.holder} on host {self.host}, pid {self.pid}, namespace "
            f"{self.namespace!r}, since {self.since.isoformat(timespec='seconds')}, last "
            f"heartbeat {self.heartbeat.isoformat(timespec='seconds')}"
        )


class LeaseInfo(Protocol):
    """What ``store.lease(namespace, holder)`` yields while the lease is held."""

    namespace: str
    """This agent's namespace (a label recorded with the lease)."""
    mine: LeaseHolder
    """This agent's lease."""
    previous: LeaseHolder | None
    """The holder whose lease expired without being released and that this one took
    over (it died or lost its connection): ``None`` for a free store."""
    ttl: float
    """Seconds a lease lives without renewal."""

    def check(self) -> list[float]:
        """Raise :class:`LeaseLost` when this lease may no longer be relied on (taken over,
        or its local deadline passed without a renewal). Otherwise return how late (in
        seconds past expiry) each renewal since the last call came, usually ``[]``."""
        ...


Emit = Callable[..., Any]


def namespace_for(kernel: Any, override: str | None = None) -> str:
    """The agent's namespace, the label its lease records: ``override`` (``[store]
    namespace``) when set, else the account and strategy set: each selected broker as
    the account it trades when the broker names one (``account_key()``, without the
    instance name, so an alias of one account reads the same), else its instance name,
    and the sorted strategists."""
    if override:
        return override
    brokers = []
    for name in kernel.selected("broker"):
        key_of = getattr(kernel.component("broker", name), "account_key", None)
        key = key_of() if callable(key_of) else None
        if isinstance(key, tuple):
            key = ":".join(str(part) for part in key)
        brokers.append(name if key is None else str(key))
    strategies = ",".join(sorted(kernel.selected("strategist")))
    return f"brokers={','.join(sorted(brokers))};strategies={strategies}"


class LeaseFence:
    """Called before every claim and every order: raises :class:`LeaseLost` once the
    lease is gone (a ``lease.lost`` event, once), and reports late renewals
    (``lease.renewed_late``)."""

    def __init__(self, info: LeaseInfo, emit: Emit) -> None:
        self.info = info
        self.emit = emit
        self.lost: LeaseLost | None = None

    def __call__(self) -> None:
        if self.lost is not None:
            raise self.lost
        try:
            late = self.info.check()
        except LeaseLost as exc:
            self.lost = exc
            self.emit(
                "lease",
                "lost",
                severity="critical",
                namespace=self.info.namespace,
                epoch=self.info.mine.epoch,
                reason=str(exc),
            )
            raise
        if late:
            self.emit(
                "lease",
                "renewed_late",
                severity="warning",
                namespace=self.info.namespace,
                epoch=self.info.mine.epoch,
                late_s=round(max(late), 3),
                count=len(late),
            )


@contextlib.contextmanager
def hold(store: Any, namespace: str, holder: str, emit: Emit) -> Iterator[LeaseFence | None]:
    """Hold ``store``'s lease (this agent's ``namespace`` recorded with it) for the block
    and yield its fence; yield ``None`` when the store offers no lease (``run.lock`` is
    then the only guard). Raises :class:`LeaseHeld` (exit 3) when another live agent
    holds it, and :class:`LeaseLost` (exit 3, after ``lease.lost``) when the lease was
    lost by the end of the block though no fence call in it saw that: a holder taken
    over never reports a clean release."""
    lease = getattr(store, "lease", None)
    if not callable(lease):
        yield None
        return
    with lease(namespace, holder) as info:
        mine = info.mine
        fields = {"namespace": namespace, "epoch": mine.epoch, "host": mine.host}
        if info.previous is not None:
            prev = info.previous
            emit(
                "lease",
                "taken_over",
                severity="warning",
                **fields,
                previous_holder=prev.describe(),
                previous_namespace=prev.namespace,
                previous_epoch=prev.epoch,
                previous_heartbeat=prev.heartbeat.isoformat(),
            )
        emit("lease", "acquired", **fields, pid=mine.pid, ttl_s=info.ttl)
        fence = LeaseFence(info, emit)
        late: LeaseLost | None = None
        try:
            yield fence
        finally:
            if fence.lost is None:  # a loss the block never saw: the heartbeat learned it
                try:
                    fence()  # emits lease.lost
                except LeaseLost as exc:
                    late = exc
    if late is not None:
        raise late
    if getattr(info, "released", True):
        emit("lease", "released", namespace=namespace, epoch=mine.epoch)


@contextlib.contextmanager
def agent_lease(kernel: Any, holder: str, *, settings: Any = None) -> Iterator[LeaseFence | None]:
    """Hold the configured store's lease on this agent's namespace (``[store] namespace``,
    else :func:`namespace_for`) for the block, what ``run`` and ``intents reconcile`` do
    beside ``run.lock``, and yield its fence; ``None`` when the store offers no lease (the
    default SQLite store, not even opened here). Raises :class:`LeaseHeld` (exit 3).
    ``settings``: the kernel's when not given."""
    from .store.select import DEFAULT_STORE, open_store

    settings = settings or kernel.settings
    if settings.components.store == DEFAULT_STORE:  # one machine: run.lock suffices
        yield None
        return
    namespace = namespace_for(kernel, settings.store.namespace)
    with (
        open_store(settings, registry=kernel.registry, redact=settings.redact) as store,
        hold(store, namespace, holder, kernel.emit) as fence,
    ):
        yield fence
