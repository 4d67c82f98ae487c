"""Error budgets and multiwindow burn-rate alerts over bucketed counters.

Each objective keeps one-minute buckets for the last six hours (the longest alert window)
and one-hour buckets for its whole window (the budget), in fixed-size rings: memory does
not grow with the number of events. The burn rate over a window is the window's bad share
divided by the error budget ``1 - target``: 1 spends the budget exactly over the
objective's window. The alerts are the SRE workbook's (for a 30-day budget): *fast*
pages (``critical``) when the 1 h and the 5 min burn rates are both at least
``fast_burn`` (14.4: 2% of the budget in an hour); *slow* alerts (``error``) when the
6 h and the 30 min burn rates are both at least ``slow_burn`` (6: 5% in six hours).
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from attrs import define, field

MINUTES = 360
"""Minute buckets kept: the longest alert window, 6 h."""
WINDOWS = {"5m": 5, "30m": 30, "1h": 60, "6h": 360}
"""Burn-rate windows, in minutes."""
ALERTS = (("fast", "critical", "1h", "5m"), ("slow", "error", "6h", "30m"))
"""(alert, severity, long window, short window), most severe first."""
EVAL_EVERY = 10.0
"""Seconds between evaluations while only good samples arrive (a bad one evaluates)."""
CLOCK_STEP = 120.0
"""A sample this many seconds older than the latest one means the clock stepped back
(NTP, a VM resume): the objective's time restarts from it instead of ignoring it."""


class Ring:
    """``size`` counters of ``(good, bad)``, bucket ``i`` holding period ``i``."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.period = [-1] * size
        self.good = [0] * size
        self.bad = [0] * size

    def add(self, period: int, good: bool, now: int) -> None:
        if period <= now - self.size or period > now:
            return
        i = period % self.size
        if self.period[i] != period:
            self.period[i], self.good[i], self.bad[i] = period, 0, 0
        if good:
            self.good[i] += 1
        else:
            self.bad[i] += 1

    def totals(self, now: int, spans: list[int]) -> list[tuple[int, int]]:
        """``(good, bad)`` over the last ``n`` periods up to ``now``, for each ``n`` in
        ascending ``spans``, in one pass."""
        out: list[tuple[int, int]] = []
        good = bad = 0
        want = iter(spans)
        n = next(want, None)
        for back in range(max(spans, default=0)):
            p = now - back
            i = p % self.size
            if self.period[i] == p:
                good += self.good[i]
                bad += self.bad[i]
            while n is not None and back + 1 == n:
                out.append((good, bad))
                n = next(want, None)
        return out


class Windows:
    """Running ``(good, bad)`` sums over the last ``n`` periods for each of ``spans``,
    kept up to date as samples arrive and time advances (amortised O(1) per sample;
    :meth:`Ring.totals` would loop over every bucket at each evaluation)."""

    def __init__(self, spans: list[int]) -> None:
        self.spans = sorted(spans)
        self.ring = Ring(self.spans[-1])
        self.now: int | None = None
        self.sums = {n: [0, 0] for n in self.spans}

    def advance(self, now: int) -> None:
        """Move the windows' end to period ``now`` (never back)."""
        if self.now is None or now <= self.now:
            self.now = now if self.now is None else self.now
            return
        ring = self.ring
        for n in self.spans:
            if now - self.now >= n:
                self.sums[n] = [0, 0]
                continue
            sums = self.sums[n]
            for p in range(self.now - n + 1, now - n + 1):  # the periods leaving
                i = p % ring.size
                if ring.period[i] == p:
                    sums[0] -= ring.good[i]
                    sums[1] -= ring.bad[i]
        self.now = now

    def add(self, period: int, good: bool) -> None:
        """Count one sample of ``period`` (call :meth:`advance` first)."""
        now = period if self.now is None else self.now
        self.advance(now)
        if period > now or period <= now - self.ring.size:
            return
        self.ring.add(period, good, now)
        for n in self.spans:
            if period > now - n:
                self.sums[n][0 if good else 1] += 1

    def totals(self, now: int) -> list[tuple[int, int]]:
        """``(good, bad)`` per span, at period ``now`` (at or after the last sample)."""
        self.advance(now)
        return [(self.sums[n][0], self.sums[n][1]) for n in self.spans]


