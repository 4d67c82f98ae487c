"""The LLM strategist's state: the daily spend ledger and the decision cache.

Both are tables of the store's own database (:func:`tradekernel.api.open_tables`), beside
the store's tables, which this module never touches: ``state_dir/state.db`` with the
default ``sqlite`` store, the server with ``[components] store = "postgres"``, so every
process and host using that store shares one ledger (an agent taken over on another
host keeps today's spend, it does not get a fresh budget).

* ``llm_spend``: one row per provider call (UTC day, tokens, cost and where the cost
  came from: ``provider``-reported or ``estimate`` from configured prices).
* ``llm_cache``: prompt digest → the provider's answer, with its creation time.

The table and column names are those the first versions created in ``state.db``, so an
existing ledger and cache are kept on upgrade.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from attrs import define
from tradekernel.api import ChatResponse, Tables, TableSpec, Usage, open_tables, utcnow

if TYPE_CHECKING:
    from tradekernel.api import Settings

SPEND_TABLE = "llm_spend"
CACHE_TABLE = "llm_cache"
SPEND = TableSpec(
    SPEND_TABLE,
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
    indexes=[("day",)],
)
"""One row per provider call; ``id`` is assigned by the store."""
CACHE = TableSpec(CACHE_TABLE, {"key": str, "created": float, "response": str}, pk="key")
"""Request digest → the answer (JSON of :func:`response_to_dict`), created at (epoch s)."""
_CACHE_PUT = (
    f"INSERT INTO {CACHE_TABLE} (key, created, response) VALUES (?, ?, ?) "
    "ON CONFLICT (key) DO UPDATE SET created = excluded.created, response = excluded.response"
)


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


class LLMStore:
    """Spend ledger and decision cache in ``tables`` (thread-safe: :class:`Tables`
    serialises its callers). Closing the store closes ``tables``."""

    def __init__(self, tables: Tables, *, clock: Callable[[], datetime] = utcnow) -> None:
        self.tables = tables
        self.clock = clock
        tables.define(SPEND, CACHE)

    @classmethod
    def open(
        cls,
        settings: Settings,
        *,
        check_only: bool = False,
        clock: Callable[[], datetime] = utcnow,
    ) -> LLMStore:
        """The LLM tables of the configured store (``[components] store``); with
        ``check_only``, private in-memory tables (validating a configuration writes
        nothing). Raises what opening the store raises."""
        tables = open_tables(settings, check_only=check_only)
        try:
            return cls(tables, clock=clock)
        except BaseException:
            tables.close()
            raise

    @classmethod
    def memory(cls, *, clock: Callable[[], datetime] = utcnow) -> LLMStore:
        """A store in a private in-memory database (tests, benchmarks)."""
        return cls(Tables.memory(), clock=clock)

    def close(self) -> None:
        self.tables.close()

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
        """Append one call's spend to today's ledger: one row inserted in one write
        transaction, so calls recorded at once by several processes or hosts all count."""
        now = self.clock()
        row = {
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
        with self.tables.write() as conn:
            self.tables.insert(conn, SPEND_TABLE, row)

    def spend(
        self,
        day: str | None = None,
        *,
        token_limit: int | None = None,
        usd_limit: float | None = None,
    ) -> DailySpend:
        """The spend of ``day`` (default: today, UTC), as committed by every process of
        the store when this reads it (one statement: one consistent sum)."""
        day = day or self.today()
        with self.tables.read() as conn:
            row = conn.execute(
                "SELECT COUNT(*), COALESCE(SUM(total_tokens), 0), COALESCE(SUM(cost_usd), 0) "
                f"FROM {SPEND_TABLE} WHERE day = ?",
                (day,),
            ).fetchone()
        return DailySpend(day, int(row[0]), int(row[1]), float(row[2]), token_limit, usd_limit)

    # -- cache ---------------------------------------------------------------------------

    def cache_get(self, key: str, ttl: float) -> ChatResponse | None:
        """The cached answer for ``key`` if younger than ``ttl`` seconds. A damaged
        entry (unreadable time or answer) is a miss, and the next answer replaces it."""
        now = self.clock().timestamp()
        with self.tables.read() as conn:
            row = conn.execute(
                f"SELECT created, response FROM {CACHE_TABLE} WHERE key = ?", (key,)
            ).fetchone()
        if row is None:
            return None
        try:
            created = float(row[0])
            if not math.isfinite(created) or now - created > ttl:
                return None
            return response_from_dict(json.loads(row[1]))
        except (ValueError, TypeError, KeyError, AttributeError, RecursionError):
            return None

    def cache_put(self, key: str, response: ChatResponse) -> None:
        """Cache ``response`` under ``key`` (replacing an older entry)."""
        text = json.dumps(response_to_dict(response))
        with self.tables.write() as conn:
            conn.execute(_CACHE_PUT, (key, self.clock().timestamp(), text))

    def cache_prune(self, ttl: float) -> int:
        """Delete entries older than ``ttl``; returns how many."""
        cutoff = self.clock().timestamp() - ttl
        with self.tables.write() as conn:
            cur = conn.execute(f"DELETE FROM {CACHE_TABLE} WHERE created < ?", (cutoff,))
        return max(cur.rowcount, 0)


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


def _text(data: dict[str, Any], key: str) -> str | None:
    value = data.get(key)
    if value is not None and not isinstance(value, str):
        raise TypeError(f"{key}: not text")
    return value


def _count(usage: dict[str, Any], key: str, kind: type) -> Any:
    value = usage.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"usage.{key}: not a number")
    if not 0 <= value < math.inf:  # NaN fails too
        raise ValueError(f"usage.{key}: not a finite count")
    return kind(value)


def response_from_dict(data: Any) -> ChatResponse:
    """The response :func:`response_to_dict` made; ``TypeError`` when ``data`` is not
    one (the cache is outside input: a damaged entry must never reach the parser as
    something other than text)."""
    if not isinstance(data, dict):
        raise TypeError("not an object")
    usage = data.get("usage") or {}
    if not isinstance(usage, dict):
        raise TypeError("usage: not an object")
    cost = _count(usage, "cost_usd", float)
    return ChatResponse(
        model=_text(data, "model") or "",
        content=_text(data, "content"),
        refusal=_text(data, "refusal"),
        finish_reason=_text(data, "finish_reason"),
        provider=_text(data, "provider") or "",
        usage=Usage(
            prompt_tokens=_count(usage, "prompt_tokens", int),
            completion_tokens=_count(usage, "completion_tokens", int),
            total_tokens=_count(usage, "total_tokens", int),
            cost_usd=cost,
        ),
    )
