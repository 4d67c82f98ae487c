"""The default scanner: the configured watchlist, minus symbols without a quote."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from attrs import define, field

from ..hookspecs import hookimpl
from ..models import SkillResult


@define
class WatchlistConfig:
    max_candidates: int = 20
    extra_symbols: list[str] = field(factory=list)


class WatchlistScanner:
    """Candidates are the watchlist symbols that have a fresh quote, in watchlist order."""

    def __init__(self, config: WatchlistConfig) -> None:
        self.config = config

    def scan(self, skill_results: Mapping[str, SkillResult], watchlist: Sequence[str]) -> list[str]:
        quotes = skill_results.get("market.quote")
        have = set(quotes.data or {}) if quotes is not None and quotes.ok else set()
        symbols = list(dict.fromkeys([*watchlist, *self.config.extra_symbols]))
        return [s for s in symbols if s in have][: self.config.max_candidates]


@hookimpl
def register_scanners(register):
    register(
        "watchlist",
        lambda config, ctx: WatchlistScanner(config),
        config=WatchlistConfig,
        description="The watchlist symbols that have a fresh quote, in watchlist order.",
    )
