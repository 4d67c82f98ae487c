"""The LLM strategist's state: the daily spend ledger and the decision cache.

Both are tables of the store's own database (:func:`tradekernel.api.open_tables`), beside
the store's tables, which this module never touches: ``state_dir/state.db`` with the
default ``sqlite`` store, the server with ``[components] store = "postgres"``, so every
process and host using that store shares one ledger (an agent taken over on another
host keeps today's spend, it does not get a fresh budget).

* ``llm_spend``: one row per provider call (UTC day, tokens, cost and where the cost
  came from: ``provider``-reported or ``estimate`` from configured prices). A call is
  first *reserved* (:meth:`LLMStore.reserve`: its estimate, ``cost_source =
  "reserved"``, written in the transaction that checks the budget), then *settled*
  with its real usage (:meth:`LLMStore.settle`); a reservation never settled (a crash,
  the store lost after the call) keeps counting as its estimate.
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
RESERVED = "reserved"
"""``cost_source`` of a reservation not settled yet: it counts as its estimate."""
FAILED = "failed"
"""``cost_source`` of a call the provider failed (no usage: it counts as nothing)."""
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
CACHE_SKEW_S = 60.0
"""An entry stamped more than this in the future (a host whose clock runs ahead, a planted
row) is a miss, and pruned once past its TTL counted from now."""
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


class LedgerUnreadable(ValueError):
    """A row of today's ledger holds tokens or a cost that are not a finite count of at
    least zero (damage, a hand edit): the day's spend is unknown, so the budget holds."""


def _tokens(value: Any) -> bool:
    return (isinstance(value, int) and not isinstance(value, bool) and value >= 0) or (
        isinstance(value, float) and math.isfinite(value) and value >= 0 and value.is_integer()
    )


def _usd(value: Any) -> bool:
    return value is None or (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and value >= 0
    )


def _check_row(row: dict[str, Any]) -> None:
    """``ValueError`` unless the spend values of ``row`` are finite counts >= 0."""
    for key in ("prompt_tokens", "completion_tokens", "total_tokens"):
        if not _tokens(row[key]):
            raise ValueError(f"{SPEND_TABLE}.{key}: {row[key]!r} is not a token count")
    if not _usd(row["cost_usd"]):
        raise ValueError(f"{SPEND_TABLE}.cost_usd: {row['cost_usd']!r} is not a cost")


def _usage(
    model: str,
    prompt_tokens: int,
    completion_tokens: int,
    cost_usd: float | None,
    cost_source: str | None,
) -> dict[str, Any]:
    """A call's usage columns of a spend row, in the table's order, checked (:func:`_check_row`)."""
    row = {
        "model": model,
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
        "cost_usd": cost_usd,
        "cost_source": cost_source,
    }
    _check_row(row)
    return row


def _sum(conn: Any, day: str, token_limit: int | None, usd_limit: float | None) -> DailySpend:
    """The spend of ``day``, each row checked in Python (a day has one row a call): SQL
    ``SUM`` would read text as 0 (SQLite) or let one NaN void the sum (PostgreSQL)."""
    rows = conn.execute(
        f"SELECT id, total_tokens, cost_usd FROM {SPEND_TABLE} WHERE day = ?", (day,)
    ).fetchall()
    tokens, usd = 0, 0.0
    for row_id, total, cost in rows:
        if not _tokens(total) or not _usd(cost):
            raise LedgerUnreadable(
                f"{SPEND_TABLE} row {row_id}: total_tokens {total!r}, cost_usd {cost!r} "
                "are not counts; the day's spend is unknown"
            )
        tokens += int(total)
        usd += float(cost or 0.0)
    return DailySpend(day, len(rows), tokens, usd, token_limit, usd_limit)


class LLMStore:
    """Spend ledger and decision cache in ``tables`` (thread-safe: :class:`Tables`
    serialises its callers). Closing the store closes ``tables``."""

    def __init__(
        self, tables: Tables, *, clock: Callable[[], datetime] = utcnow, define: bool = True
    ) -> None:
        self.tables = tables
        self.clock = clock
        if define:  # else the caller only reads, and knows the tables exist
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

    def _new_row(self, provider: str, usage: dict[str, Any]) -> dict[str, Any]:
        """A spend row of ``provider``'s call stamped now (its time and UTC day)."""
        now = self.clock()
        return {"ts": now.isoformat(), "day": now.date().isoformat(), "provider": provider, **usage}

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
        row = self._new_row(
            provider, _usage(model, prompt_tokens, completion_tokens, cost_usd, cost_source)
        )
        with self.tables.write() as conn:
            self.tables.insert(conn, SPEND_TABLE, row)

    def reserve(
        self,
        *,
        provider: str,
        model: str,
        prompt_tokens: int,
        completion_tokens: int,
        cost_usd: float | None,
        refuse: Callable[[DailySpend], Any],
        token_limit: int | None = None,
        usd_limit: float | None = None,
    ) -> tuple[DailySpend, Any, int | None]:
        """Check today's spend and reserve a call's estimate, in ONE write transaction
        under the store's single-writer lock (so processes and hosts checking at once
        cannot all pass on the same remaining budget).

        ``refuse(spent)`` (pure: it runs inside the transaction) returns something true
        to refuse the call; then nothing is written. Returns ``(spent, refusal, id)``:
        ``id`` is the reservation's row, to :meth:`settle` after the call. Raises what the
        store raises (the call must not be made then) and :class:`LedgerUnreadable`."""
        row = self._new_row(
            provider, _usage(model, prompt_tokens, completion_tokens, cost_usd, RESERVED)
        )
        with self.tables.write() as conn:
            spent = _sum(conn, row["day"], token_limit, usd_limit)
            refusal = refuse(spent)
            if refusal:
                return spent, refusal, None
            return spent, None, self.tables.insert(conn, SPEND_TABLE, row)

    def settle(
        self,
        row_id: int,
        *,
        model: str,
        prompt_tokens: int,
        completion_tokens: int,
        cost_usd: float | None,
        cost_source: str | None,
    ) -> None:
        """Replace reservation ``row_id``'s estimate with the call's real usage."""
        row = _usage(model, prompt_tokens, completion_tokens, cost_usd, cost_source)
        with self.tables.write() as conn:
            conn.execute(
                f"UPDATE {SPEND_TABLE} SET model = ?, prompt_tokens = ?, completion_tokens = ?, "
                "total_tokens = ?, cost_usd = ?, cost_source = ? WHERE id = ?",
                (*row.values(), row_id),
            )

    def spend(
        self,
        day: str | None = None,
        *,
        token_limit: int | None = None,
        usd_limit: float | None = None,
    ) -> DailySpend:
        """The spend of ``day`` (default: today, UTC), as committed by every process of
        the store when this reads it (one statement: one consistent sum), open
        reservations at their estimate. :class:`LedgerUnreadable` when a row of the day
        holds tokens or a cost that are not counts."""
        day = day or self.today()
        with self.tables.read() as conn:
            return _sum(conn, day, token_limit, usd_limit)

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
            if not math.isfinite(created) or not -CACHE_SKEW_S <= now - created <= ttl:
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
        """Delete entries older than ``ttl``, and those stamped more than ``ttl`` in the
        future; returns how many."""
        now = self.clock().timestamp()
        with self.tables.write() as conn:
            cur = conn.execute(
                f"DELETE FROM {CACHE_TABLE} WHERE created < ? OR created > ?",
                (now - ttl, now + max(ttl, CACHE_SKEW_S)),
            )
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
