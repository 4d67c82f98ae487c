"""The ``postgres`` store: :class:`tradekernel.api.Store`'s rules on a PostgreSQL server.

Nothing here decides what a transition, an approval or a journal row is: the kernel's
store does, in SQL both backends run. This module supplies the PostgreSQL dialect (the
write lock, the snapshot, two statements), opens the database (identity, schema
version, the journal anchor) and refuses what the SQLite store refuses.

Isolation: every write transaction is ``READ COMMITTED`` and first takes one advisory
lock (``pg_advisory_xact_lock``), so writers run one at a time as under SQLite's
``BEGIN IMMEDIATE``; each statement then sees every earlier commit, the compare-and-set
``UPDATE ... WHERE id = ? AND version = ?`` cannot lose an update and the journal's hash
chain stays linear. Readers that need one consistent view (verification) use a
``REPEATABLE READ`` snapshot. docs/scale-out.md has the figures behind the choice.
"""

from __future__ import annotations

import contextlib
import hashlib
from pathlib import Path
from typing import Any

from tradekernel.api import (
    ConfigError,
    NotFoundError,
    RefusedError,
    StateLost,
    Store,
    VerifyResult,
    journal_anchor_path,
    journal_disagreement,
    read_journal_anchor,
    store_transaction,
)

from . import identity, schema
from .connection import LOCK_SQL, STORE_LOCK_KEY, WRITE_BEGIN, PgConnection, connect

ANCHOR_DIR = "postgres"
"""Under ``[kernel] state_dir``: a directory per database (:func:`anchor_dir_for`) with
this host's anchor of its journal (its last view of the head), apart from
``state.db``'s own."""
ISOLATION = "read committed"
"""The write transactions' isolation (``serializable`` is the measured alternative)."""


class PostgresDialect:
    """PostgreSQL's pieces of the store's SQL (:mod:`tradekernel.store.dialect`)."""

    name = "postgres"
    open_orders_index = False
    control_keys_sql = "SELECT value FROM json_array_elements_text(CAST(? AS json)) AS value"

    def __init__(self, isolation: str = ISOLATION) -> None:
        if isolation not in ("read committed", "serializable"):
            raise ValueError(f"isolation: {isolation!r}")
        self.isolation = isolation

    def write(self, conn: PgConnection) -> contextlib.AbstractContextManager[Any]:
        if self.isolation == "read committed":  # one round trip: BEGIN and the lock
            return store_transaction(conn, f"{WRITE_BEGIN}; {LOCK_SQL}")
        return self._serializable(conn)

    @contextlib.contextmanager
    def _serializable(self, conn: PgConnection) -> Any:
        """``SERIALIZABLE`` under a session advisory lock taken *before* the snapshot (a
        transaction-level lock would be taken after it, on a stale snapshot)."""
        conn.execute(f"SELECT pg_advisory_lock({STORE_LOCK_KEY})")
        try:
            with store_transaction(conn, "BEGIN ISOLATION LEVEL SERIALIZABLE") as c:
                yield c
        finally:
            conn.execute(f"SELECT pg_advisory_unlock({STORE_LOCK_KEY})")

    def data_version(self, conn: PgConnection) -> int:
        return conn.next_version()


class PostgresStore(Store):
    """The store on PostgreSQL; open it with :func:`open_postgres`."""

    def close(self) -> None:
        """Write the journal anchor (when this store appended) and disconnect."""
        if getattr(self, "_discarded", False):
            return
        try:
            self.write_anchor()
        finally:
            self.conn.close()

    def verify_journal(self) -> VerifyResult:
        """Fails when the database's identity is not the one the store was written under
        (restored, copied, failed over), else the store's checks."""
        changed = getattr(self, "_identity_changed", None)
        if changed:
            return VerifyResult(
                False,
                0,
                first_bad_seq=1,
                problem=(
                    f"the database's identity changed ({changed}): it was restored, copied "
                    "or failed over and may have lost commits; `tradekernel store "
                    "accept-identity` after reconciling"
                ),
                entity="journal",
            )
        return super().verify_journal()

    def make_durable(self) -> None:
        """Every commit is durable on the server already."""
        self.durable = True

    def discard(self) -> None:
        """Disconnect; nothing on the server is deleted (it may be another agent's)."""
        self._discarded = True
        self.conn.close()

    def backup(self, dest: str | Path) -> Path:
        raise RefusedError(
            "the postgres store is backed up with the server's tools (pg_dump) or copied "
            "into a SQLite file with `tradekernel store migrate --from postgres://... --to "
            "sqlite:PATH`; nothing was written"
        )

    def lease(self, namespace: str, holder: str) -> Any:
        """The agent lease on ``namespace`` in this store's database, living
        ``[store] lease_ttl`` without a renewal: a context manager that holds it
        (:class:`tradekernel_postgres.lease.PostgresLease`, on a connection of its own)."""
        from .lease import PostgresLease

        return PostgresLease(self._lease_url, namespace, holder, ttl=self._lease_ttl)

    @property
    def db(self) -> Any:
        raise RefusedError(
            f"{self.path}: a plugin's own SQLite tables cannot live in the postgres store; "
            "they stay in <state_dir>/state.db (docs/scale-out.md)"
        )


