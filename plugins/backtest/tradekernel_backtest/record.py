"""Backtest results kept in the operator's store (table ``backtests`` of the configured
store's database: ``state.db`` for the SQLite store, the server for a server store), the
evidence promotion gates read.

The table itself is not covered by the journal's hash chain, so every recorded row's
digest is also journaled (control key ``backtest:<strategist>``, one journal row per
backtest). Evidence is chosen and checked against those journal rows: a row whose content
no longer matches its journaled digest, a row without a journal entry (including rows
recorded before backtests were journaled) and a journaled row that was deleted are all
reported as a problem, never used as evidence.
"""

from __future__ import annotations

import contextlib
import json
from typing import Any

from attrs import frozen
from tradekernel.api import (
    Settings,
    Store,
    Tables,
    TableSpec,
    digest,
    open_store,
    ts_text,
    utcnow,
)

TABLE = "backtests"
ACTOR = "backtest"
COLUMNS = ("strategist", "config_digest", "created_at", "params", "data", "metrics")
SPEC = TableSpec(
    TABLE,
    {
        "id": int,
        "strategist": str,
        "config_digest": str,
        "created_at": str,
        "params": str,
        "data": str,
        "metrics": str,
    },
    pk="id",
    indexes=[("strategist", "config_digest", "id")],
    not_null={"strategist", "config_digest", "created_at", "metrics"},
)
"""The table as earlier versions created it (a ``state.db`` made then opens unchanged;
its index ``backtests_lookup`` on the same columns is kept beside the spec's)."""


def journal_key(strategist: str) -> str:
    """The control key whose journal rows hold the digests of ``strategist``'s backtests."""
    return f"backtest:{strategist}"


def row_digest(row_id: int, values: dict[str, Any]) -> str:
    """SHA-256 of a stored row: its id and the exact text of every column."""
    return digest({"id": row_id, **{c: values.get(c) for c in COLUMNS}})


def ensure_table(store: Store) -> Tables:
    """The ``backtests`` table in ``store``'s database, created when missing (the
    returned :class:`Tables` wraps the store's connection: the store closes it)."""
    tables = Tables(store.conn, store.dialect)
    tables.define(SPEC)
    return tables


def record_into(store: Store, metrics: dict[str, Any]) -> int:
    """Append one backtest result to ``store`` and journal its digest; returns its row id.

    Two steps (the row, then its journal entry through ``set_control``): a crash between
    them leaves a row without a journal entry, which is never used as evidence."""
    values = {
        "strategist": metrics["strategist"],
        "config_digest": metrics["config_digest"],
        "created_at": ts_text(utcnow()),
        "params": json.dumps(metrics.get("params") or {}, sort_keys=True, default=str),
        "data": json.dumps(metrics.get("data") or [], default=str),
        "metrics": json.dumps(metrics, sort_keys=True, default=str),
    }
    tables = ensure_table(store)
    with tables.write() as conn:
        row_id = tables.insert(conn, TABLE, values)
    store.set_control(
        journal_key(values["strategist"]),
        {
            "id": row_id,
            "config_digest": values["config_digest"],
            "complete": metrics.get("stopped") == COMPLETE,
            "digest": row_digest(row_id, values),
        },
        actor=ACTOR,
        reason=f"backtest {row_id} recorded",
    )
    return row_id


def record_backtest(settings: Settings, metrics: dict[str, Any]) -> int:
    """Append one backtest result to the configured store (``[components] store``, the
    one promotion reads and the agent's stages live in) and journal its digest; returns
    its row id (see :func:`record_into`)."""
    with open_store(settings) as store:
        return record_into(store, metrics)


RUN_KEYS = ("data", "stopped", "bars", "start", "end", "periods_per_year", "elapsed_s", "harness")
"""A multi-strategy run's own fields each strategy's recorded row carries too."""


