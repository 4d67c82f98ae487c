"""SQLite persistence of the LLM strategist: daily spend and the decision cache.

Both tables live in the kernel's ``state_dir / "state.db"`` (WAL mode) beside the
store's own tables, which this module never touches:

* ``llm_spend``: one row per provider call (UTC day, tokens, cost and where the cost
  came from: ``provider``-reported or ``estimate`` from configured prices).
* ``llm_cache``: prompt digest → the provider's answer, with its creation time.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlite_utils
from attrs import define
from tradekernel.api import ChatResponse, Usage, ensure_state_db, utcnow

SPEND_TABLE = "llm_spend"
CACHE_TABLE = "llm_cache"


@define
class DailySpend:
    """Today's spend against the daily budget (``None`` limit: no limit)."""

    day: str
    calls: int
    tokens: int
    usd: float
    token_limit: int | None = None
    usd_limit: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "day": self.day,
            "calls": self.calls,
            "tokens": self.tokens,
            "usd": round(self.usd, 6),
            "token_limit": self.token_limit,
            "usd_limit": self.usd_limit,
            "tokens_left": None if self.token_limit is None else self.token_limit - self.tokens,
            "usd_left": None if self.usd_limit is None else round(self.usd_limit - self.usd, 6),
        }


def open_db(path: Path) -> sqlite_utils.Database:
    """The state database at ``path`` with the LLM tables created (WAL mode)."""
    # Create/validate it as a tradekernel state database first (tradekernel.store
    # contract): a file holding only llm_* tables would be refused by the Store later.
    ensure_state_db(path)
    # the runtime may call the strategist from a worker thread; a lock serialises use
    db = sqlite_utils.Database(sqlite3.connect(str(path), check_same_thread=False))
    db.enable_wal()
    db[SPEND_TABLE].create(
        {
            "id": int,
            "ts": str,
            "day": str,
            "provider": str,
            "model": str,
            "prompt_tokens": int,
            "completion_tokens": int,
            "total_tokens": int,
            "cost_usd": float,
            "cost_source": str,
        },
        pk="id",
        if_not_exists=True,
    )
    db[SPEND_TABLE].create_index(["day"], if_not_exists=True)
    db[CACHE_TABLE].create(
        {"key": str, "created": float, "response": str}, pk="key", if_not_exists=True
    )
    return db


class LLMStore:
    """Spend ledger and decision cache on one SQLite connection (thread-safe)."""

    def __init__(self, path: Path, *, clock: Callable[[], datetime] = utcnow) -> None:
        self.path = path
        self.clock = clock
        self._lock = threading.Lock()
        self._db = open_db(path)

    def close(self) -> None:
        self._db.close()

    # -- spend -------------------------------------------------------------------------

    def today(self) -> str:
        return self.clock().date().isoformat()

    def record_spend(
        self,
        *,
        provider: str,
        model: str,
        prompt_tokens: int,
        completion_tokens: int,
        cost_usd: float | None,
        cost_source: str | None,
    ) -> None:
        """Append one call's spend to today's ledger."""
        now = self.clock()
        with self._lock:
            self._db[SPEND_TABLE].insert(
                {
                    "ts": now.isoformat(),
                    "day": now.date().isoformat(),
                    "provider": provider,
                    "model": model,
                    "prompt_tokens": prompt_tokens,
                    "completion_tokens": completion_tokens,
                    "total_tokens": prompt_tokens + completion_tokens,
                    "cost_usd": cost_usd,
                    "cost_source": cost_source,
                }
            )

    def spend(
        self,
        day: str | None = None,
        *,
        token_limit: int | None = None,
        usd_limit: float | None = None,
    ) -> DailySpend:
        """The spend of ``day`` (default: today, UTC)."""
        day = day or self.today()
        with self._lock:
            row = self._db.execute(
                f"select count(*), coalesce(sum(total_tokens), 0), coalesce(sum(cost_usd), 0) "
                f"from {SPEND_TABLE} where day = ?",
                [day],
            ).fetchone()
        return DailySpend(day, int(row[0]), int(row[1]), float(row[2]), token_limit, usd_limit)

    # -- cache ---------------------------------------------------------------------------

    def cache_get(self, key: str, ttl: float) -> ChatResponse | None:
        """The cached answer for ``key`` if younger than ``ttl`` seconds."""
        now = self.clock().timestamp()
        with self._lock:
            rows = list(
                self._db.query(f"select created, response from {CACHE_TABLE} where key = ?", [key])
            )
        if not rows or now - rows[0]["created"] > ttl:
            return None
        try:
            return response_from_dict(json.loads(rows[0]["response"]))
        except (ValueError, TypeError, KeyError):
            return None

    def cache_put(self, key: str, response: ChatResponse) -> None:
        with self._lock:
            self._db[CACHE_TABLE].upsert(
                {
                    "key": key,
                    "created": self.clock().timestamp(),
                    "response": json.dumps(response_to_dict(response)),
                },
                pk="key",
            )

    def cache_prune(self, ttl: float) -> int:
        """Delete entries older than ``ttl``; returns how many."""
        cutoff = self.clock().timestamp() - ttl
        with self._lock, self._db.conn:
            cur = self._db.execute(f"delete from {CACHE_TABLE} where created < ?", [cutoff])
        return cur.rowcount


def response_to_dict(response: ChatResponse) -> dict[str, Any]:
    """The replayable part of a response (no raw body, no attempts)."""
    u = response.usage
    return {
        "model": response.model,
        "content": response.content,
        "refusal": response.refusal,
        "finish_reason": response.finish_reason,
        "provider": response.provider,
        "usage": {
            "prompt_tokens": u.prompt_tokens,
            "completion_tokens": u.completion_tokens,
            "total_tokens": u.total_tokens,
            "cost_usd": u.cost_usd,
        },
    }


def response_from_dict(data: dict[str, Any]) -> ChatResponse:
    usage = data.get("usage") or {}
    return ChatResponse(
        model=str(data.get("model") or ""),
        content=data.get("content"),
        refusal=data.get("refusal"),
        finish_reason=data.get("finish_reason"),
        provider=str(data.get("provider") or ""),
        usage=Usage(
            prompt_tokens=usage.get("prompt_tokens"),
            completion_tokens=usage.get("completion_tokens"),
            total_tokens=usage.get("total_tokens"),
            cost_usd=usage.get("cost_usd"),
        ),
    )