def anchor_dir_for(settings: Any, conn: PgConnection) -> Path:
    """This host's anchor directory for the database ``conn`` reached:
    ``<state_dir>/postgres/<key>``, the key a digest of the server's host (or socket
    directory), port and database name, so each database has its own anchor (a migrate
    to another server never judges it by this one's)."""
    info = conn.raw.info
    where = f"{info.host}\0{info.port}\0{info.dbname}".encode()
    return Path(settings.kernel.state_dir) / ANCHOR_DIR / hashlib.sha256(where).hexdigest()[:16]


def open_postgres(
    settings: Any,
    *,
    url: str | None = None,
    create: bool = True,
    check_anchor: bool = True,
    read_only: bool = False,
    isolation: str = ISOLATION,
    accept_identity: bool = False,
    **options: Any,
) -> PostgresStore:
    """Open the store at ``[store] url`` (or ``url``), creating or migrating its tables
    unless ``read_only``. Raises :class:`ConfigError` without a URL or when the server
    refuses it, :class:`StoreUnreachable` when the server is down, ``SchemaError`` for a
    foreign or newer database, :class:`NotFoundError` when ``create`` is false and it has
    no store yet, and :class:`StateLost` when the database's identity is not the one the
    store was written under (:mod:`tradekernel_postgres.identity`: restored, copied,
    failed over), or its journal ends before this host's anchor for it
    (:func:`anchor_dir_for`) or disagrees with it. Read-only it opens anyway, and its
    ``verify_journal`` fails. ``accept_identity``: neither is checked (``store
    accept-identity``, which records the new identity)."""
    url = url or settings.store.url
    if not url:
        raise ConfigError(
            "[store] url: not set; the postgres store needs the server's address "
            "(postgresql://USER@HOST/DBNAME, or the TK_STORE_URL environment variable)"
        )
    options.pop("durable", None)  # every commit on the server is durable
    conn = connect(url, read_only=read_only)
    changed = None
    try:
        anchor_dir = anchor_dir_for(settings, conn)
        anchor = read_journal_anchor(anchor_dir)
        version = schema.inspect(conn)
        if version is None and (not create or read_only):
            raise NotFoundError(f"{conn.label}: no tradekernel state in this database yet")
        recorded = identity.recorded_identity(conn) if version is not None else None
        if recorded is not None and not accept_identity:
            changed = identity.difference(recorded, identity.server_identity(conn))
            if changed is not None and check_anchor and not read_only:
                raise StateLost(identity.refusal(conn.label, changed))
            if changed is not None:
                read_only = True
        if anchor is not None and not accept_identity:
            problem = journal_disagreement(conn if version else None, anchor)
            if problem is not None and check_anchor and not read_only:
                raise StateLost(
                    f"{conn.label}: {problem} (this host's anchor, "
                    f"{journal_anchor_path(anchor_dir)}): the state database was lost, "
                    "truncated or rolled back, and will not be adopted; point [store] url "
                    "at the database this host last wrote to, or reconcile this one with "
                    "the broker and accept it with `tradekernel store accept-identity "
                    "--reason TEXT` (docs/scale-out.md); nothing was changed"
                )
            if problem is not None:
                read_only = True  # read it as it is: adopting (migrating) it would write
        if not read_only:
            if version is None or version < schema.SCHEMA_VERSION:
                schema.migrate(conn)
            if recorded is None:  # a new store, or one made before identities were kept
                identity.record_identity(conn, identity.server_identity(conn))
            anchor_dir.mkdir(parents=True, exist_ok=True)
    except BaseException:
        conn.close()
        raise
    store = PostgresStore(
        conn,
        conn.label,  # type: ignore[arg-type]  # errors name the (masked) server address
        dialect=PostgresDialect(isolation),
        anchor_dir=anchor_dir,
        **options,
    )
    store._read_only = read_only
    store._identity_changed = changed
    store._lease_url = url
    store._lease_ttl = float(settings.store.lease_ttl)
    return store


def accept_identity(settings: Any, *, actor: str, reason: str) -> dict[str, Any]:
    """Accept the database at ``[store] url`` as the store, as it is now: journal the
    acceptance (control ``store_identity``: the server's identity, the one recorded
    before, this host's anchor and the journal's head), record the identity and move
    this host's anchor to the head. For the operator, after reconciling a restored,
    re-created or failed-over database with the broker (``store accept-identity``)."""
    if not reason.strip():
        raise ConfigError("--reason: say why the database is accepted (it is journaled)")
    with open_postgres(settings, create=False, accept_identity=True) as store:
        live = identity.server_identity(store.conn)
        before = identity.recorded_identity(store.conn)
        anchor = read_journal_anchor(store.state_dir)
        head_seq, _ = store.journal_head()
        value = {
            **live,
            "previous": before,
            "host_anchor": None if anchor is None else {"seq": anchor.seq, "hash": anchor.hash},
            "head_seq": head_seq,
        }
        store.set_control(identity.CONTROL_KEY, value, actor=actor, reason=reason)
        identity.record_identity(store.conn, live)
        written = store.write_anchor(force=True)
    return {
        "identity": live,
        "previous": before,
        "host_anchor_before": value["host_anchor"],
        "anchor": None if written is None else {"seq": written.seq, "hash": written.hash},
        "anchor_file": str(journal_anchor_path(store.state_dir)),
    }
