"""The ``postgres`` store: tradekernel's state on a PostgreSQL server (docs/scale-out.md).
psycopg is imported only when this store is opened, never when the plugin is."""

from __future__ import annotations
