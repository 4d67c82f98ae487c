"""The database's identity: which database, on which cluster, on which history.

A restore is the one way a server store loses state that no journal anchor on one host
can see (another host may have appended after this host's last write, and a new host
has no anchor at all). Whatever is restored comes back with its own rows, so nothing
inside the database can tell; what changes is the database's identity:

* the cluster's **system identifier** (``pg_control_system()``): a new cluster
  (``initdb``, ``pg_upgrade``) has a new one;
* the database's **OID**: a dropped and re-created database, a copy
  (``CREATE DATABASE ... TEMPLATE``), a ``pg_restore`` into a new database;
* the **timeline** (the current WAL file's, or the last checkpoint's on a standby): a
  point-in-time recovery and the promotion of a replica start a new one.

The identity the store was written under is kept in ``tradekernel_meta`` (key
``identity``); the server's own is read on every open. They differ after any of the
above, on every host: writers refuse the database (:class:`tradekernel.api.StateLost`,
exit 2) and ``journal verify`` fails, until an operator who reconciled the state with
the broker accepts it (``tradekernel store accept-identity``, journaled).
"""

from __future__ import annotations

import json
from typing import Any

from .connection import PgConnection

META_KEY = "identity"
CONTROL_KEY = "store_identity"
"""The control under which an accepted identity is journaled."""
FIELDS = ("system_identifier", "database_oid", "timeline")
_SHOWN = {"system_identifier": "system identifier", "database_oid": "database OID"}

_SQL = (
    "SELECT (SELECT system_identifier::text FROM pg_control_system()), "
    "(SELECT oid::bigint FROM pg_database WHERE datname = current_database()), "
    "CASE WHEN pg_is_in_recovery() THEN (SELECT timeline_id FROM pg_control_checkpoint()) "
    "ELSE ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int END"
)


def server_identity(conn: PgConnection) -> dict[str, Any]:
    """The identity of the database ``conn`` is connected to, as the server says."""
    sysid, oid, timeline = conn.execute(_SQL).fetchone()
    return {"system_identifier": str(sysid), "database_oid": int(oid), "timeline": int(timeline)}


def recorded_identity(conn: PgConnection) -> dict[str, Any] | None:
    """The identity recorded in ``tradekernel_meta``; ``None`` when none is (a store made
    before identities were recorded, or not yet created)."""
    row = conn.execute("SELECT value FROM tradekernel_meta WHERE key = ?", (META_KEY,)).fetchone()
    if row is None:
        return None
    try:
        data = json.loads(row[0])
        return {k: data[k] for k in FIELDS}
    except (ValueError, KeyError, TypeError):
        return {"damaged": row[0][:80]}


def record_identity(conn: PgConnection, identity: dict[str, Any]) -> None:
    """Record ``identity`` as the one the store is written under (in the caller's
    transaction, or on its own)."""
    conn.execute(
        "INSERT INTO tradekernel_meta (key, value) VALUES (?, ?) "
        "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        (META_KEY, json.dumps(identity, sort_keys=True)),
    )


def difference(recorded: dict[str, Any], live: dict[str, Any]) -> str | None:
    """What differs between the recorded and the server's identity, ``None`` when
    nothing does."""
    changed = [
        f"{_SHOWN.get(name, name)} {recorded.get(name)} -> {live[name]}"
        for name in FIELDS
        if recorded.get(name) != live[name]
    ]
    return "; ".join(changed) or None


def refusal(label: str, changed: str) -> str:
    """The one line a writer says when the identity changed."""
    return (
        f"{label}: this is not the database the store was written in ({changed}): it was "
        "restored from a backup, copied, re-created or failed over to a replica, and may "
        "have lost commits (intents, orders) that other hosts or the broker saw; it will "
        "not be adopted. Reconcile it with the broker's orders and fills, then accept it "
        "with `tradekernel store accept-identity --reason TEXT` (docs/scale-out.md); "
        "nothing was changed"
    )