def strategy_metrics(metrics: dict[str, Any], name: str) -> dict[str, Any]:
    """What is recorded for strategy ``name`` of a backtest of several strategies: its
    own numbers (the gates read them), its configuration digest and parameters, the
    run's span, and the portfolio it ran in."""
    prefix = f"{name}."
    return {
        **{k: metrics.get(k) for k in RUN_KEYS},
        **metrics["strategies"][name],
        "strategist": name,
        "config_digest": metrics["portfolio"]["strategy_config_digests"][name],
        "params": {
            k[len(prefix) :]: v
            for k, v in (metrics.get("params") or {}).items()
            if k.startswith(prefix)
        },
        "portfolio": metrics["strategist"],
    }


def check_record_store(settings: Settings) -> None:
    """Open the configured store and its ``backtests`` table, then close it: a backtest
    that will record fails on an unreachable store before it runs (nothing run, nothing
    written), not after."""
    with open_store(settings) as store:
        ensure_table(store)


def record_result(
    settings: Settings, metrics: dict[str, Any], *, store: Store | None = None
) -> dict[str, Any]:
    """Record a backtest as promotion evidence in the configured store (``store``: that
    store, already open): one row (``{"record_id": id}``), or, for several strategies, one
    row per strategy with its own numbers, so each strategy's gates are checked on its
    own (``{"record_ids": {name: id}}``)."""
    if store is None:
        with open_store(settings) as opened:
            return record_result(settings, metrics, store=opened)
    if "strategies" not in metrics:
        return {"record_id": record_into(store, metrics)}
    digests = metrics["portfolio"]["strategy_config_digests"]
    return {
        "record_ids": {
            name: record_into(store, strategy_metrics(metrics, name)) for name in digests
        }
    }