def burn(good: int, bad: int, budget: float) -> float:
    """The burn rate of a window: its bad share over the error budget (0 without data)."""
    total = good + bad
    return (bad / total) / budget if total else 0.0


@define
class Tracker:
    """One objective's counters and alert episode."""

    name: str
    indicator: str
    target: float
    window: float
    """Seconds."""
    fast_burn: float = 14.4
    slow_burn: float = 6.0
    clear_after: float = 900.0
    min_samples: int = 10
    minutes: Windows = field(init=False)
    hours: Ring = field(init=False)
    now: float = field(default=-math.inf, init=False)
    firing: str | None = field(default=None, init=False)
    """The alert of the current episode (``fast`` or ``slow``), None between episodes."""
    last_true: float = field(default=-math.inf, init=False)
    last_eval: float = field(default=-math.inf, init=False)
    stepped_back: float = field(default=0.0, init=False)
    """Seconds the clock stepped back at the last :meth:`add` (0: it did not)."""

    def __attrs_post_init__(self) -> None:
        self.minutes = Windows(list(WINDOWS.values()))
        self.hours = Ring(max(1, math.ceil(self.window / 3600)))

    @property
    def budget(self) -> float:
        return 1.0 - self.target

    def add(self, ts: datetime, good: bool) -> None:
        """Count one sample. A sample more than :data:`CLOCK_STEP` older than the latest
        one is a clock stepped back (or a sample stamped in the future before it): the
        minute windows restart from it (their samples are at times that no longer come
        next), the episode keeps going, and :attr:`stepped_back` says by how much."""
        t = ts.timestamp()
        self.stepped_back = 0.0
        if t < self.now - CLOCK_STEP:
            self._rebase(t)
        self.now = max(self.now, t)
        now = int(self.now)
        self.minutes.advance(now // 60)
        self.minutes.add(int(t) // 60, good)
        self.hours.add(int(t) // 3600, good, now // 3600)

    def _rebase(self, t: float) -> None:
        self.stepped_back = self.now - t
        self.now = t
        self.minutes = Windows(list(WINDOWS.values()))
        # Hour buckets later than t are never read (totals look back from now) until
        # time reaches them again, when they are reset: nothing to clear.
        self.last_eval = -math.inf
        if self.firing is not None:
            self.last_true = t  # the episode goes on; clear_after counts from here

    def burn_rates(self, at: float | None = None) -> dict[str, float]:
        """Burn rate over each of :data:`WINDOWS`, at ``at`` (default: the last sample)."""
        return {w: r for w, (r, _n) in self._rates(at).items()}

    def _rates(self, at: float | None = None) -> dict[str, tuple[float, int]]:
        if at is None and self.now == -math.inf:
            return dict.fromkeys(WINDOWS, (0.0, 0))
        now = int(self.now if at is None else at) // 60
        totals = self.minutes.totals(max(now, self.minutes.now or now))
        return {
            w: (burn(g, b, self.budget), g + b) for w, (g, b) in zip(WINDOWS, totals, strict=True)
        }

    def budget_remaining(self, at: float | None = None) -> tuple[float, int, int]:
        """Share of the window's error budget left (negative: overspent), and the
        window's good and bad counts."""
        if at is None and self.now == -math.inf:
            return 1.0, 0, 0
        now = int(self.now if at is None else at) // 3600
        ((good, bad),) = self.hours.totals(now, [self.hours.size])
        total = good + bad
        if not total:
            return 1.0, 0, 0
        return 1.0 - (bad / total) / self.budget, good, bad

    def evaluate(self, at: float, *, force: bool = False) -> list[tuple[str, str, dict[str, Any]]]:
        """Alert transitions at time ``at``: ``(kind, severity, fields)`` for
        ``slo.burn_rate`` (once per episode, again only when it escalates from slow to
        fast) and ``slo.recovered``."""
        if not force and at - self.last_eval < EVAL_EVERY:
            return []
        self.last_eval = at
        counted = self._rates(at)
        rates = {w: r for w, (r, _n) in counted.items()}
        thresholds = {"fast": self.fast_burn, "slow": self.slow_burn}
        active = None
        for alert, _severity, long, short in ALERTS:
            enough = counted[long][1] >= self.min_samples
            if enough and min(rates[long], rates[short]) >= thresholds[alert]:
                active = alert
                break
        out: list[tuple[str, str, dict[str, Any]]] = []
        if active is not None:
            self.last_true = at
            if self.firing is None or (self.firing == "slow" and active == "fast"):
                self.firing = active
                out.append(("burn_rate", _severity_of(active), self._fields(active, rates, at)))
        elif self.firing is not None and at - self.last_true >= self.clear_after:
            out.append(("recovered", "info", self._fields(self.firing, rates, at)))
            self.firing = None
        return out

    def _fields(self, alert: str, rates: dict[str, float], at: float) -> dict[str, Any]:
        long, short = next((lw, sw) for a, _s, lw, sw in ALERTS if a == alert)
        return {
            **self.status(rates, at),
            "alert": alert,
            "burn_rate": round(rates[long], 4),
            "burn_rate_short": round(rates[short], 4),
            "threshold": self.fast_burn if alert == "fast" else self.slow_burn,
        }

    def status(
        self, rates: dict[str, float] | None = None, at: float | None = None
    ) -> dict[str, Any]:
        """The objective's ``slo.status`` fields."""
        rates = self.burn_rates(at) if rates is None else rates
        remaining, _good, _bad = self.budget_remaining(at)
        return {
            "objective": self.name,
            "indicator": self.indicator,
            "target": self.target,
            "window": _duration(self.window),
            "budget_remaining": round(remaining, 6),
            "burn_rates": {w: round(r, 4) for w, r in rates.items()},
        }


def _severity_of(alert: str) -> str:
    return next(s for a, s, _l, _w in ALERTS if a == alert)


def _duration(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


class Evaluator:
    """Every objective of ``[slo]``: feed it events in time order with :meth:`observe`;
    it returns the ``slo.*`` events to emit as ``(kind, severity, fields)``."""

    def __init__(self, slo: Any) -> None:
        """``slo``: the ``[slo]`` section (``settings.slo``)."""
        from .indicators import Classifier

        self.objectives: list[tuple[Classifier, Tracker]] = []
        for name, o in sorted(slo.objectives.items()):
            limits = {o.indicator: float(o.threshold)} if o.threshold is not None else {}
            tracker = Tracker(
                name=name,
                indicator=o.indicator,
                target=float(o.target),
                window=float(o.window),
                fast_burn=float(slo.fast_burn),
                slow_burn=float(slo.slow_burn),
                clear_after=float(slo.clear_after),
                min_samples=int(slo.min_samples),
            )
            self.objectives.append((Classifier(limits), tracker))

    @property
    def trackers(self) -> list[Tracker]:
        return [t for _c, t in self.objectives]

    def observe(
        self, event: Any, *, evaluate: bool = True
    ) -> list[tuple[str, str, dict[str, Any]]]:
        """Count ``event`` and return the alert transitions it causes (``evaluate=False``:
        count only, as for the part of a replay older than every alert window)."""
        if event.stage == "slo":
            return []
        at = event.ts.timestamp()
        out: list[tuple[str, str, dict[str, Any]]] = []
        for classifier, tracker in self.objectives:
            bad = False
            back = 0.0
            for sample in classifier.samples(event):
                if sample.indicator == tracker.indicator:
                    tracker.add(sample.ts, sample.good)
                    back = max(back, tracker.stepped_back)
                    bad = bad or not sample.good
            if evaluate:
                if back:
                    fields = {**tracker.status(), "clock_back": back}
                    out.append(("clock_step", "warning", fields))
                out.extend(tracker.evaluate(max(at, tracker.now), force=bad))
        return out

    @property
    def longest(self) -> float:
        """The longest objective window, in seconds (0 without objectives)."""
        return max((t.window for t in self.trackers), default=0.0)

    def finish(self, at: float) -> list[tuple[str, str, dict[str, Any]]]:
        """Evaluate every objective at ``at`` (the end of a replay)."""
        out: list[tuple[str, str, dict[str, Any]]] = []
        for tracker in self.trackers:
            out.extend(tracker.evaluate(at, force=True))
        return out
