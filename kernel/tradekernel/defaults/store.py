"""The default store: the state in one SQLite file, ``<state_dir>/state.db``."""

from __future__ import annotations

from typing import Any

from ..hookspecs import hookimpl


def open_sqlite(settings: Any, **options: Any) -> Any:
    """Open ``<state_dir>/state.db`` (:meth:`tradekernel.store.Store.open`)."""
    from ..store import Store

    return Store.open(settings.kernel.state_dir, **options)


@hookimpl
def register_stores(register):
    register(
        "sqlite",
        open_sqlite,
        description="The state in one SQLite file, <state_dir>/state.db (the default).",
    )
