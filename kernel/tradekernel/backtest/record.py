"""Backtest results kept in the operator's store (table ``backtests`` of ``state.db``), the
evidence promotion gates read."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..models import utcnow
from ..store import Store
from ..store.db import immediate, ts_text

TABLE = "backtests"


def ensure_table(store: Store) -> None:
    store.db[TABLE].create(
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
        not_null={"strategist", "config_digest", "created_at", "metrics"},
        if_not_exists=True,
    )
    store.db[TABLE].create_index(
        ["strategist", "config_digest", "id"], index_name="backtests_lookup", if_not_exists=True
    )


def record_backtest(state_dir: str | Path, metrics: dict[str, Any]) -> int:
    """Append one backtest result; returns its row id."""
    with Store.open(state_dir) as store:
        ensure_table(store)
        with immediate(store.conn) as conn:
            cur = conn.execute(
                f"INSERT INTO {TABLE} (strategist, config_digest, created_at, params, data, "
                "metrics) VALUES (?, ?, ?, ?, ?, ?)",
                (
                    metrics["strategist"],
                    metrics["config_digest"],
                    ts_text(utcnow()),
                    json.dumps(metrics.get("params") or {}, sort_keys=True, default=str),
                    json.dumps(metrics.get("data") or [], default=str),
                    json.dumps(metrics, sort_keys=True, default=str),
                ),
            )
            return int(cur.lastrowid or 0)


COMPLETE = "data exhausted"
"""How a backtest that ran over all of its data stopped: the only kind recorded and used
as promotion evidence."""


def latest_backtest(
    store: Store, strategist: str, config_digest: str | None = None
) -> dict[str, Any] | None:
    """The newest recorded backtest of ``strategist`` (of this configuration when
    ``config_digest`` is given): ``{"id", "created_at", "config_digest", "metrics"}``."""
    if TABLE not in store.db.table_names():
        return None
    sql = f"SELECT id, created_at, config_digest, metrics FROM {TABLE} WHERE strategist = ?"
    args: list[Any] = [strategist]
    if config_digest is not None:
        sql += " AND config_digest = ?"
        args.append(config_digest)
    sql += " AND json_extract(metrics, '$.stopped') = ?"  # rows stored before the rule
    args.append(COMPLETE)
    row = store.conn.execute(sql + " ORDER BY id DESC LIMIT 1", args).fetchone()
    if row is None:
        return None
    return {
        "id": row[0],
        "created_at": row[1],
        "config_digest": row[2],
        "metrics": json.loads(row[3]),
    }
