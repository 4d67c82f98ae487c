"""The Alpaca feed inside the kernel's runtime (paper broker, the data double behind an
httpx mock transport): what a cycle costs in requests, a quote the venue stopped
updating quarantined as ``stale_quote``, and the session_hours guard denying with the
venue's early close."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from tradekernel import hookimpl
from tradekernel.api import Decision, Intent, Runtime
from tradekernel.testing import kernel_factory  # noqa: F401 - a fixture
from tradekernel_alpaca import build_market_data
from tradekernel_alpaca.double.data import DataAPI, ManualClock, weekday_calendar
from tradekernel_alpaca.http import RateLimiter
from tradekernel_alpaca.marketdata import AlpacaDataConfig

CONFIG = """
[kernel]
state_dir = "{{state_dir}}"
approval_mode = "auto"

[components]
broker = "paper"
market_data = "alpaca-double"
strategist = "buyer"
guards = [{guards}]
metrics_sinks = []
notifiers = []

[runtime]
watchlist = ["AAA", "BBB"]
node_backoff = "0s"
skill_timeout = "5s"

[market_data.alpaca-double]
timeframe = "1Min"

[guard.session_hours]
source = "market_data"
"""


class Double:
    """Registers ``market_data:alpaca-double``: the real factory, on the double."""

    def __init__(self, api: DataAPI) -> None:
        self.api = api
        self.feed = None

    @hookimpl
    def register_market_data(self, register):
        def factory(config, ctx):
            self.feed = build_market_data(
                config,
                ctx,
                transport=self.api.transport(),
                clock=self.api.clock,
                limiter=RateLimiter(100_000),
                sleep=lambda seconds: None,
            )
            return self.feed

        register("alpaca-double", factory, config=AlpacaDataConfig)


class Buyer:
    """Buys one share of every candidate, and remembers what it saw."""

    def __init__(self) -> None:
        self.seen = []

    def decide(self, inputs):
        self.seen.append(inputs)
        intents = [
            Intent.create(symbol=s, side="buy", quantity=1, strategist="buyer", as_of=inputs.as_of)
            for s in inputs.candidates
        ]
        return Decision(intents=intents) if intents else Decision.hold("nothing")

    @hookimpl
    def register_strategists(self, register):
        register("buyer", lambda config, ctx: self)


def _kernel(factory, api: DataAPI, guards: str = ""):
    double, buyer = Double(api), Buyer()
    kernel, recorder = factory.build(
        CONFIG.format(guards=guards),
        plugins=((double, "alpaca-double"), (buyer, "buyer")),
        environ={"APCA_API_KEY_ID": api.key_id, "APCA_API_SECRET_KEY": api.secret_key},
    )
    return kernel, recorder, double, buyer


def _venue(now: datetime, **calendar) -> DataAPI:
    api = DataAPI(clock=ManualClock(now), **calendar)
    for i, symbol in enumerate(("AAA", "BBB")):
        api.seed(symbol, now - timedelta(minutes=60), 120, price=100.0 + 10 * i)
    return api


def test_a_cycle_costs_two_requests_once_the_windows_are_filled(kernel_factory):  # noqa: F811
    api = _venue(datetime(2024, 6, 3, 15, 0, tzinfo=UTC))
    kernel, recorder, double, buyer = _kernel(kernel_factory, api)
    with Runtime(kernel) as runtime:
        states = []
        for _ in range(4):
            states.append(runtime.run_cycle())
            api.clock.advance(minutes=1)
    assert [sorted(s.quotes) for s in states] == [["AAA", "BBB"]] * 4
    assert len(buyer.seen[-1].bars["AAA"]) == 50  # [runtime] bars_lookback
    assert all(len(s.intents) == 2 for s in states)
    assert recorder.of("hydrate", "data_quality") == []
    fills = kernel.component("broker").fills()  # paper trading on the venue's data
    assert len(fills) == 6 and {f.symbol for f in fills} == {"AAA", "BBB"}  # the last: next bar
    counts = [double.feed.requests_by_cycle.get(s.cycle_id) for s in states]
    assert counts == [3, 2, 2, 2]  # keyed by the kernel's cycle id: skills run in its context


def test_a_stale_quote_is_never_traded(kernel_factory):  # noqa: F811
    api = _venue(datetime(2024, 6, 3, 15, 0, tzinfo=UTC))
    api.stale_quote("BBB", timedelta(minutes=20))  # over the default max_quote_age (15m)
    kernel, recorder, _double, buyer = _kernel(kernel_factory, api)
    with Runtime(kernel) as runtime:
        state = runtime.run_cycle()
    events = recorder.of("hydrate", "data_quality")
    assert [(e.fields["symbol"], e.fields["code"]) for e in events] == [("BBB", "stale_quote")]
    assert "1200s old" in events[0].fields["detail"]
    assert sorted(state.quotes) == ["AAA"] and [i.symbol for i in state.intents] == ["AAA"]
    assert "BBB" not in buyer.seen[0].bars


def test_session_hours_denies_after_the_venues_early_close(kernel_factory):  # noqa: F811
    calendar = weekday_calendar(
        date(2024, 11, 1), date(2024, 12, 31), {date(2024, 11, 29): time(13, 0)}
    )
    api = _venue(datetime(2024, 11, 29, 17, 59, tzinfo=UTC), calendar=calendar)  # 12:59
    kernel, recorder, _double, _buyer = _kernel(kernel_factory, api, '"session_hours"')
    with Runtime(kernel) as runtime:
        first = runtime.run_cycle()
        api.clock.advance(minutes=2)  # 13:01 New York: the table would still say open
        second = runtime.run_cycle()
    verdicts = [
        e for e in recorder.of("risk", "verdict") if e.fields.get("guard") == "session_hours"
    ]
    assert {e.fields["code"] for e in verdicts[:2]} == {"ok"} and len(first.intents) == 2
    denied = [e for e in verdicts if e.fields["code"] == "outside_session"]
    assert len(denied) == 2 and second.cycle_id == denied[0].cycle_id
    assert "Fri 2024-11-29 13:00 America/New_York" in denied[0].fields["detail"]
    assert "next open Mon 2024-12-02 09:30" in denied[0].fields["detail"]
    assert "alpaca /v2/clock" in denied[0].fields["detail"]
