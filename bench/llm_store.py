"""Benchmark: the LLM strategist's bookkeeping on the postgres store against SQLite.

Per provider call the strategist looks its prompt up in the cache (``cache_get``, a miss)
and records the call's spend (``record_spend``, one write transaction under the store's
lock); with a budget it also reads today's sums (``spend``), and with a cache it writes
the answer and prunes (``cache_put``, ``cache_prune``). Both figures are per call, median
and min of ``REPEATS`` runs of ``CALLS`` calls, the stores interleaved:

* ``cache_get`` + ``record_spend``;
* the whole bookkeeping of a paid, cached call (the five above).

The SQLite tables are ``state.db``'s as ``open_tables`` opens them (WAL,
``synchronous=NORMAL``: no flush per commit); the server is a throwaway cluster
(``tradekernel_postgres.testing.start_server``, fsync off) on this machine over a Unix
socket. Without PostgreSQL the rows are skipped with the reason.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .store_pg import start_server

REPEATS = 3
CALLS = 300


def _settings(state_dir: Path, url: str | None) -> Any:
    from tradekernel.api import Settings

    overrides: dict[str, Any] = {"kernel.state_dir": str(state_dir)}
    if url:
        overrides.update({"components.store": "postgres", "store.url": url})
    return Settings.load(None, overrides=overrides, environ={})


def _bookkeeping(store: Any, full: bool) -> Callable[[int], None]:
    from tradekernel.api import ChatResponse, Usage

    answer = ChatResponse(model="m", content='{"decision": "hold"}', usage=Usage(900, 60, 960))

    def one(i: int) -> None:
        key = f"bench-{i}"
        store.cache_get(key, 3600.0)
        if full:
            store.spend()
        store.record_spend(
            provider="bench",
            model="m",
            prompt_tokens=900,
            completion_tokens=60,
            cost_usd=0.0021,
            cost_source="provider",
        )
        if full:
            store.cache_put(key, answer)
            store.cache_prune(3600.0)

    return one


def _per_call_us(state_dir: Path, url: str | None, full: bool) -> float:
    from tradekernel_llm import LLMStore

    store = LLMStore.open(_settings(state_dir, url))
    try:
        one = _bookkeeping(store, full)
        one(-1)  # statements prepared, caches warm
        start = time.perf_counter()
        for i in range(CALLS):
            one(i)
        elapsed = time.perf_counter() - start
        if store.spend().calls != CALLS + 1:
            raise RuntimeError("the ledger lost calls")
    finally:
        store.close()
    return elapsed / CALLS * 1e6


def _row(figure: str, pg: list[float], sqlite: list[float]) -> dict:
    return {
        "figure": f"{figure}, median of {len(pg)} (min {min(pg):.0f})",
        "value": round(statistics.median(pg), 1),
        "unit": "µs/call",
        "peer": f"the SQLite store's state.db (median; min {min(sqlite):.0f})",
        "peer_value": round(statistics.median(sqlite), 1),
        "ratio": round(statistics.median(pg) / statistics.median(sqlite), 2),
    }


FIGURES = (
    "llm store on postgres: cache_get + record_spend",
    "llm store on postgres: a paid, cached call's bookkeeping (5 statements)",
)


def run() -> list[dict]:
    server = start_server(
        FIGURES, "tradekernel-llm or tradekernel-postgres is not installed", "tradekernel_llm"
    )
    if isinstance(server, list):
        return server
    times: dict[tuple[str, bool], list[float]] = {}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            for r in range(REPEATS):  # interleaved, so drift hits every figure alike
                for full in (False, True):
                    times.setdefault(("sqlite", full), []).append(
                        _per_call_us(root / f"s{r}{full}", None, full)
                    )
                    times.setdefault(("pg", full), []).append(
                        _per_call_us(root / f"p{r}{full}", server.database(), full)
                    )
    finally:
        server.stop()
    return [
        _row(FIGURES[0], times[("pg", False)], times[("sqlite", False)]),
        _row(FIGURES[1], times[("pg", True)], times[("sqlite", True)]),
    ]


if __name__ == "__main__":
    for row in run():
        print(row)