class Recorder:
    """Records results (:func:`record_result`) in the configured store, opened at the
    first one and kept open until :meth:`close` (a sweep records many)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._store: Store | None = None

    def open(self) -> None:
        """Open the store (and its table) now: an unreachable store fails before anything
        runs, not after the first combination."""
        if self._store is None:
            store = open_store(self.settings)
            try:
                ensure_table(store)
            except BaseException:
                store.close()
                raise
            self._store = store

    def __call__(self, metrics: dict[str, Any]) -> dict[str, Any]:
        self.open()
        assert self._store is not None
        return record_result(self.settings, metrics, store=self._store)

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None

    def __enter__(self) -> Recorder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


COMPLETE = "data exhausted"
"""How a backtest that ran over all of its data stopped: the only kind recorded and used
as promotion evidence."""


@frozen
class Found:
    """The newest backtest of a strategist (and configuration): ``row`` when it checks out
    against the journal, else ``problem`` says why it is not evidence. Both ``None``: no
    backtest was recorded."""

    id: int | None
    row: dict[str, Any] | None
    problem: str | None


def find_backtest(store: Store, strategist: str, config_digest: str | None = None) -> Found:
    """The newest complete backtest of ``strategist`` (of this configuration when
    ``config_digest`` is given), checked against its journaled digest.

    The newest candidate is the highest id among the journaled backtests and the table's
    rows; if that one fails its check the result is a problem, not an older row."""
    read = _journal(store, strategist, config_digest)
    if isinstance(read, Found):
        return read
    journaled, candidates = read
    newest = max(candidates, default=None)
    has_table = TABLE in store.dialect.tables(store.conn)
    if has_table:
        table_id = _newest_complete_row(store, strategist, config_digest, after=newest)
        if table_id is not None:
            newest = table_id
    if newest is None:
        return Found(None, None, None)
    raw = None
    if has_table:
        raw = store.conn.execute(
            f"SELECT {', '.join(COLUMNS)} FROM {TABLE} WHERE id = ?", (newest,)
        ).fetchone()
    if newest not in journaled:
        # the journal was read before the table: a backtest recorded meanwhile (its row,
        # then its entry) has its entry now; read the journal again before naming it
        read = _journal(store, strategist, config_digest)
        if isinstance(read, Found):
            return read
        journaled = read[0]
    entries = journaled.get(newest)
    if not entries:
        return Found(
            newest,
            None,
            f"backtest {newest} is not journaled (still being recorded, interrupted, "
            "recorded before backtests were journaled, or written behind the journal's "
            "back): re-run the backtest",
        )
    if raw is None:
        return Found(newest, None, f"backtest {newest} is journaled but its row was deleted")
    values = dict(zip(COLUMNS, raw, strict=True))
    entry = entries[-1]  # the row holds the latest record of its id
    if row_digest(newest, values) != entry.get("digest"):
        again = f" (id {newest} was recorded {len(entries)} times)" if len(entries) > 1 else ""
        return Found(
            newest,
            None,
            f"backtest {newest} was changed after it was recorded (its row no longer "
            f"matches its journaled digest){again}",
        )
    if not _matches(entry, config_digest):
        # an earlier record of this id was a candidate: that row was deleted, its id
        # handed to a later backtest of another configuration (or an incomplete one)
        return Found(
            newest,
            None,
            f"backtest {newest} of this configuration was deleted (its id now holds a "
            "later backtest): re-run the backtest",
        )
    return Found(
        newest,
        {
            "id": newest,
            "created_at": values["created_at"],
            "config_digest": values["config_digest"],
            "metrics": json.loads(values["metrics"]),
        },
        None,
    )


def _journal(
    store: Store, strategist: str, config_digest: str | None
) -> tuple[dict[int, list[dict[str, Any]]], set[int]] | Found:
    """The journaled backtests of ``strategist`` (id -> its entries in journal order,
    whatever their configuration)
    and the ids that are candidates (complete, of ``config_digest``); a :class:`Found`
    naming the problem when an entry was edited."""
    journaled: dict[int, dict[str, Any]] = {}
    candidates: set[int] = set()
    for row in store.journal_rows(entity=f"control:{journal_key(strategist)}"):
        value = (row.payload or {}).get("value")
        if not isinstance(value, dict) or not isinstance(value.get("id"), int):
            continue
        if row.payload_digest != digest(row.payload):
            return Found(value["id"], None, _tampered_journal(value["id"], row.seq))
        # an id used again (the newest row deleted, the id handed out again) has several
        # entries: the row holds the latest record
        journaled.setdefault(value["id"], []).append(value)
        if _matches(value, config_digest):
            candidates.add(value["id"])
    return journaled, candidates


def _matches(entry: dict[str, Any], config_digest: str | None) -> bool:
    """Whether a journal entry records a complete backtest of ``config_digest``."""
    return entry.get("complete") is True and (
        config_digest is None or entry.get("config_digest") == config_digest
    )


def _newest_complete_row(
    store: Store, strategist: str, config_digest: str | None, *, after: int | None
) -> int | None:
    """The highest id above ``after`` among the table's rows of ``strategist`` (and
    configuration) whose metrics say the run was complete, whatever the journal says (a
    row written behind its back, or rows stored before backtests were journaled). Metrics
    that are not a JSON object count as complete: such a row is named, not skipped."""
    sql = f"SELECT id, metrics FROM {TABLE} WHERE strategist = ?"
    args: list[Any] = [strategist]
    if config_digest is not None:
        sql += " AND config_digest = ?"
        args.append(config_digest)
    if after is not None:
        sql += " AND id > ?"
        args.append(after)
    with contextlib.closing(store.conn.execute(sql + " ORDER BY id DESC", args)) as rows:
        for row_id, text in rows:  # newest first: usually the first one decides
            try:
                metrics = json.loads(text)
            except (TypeError, ValueError):
                return int(row_id)
            if not isinstance(metrics, dict) or metrics.get("stopped") == COMPLETE:
                return int(row_id)
    return None


def _tampered_journal(row_id: int, seq: int) -> str:
    return (
        f"the journal entry of backtest {row_id} (journal row {seq}) does not match its "
        "digest: run `tradekernel journal verify`"
    )


def latest_backtest(
    store: Store, strategist: str, config_digest: str | None = None
) -> dict[str, Any] | None:
    """The newest recorded backtest of ``strategist`` (of this configuration when
    ``config_digest`` is given) when it is usable as evidence (see :func:`find_backtest`):
    ``{"id", "created_at", "config_digest", "metrics"}``, else ``None``."""
    return find_backtest(store, strategist, config_digest).row
