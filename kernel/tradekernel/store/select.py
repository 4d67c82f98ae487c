"""Which store holds the state: the one ``[components] store`` selects.

Every command and plugin that opens *the* state (``[kernel] state_dir``'s, not a backup
or a scratch copy) calls :func:`open_store`, so each works on every store. The default
``sqlite`` store is opened directly (no plugin registry is built on that path); any other
is looked up among the stores plugins register (``register_stores``) and opened by its
factory, which imports its driver only then.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ..models import IntentTransition, utcnow

if TYPE_CHECKING:
    from ..plugins import PluginRegistry
    from ..settings import Settings
    from .store import Store

DEFAULT_STORE = "sqlite"


def open_store(
    settings: Settings,
    *,
    on_transition: Callable[[IntentTransition], None] | None = None,
    clock: Callable[[], datetime] = utcnow,
    create: bool = True,
    redact: Callable[[str], str] | None = None,
    check_anchor: bool = True,
    read_only: bool = False,
    durable: bool = True,
    registry: PluginRegistry | None = None,
) -> Store:
    """Open the configured store (``[components] store``) with :meth:`Store.open`'s
    options. Raises what that store's opener raises (:class:`SchemaError`,
    :class:`StateLost`, :class:`StateUnusable`, :class:`tradekernel.errors.NotFoundError`
    ...) and a :class:`tradekernel.errors.PluginError` (exit 2) naming the distribution
    to install when the selected store is not available. ``registry`` (a loaded one,
    when the caller has it) saves building another."""
    options: dict[str, Any] = dict(
        on_transition=on_transition,
        clock=clock,
        create=create,
        redact=redact,
        check_anchor=check_anchor,
        read_only=read_only,
        durable=durable,
    )
    name = settings.components.store
    if name == DEFAULT_STORE:
        from .store import Store

        return Store.open(settings.kernel.state_dir, **options)
    return store_factory(settings, registry)(settings, **options)


def store_factory(
    settings: Settings, registry: PluginRegistry | None = None
) -> Callable[..., Store]:
    """The factory of the selected store (a :class:`PluginError` when it is missing)."""
    if registry is None:
        from ..plugins import PluginRegistry

        registry = PluginRegistry(block=settings.plugins.block, allow=settings.plugins.load)
        registry.load()
    return registry.spec("store", settings.components.store).factory
