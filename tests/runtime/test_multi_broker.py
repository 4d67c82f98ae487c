"""Several brokers in one agent: routing, health, failover and the never-twice rule, on
real paper brokers (two instances of one plugin, each with its own account database)
behind a test broker whose faults the test switches: down (every call raises), or a
submit whose answer is lost after the venue took the order."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal

import pytest
from tradekernel import hookimpl
from tradekernel.components import SubmitOutcomeUnknown
from tradekernel.errors import ConfigError
from tradekernel.models import Account, Decision, Intent, Position, utcnow
from tradekernel.runtime import Runtime
from tradekernel.runtime.routing import aggregate, route_for
from tradekernel.settings import RoutingSettings, Settings
from tradekernel.store import IntentState
from tradekernel.testing import invoke

from .conftest import Scripted


class Faults:
    """A broker plugin (``flaky``) that wraps the paper broker: each instance (by its
    instance name) can be switched down or made to lose its next submit's answer."""

    def __init__(self) -> None:
        self.down: set[str] = set()
        self.lose: set[str] = set()
        self.bad_fills: set[str] = set()
        """Client order ids whose fills the venue cannot give (the read raises)."""
        self.brokers: dict[str, Flaky] = {}
        self.calls: list[str] = []
        """The instance name of every call made to a venue."""

    @hookimpl
    def register_brokers(self, register):
        from tradekernel_paper import build
        from tradekernel_paper.config import PaperConfig

        def make(config, ctx):
            broker = Flaky(self, ctx.name, build(config, ctx))
            if not ctx.check_only:
                self.brokers[ctx.name] = broker
            return broker

        register("flaky", make, config=PaperConfig)


class Flaky:
    """The paper broker, unless its switchboard says this venue is down."""

    def __init__(self, faults: Faults, name: str, paper) -> None:
        self.faults, self.name, self.paper = faults, name, paper

    def _up(self) -> None:
        self.faults.calls.append(self.name)
        if self.name in self.faults.down:
            raise ConnectionError(f"{self.name} is down")

    def submit(self, request):
        self._up()
        order = self.paper.submit(request)
        if self.name in self.faults.lose:  # the venue took it; the answer never arrives
            self.faults.lose.discard(self.name)
            self.faults.down.add(self.name)
            raise SubmitOutcomeUnknown("read timeout")
        return order

    def get_order(self, client_order_id):
        self._up()
        return self.paper.get_order(client_order_id)

    def fills(self, client_order_id=None):
        self._up()
        if client_order_id in self.faults.bad_fills:
            raise ValueError(f"{self.name}: fills of {client_order_id} disagree with the order")
        return self.paper.fills(client_order_id)

    def account(self):
        self._up()
        return self.paper.account()

    def positions(self):
        self._up()
        return self.paper.positions()

    def known_client_order_ids(self, prefix, limit):
        self._up()
        return self.paper.known_client_order_ids(prefix, limit)

    def __getattr__(self, name):
        return getattr(self.paper, name)


CONFIG = """
[kernel]
state_dir = "{{state_dir}}"
approval_mode = "auto"
approval_ttl = "1d"

[components]
brokers = ["alpha", "beta"{third}]
market_data = "synthetic"
strategist = "scripted"
guards = []
metrics_sinks = []
notifiers = []

[runtime]
watchlist = ["AAA", "BBB", "BTC/USDT"]
node_backoff = "0s"
skill_timeout = "0s"

[market_data.synthetic]
symbols = ["AAA", "BBB", "BTC/USDT"]
seed = 7
bars = 60

[broker.alpha]
use = "flaky"
db = "alpha.db"

[broker.beta]
use = "flaky"
db = "beta.db"

[broker.gamma]
use = "flaky"
db = "gamma.db"

[routing]
failures = 1
cooldown = "1h"
{routing}
"""

ONE_ROUTE = 'routes = [{symbols = ["*"], broker = "alpha", secondary = "beta"}]'


class Clock:
    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self):
        return self.now


def buys(*symbols: str):
    def make(inputs) -> Decision:
        return Decision(
            intents=[
                Intent.create(
                    symbol=s, side="buy", quantity=1, strategist="scripted", as_of=inputs.as_of
                )
                for s in symbols
            ]
        )

    return make


@pytest.fixture
def agent(kernel_factory):
    def make(routing: str = ONE_ROUTE, *, third: bool = False, cycles: int = 20):
        faults, scripted = Faults(), Scripted()
        scripted.script = [buys("AAA") for _ in range(cycles)]
        text = CONFIG.format(routing=routing, third=', "gamma"' if third else "")
        kernel, rec = kernel_factory.build(
            text, plugins=((faults, "faults"), (scripted, "scripted"))
        )
        return kernel, rec, faults, scripted

    return make


def venue_ids(faults: Faults) -> dict[str, list[str]]:
    """Every client order id each venue holds an order for."""
    return {n: [o.client_order_id for o in b.paper.orders()] for n, b in faults.brokers.items()}


def no_duplicates(faults: Faults) -> None:
    ids = [cid for held in venue_ids(faults).values() for cid in held]
    assert len(ids) == len(set(ids)), f"an intent reached the venues twice: {venue_ids(faults)}"


def test_primary_down_with_an_unknown_submit_fails_over_and_resolves_on_the_primary(agent):
    kernel, rec, faults, _ = agent()
    clock = Clock()
    with Runtime(kernel, clock=clock) as runtime:
        runtime.start()
        first = runtime.run_cycle()
        assert len(first.submitted) == 1
        assert runtime.store.get(first.submitted[0]).broker == "alpha"

        faults.lose.add("alpha")  # the next submit reaches alpha, its answer is lost
        second = runtime.run_cycle()
        (unknown,) = second.approved
        record = runtime.store.get(unknown)
        assert record.state is IntentState.EXECUTING and record.broker == "alpha"
        assert [e.fields["broker"] for e in rec.of("routing", "unhealthy")] == ["alpha"]

        third = runtime.run_cycle()  # alpha is unhealthy: the new intent goes to beta
        (moved,) = third.submitted
        assert runtime.store.get(moved).broker == "beta"
        (failover,) = rec.of("routing", "failover")
        assert failover.fields["primary"] == "alpha" and failover.fields["broker"] == "beta"
        # the unknown one waits on alpha: never looked up nor sent anywhere else
        assert runtime.store.get(unknown).state is IntentState.EXECUTING
        assert unknown not in {r.id for r in runtime.store.list_intents(state="submitted")}

        faults.down.clear()  # alpha is back; its cooldown has to pass first
        runtime.run_cycle()
        assert runtime.store.get(unknown).state is IntentState.EXECUTING
        clock.now += timedelta(hours=2)
        fourth = runtime.run_cycle()
        resolved = runtime.store.get(unknown)
        assert resolved.state is IntentState.SUBMITTED and resolved.broker == "alpha"
        assert resolved.reason == "found_at_broker"  # looked up on alpha, not resent
        assert [e.fields["broker"] for e in rec.of("routing", "healthy")] == ["alpha"]
        assert rec.of("routing", "failback")
        (back,) = fourth.submitted
        assert runtime.store.get(back).broker == "alpha"
        runtime.run_cycle()  # the order found done on alpha has its fills recorded
        assert runtime.store.get(unknown).order_status == "filled"
        assert runtime.store.fills(resolved.client_order_id)
        assert runtime.store.verify_journal().ok
    ids = venue_ids(faults)
    assert ids["alpha"].count(record.client_order_id) == 1
    assert record.client_order_id not in ids["beta"]
    no_duplicates(faults)


def test_one_orders_failing_fills_count_against_its_broker_and_stop_no_other(agent):
    kernel, rec, faults, scripted = agent(
        'routes = [{symbols = ["*"], broker = "alpha", secondary = "beta"}]'
    )
    scripted.script = [buys("AAA", "BBB")]
    with Runtime(kernel, clock=Clock()) as runtime:
        runtime.start()
        (first, second) = runtime.run_cycle().submitted
        bad = runtime.store.get(first).client_order_id
        faults.bad_fills.add(bad)
        for _ in range(3):
            runtime.run_cycle()
        good = runtime.store.get(second)
        assert good.order_status == "filled"
        assert runtime.store.fills(good.client_order_id)
        assert runtime.store.fills(bad) == []
        (failed, *_) = rec.of("monitor", "order_failed")
        assert failed.fields["broker"] == "alpha" and failed.fields["client_order_id"] == bad
        # counted against alpha's health (a success closes it again: failures = 1 here)
        unhealthy = rec.of("routing", "unhealthy")
        assert unhealthy and all("fills: ValueError" in e.fields["reason"] for e in unhealthy)
        assert not rec.of("resilience", "incident")  # several brokers: health, not incidents


def test_both_brokers_down_hold_intents_and_send_nothing(agent):
    kernel, rec, faults, _ = agent()
    with Runtime(kernel, clock=Clock()) as runtime:
        runtime.start()
        runtime.run_cycle()
        before = venue_ids(faults)
        faults.down.update({"alpha", "beta"})
        for _ in range(3):
            state = runtime.run_cycle()
            assert not state.submitted and not state.failed
        assert venue_ids(faults) == before
        held = rec.of("routing", "held")
        assert any(e.fields.get("intent_id") for e in held)  # approved intents wait
        assert any(e.severity == "error" and e.fields["broker"] is None for e in held)
        waiting = runtime.store.list_intents(state="approved")
        assert len(waiting) == 3 and {r.broker for r in waiting} == {"alpha"}
        assert not runtime.store.list_intents(state="executing")


def test_flapping_health_never_moves_a_route_within_a_cycle(agent):
    kernel, rec, faults, scripted = agent()
    scripted.script = [buys("AAA", "BBB") for _ in range(10)]
    clock = Clock()
    routes = []
    with Runtime(kernel, clock=clock) as runtime:
        runtime.start()
        for i in range(8):
            faults.down.clear()
            faults.lose.add("alpha")  # alpha loses its first submit whenever it gets one
            if i and i % 2 == 0:
                clock.now += timedelta(hours=2)  # alpha's cooldown passes: tried again
            beta_before = len(venue_ids(faults)["beta"])
            state = runtime.run_cycle()
            brokers = {runtime.store.get(i).broker for i in state.proposed}
            assert len(brokers) == 1, f"one cycle routed to {brokers}"
            routes.append(brokers.pop())
            if routes[-1] == "alpha":  # alpha failed mid-cycle: nothing of it went to beta
                assert len(venue_ids(faults)["beta"]) == beta_before
        assert routes == ["alpha", "beta"] * 4  # once per cycle at most, never within one
        assert len(rec.of("routing", "failover")) == 4
        assert len(rec.of("routing", "failback")) == 3
        for record in runtime.store.list_intents(state="executing"):
            assert record.broker == "alpha"
    no_duplicates(faults)


def test_routing_by_pattern_and_asset_class(agent):
    routing = """
routes = [
  {symbols = ["BB?"], broker = "beta"},
  {asset_class = "crypto", broker = "gamma", secondary = "beta"},
]
default = "alpha"
asset_classes = {crypto = ["*/USDT"]}
"""
    kernel, _, faults, scripted = agent(routing, third=True)
    scripted.script = [buys("AAA", "BBB", "BTC/USDT")]
    with Runtime(kernel, clock=Clock()) as runtime:
        runtime.start()
        state = runtime.run_cycle()
        routed = {
            runtime.store.get(i).intent.symbol: runtime.store.get(i).broker for i in state.submitted
        }
    assert routed == {"AAA": "alpha", "BBB": "beta", "BTC/USDT": "gamma"}
    no_duplicates(faults)


def test_disabled_broker_takes_no_new_intent_and_the_switch_is_journaled(agent, kernel_factory):
    kernel, _, _, _ = agent()
    path = kernel_factory.directory / "plugins.toml"
    result = invoke(
        [
            "--config",
            str(path),
            "control",
            "broker",
            "disable",
            "alpha",
            "--by",
            "ops",
            "--reason",
            "venue maintenance",
        ]
    )
    assert result.exit_code == 0, result.stderr
    with Runtime(kernel, clock=Clock()) as runtime:
        runtime.start()
        state = runtime.run_cycle()
        assert runtime.store.get(state.submitted[0]).broker == "beta"
        rows = [r for r in runtime.store.journal_rows("control:broker_disabled.alpha")]
        assert rows and rows[-1].actor == "ops"
        listed = invoke(["--config", str(path), "intents", "list", "--broker", "beta", "--json"])
        assert [i["broker"] for i in json.loads(listed.stdout)["intents"]] == ["beta"]
        none = invoke(["--config", str(path), "intents", "list", "--broker", "alpha", "--json"])
        assert json.loads(none.stdout)["intents"] == []
    bad = invoke(["--config", str(path), "control", "broker", "enable", "omega"])
    assert bad.exit_code == 2 and "omega" in bad.stderr


def test_account_view_adds_one_currency_and_refuses_to_mix():
    routing = RoutingSettings()
    usd = Account(cash=Decimal(100), equity=Decimal(150), currency="USD")
    usdt = Account(cash=Decimal(10), equity=Decimal(10), currency="USDT")
    held = {
        "a": [Position("AAA", Decimal(2), Decimal(10))],
        "b": [Position("AAA", Decimal(2), Decimal(20))],
    }
    account, positions = aggregate({"a": usd, "b": usd}, held, routing, "a")
    assert (account.cash, account.equity, account.currency) == (200, 300, "USD")
    assert positions["AAA"].quantity == 4 and positions["AAA"].avg_price == 15
    with pytest.raises(ConfigError, match="at_par"):
        aggregate({"a": usd, "b": usdt}, {}, routing, "a")
    account, _ = aggregate({"a": usd, "b": usdt}, {}, RoutingSettings(at_par=["USDT"]), "a")
    assert account.cash == 110 and account.currency == "USD"


def test_brokers_in_two_currencies_stop_the_start(agent):
    kernel, _, faults, _ = agent()
    with Runtime(kernel, clock=Clock()) as runtime:
        runtime.kernel.component("broker", "beta")
        faults.brokers["beta"].account = lambda: Account(
            cash=Decimal(1), equity=Decimal(1), currency="EUR"
        )
        with pytest.raises(ConfigError, match="EUR"):
            runtime.start()
        assert not venue_ids(faults)["alpha"] and not venue_ids(faults)["beta"]


def test_first_matching_route_wins():
    from tradekernel.serde import structure

    routing = structure(
        {
            "routes": [
                {"symbols": ["*/USDT"], "broker": "binance"},
                {"symbols": ["BTC/*"], "broker": "kraken"},
            ]
        },
        RoutingSettings,
    )
    assert route_for("BTC/USDT", routing).broker == "binance"
    assert route_for("BTC/EUR", routing).broker == "kraken"
    assert route_for("AAPL", routing) is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            '[components]\nbroker = "paper"\nbrokers = ["paper"]\n',
            "broker and brokers are both set",
        ),
        (
            '[components]\nbrokers = ["a"]\n[routing]\ndefault = "b"\n',
            "[routing] default: 'b' is not in [components] brokers",
        ),
        (
            '[components]\nbrokers = ["a", "b"]\n[routing]\n'
            'routes = [{symbols = ["X"], broker = "a", secondary = "c"}]\n',
            "[routing] routes[0].secondary: 'c'",
        ),
        (
            '[components]\nbrokers = ["a"]\n[routing]\nroutes = [{broker = "a"}]\n',
            "routes[0]: give symbols",
        ),
        (
            '[components]\nbrokers = ["a"]\n[routing]\n'
            'routes = [{asset_class = "fx", broker = "a"}]\n',
            "routes[0].asset_class: 'fx' is not in [routing] asset_classes",
        ),
        (
            '[routing]\nroutes = [{symbols = ["X"], broker = "paper"}]\n',
            "[components] brokers is not set",
        ),
        (
            '[broker.a]\nuse = "b"\n[broker.b]\nuse = "a"\n',
            "[broker.a] use: 'b' is itself an instance ([broker.b] use = 'a')",
        ),
    ],
)
def test_config_errors_name_file_section_and_key(tmp_path, text, message):
    path = tmp_path / "plugins.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        Settings.load(path, environ={}).component_use("broker", "a")
    assert message in str(info.value) and str(info.value).startswith("plugins.toml: ")


def test_brokers_naming_no_component_or_twice_are_config_errors(tmp_path):
    path = tmp_path / "plugins.toml"
    for brokers, message in (
        ('["paper", "nope"]', "[components] brokers: broker 'nope' is not available"),
        ('["paper", "paper"]', "[components] brokers: 'paper' is listed twice"),
    ):
        path.write_text(f'[kernel]\nstate_dir = "{tmp_path}"\n[components]\nbrokers = {brokers}\n')
        result = invoke(["--config", str(path), "config", "check"])
        assert result.exit_code == 2 and f"plugins.toml: {message}" in result.stderr


def test_use_naming_no_component_is_a_config_error(tmp_path):
    path = tmp_path / "plugins.toml"
    path.write_text(
        f'[kernel]\nstate_dir = "{tmp_path}"\n[components]\nbrokers = ["x"]\n'
        '[broker.x]\nuse = "papr"\n'
    )
    result = invoke(["--config", str(path), "config", "check"])
    assert result.exit_code == 2
    assert (
        "plugins.toml: [broker.x] use: no installed plugin registers broker 'papr'" in result.stderr
    )
    assert "did you mean 'paper'" in result.stderr


def test_instances_build_only_their_component_and_are_listed(tmp_path):
    path = tmp_path / "plugins.toml"
    path.write_text(
        f'[kernel]\nstate_dir = "{tmp_path / "s"}"\n[components]\nbrokers = ["x", "y"]\n'
        '[broker.x]\nuse = "paper"\ndb = "x.db"\ncash = 500\n'
        '[broker.y]\nuse = "paper"\ndb = "y.db"\n'
    )
    result = invoke(["--config", str(path), "config", "check"])
    assert result.exit_code == 0, result.stderr
    assert "brokers=x,y" in result.stdout
    assert "instance: broker.x -> broker:paper" in result.stdout
    settings = Settings.load(path, environ={})
    from tradekernel.kernel import Kernel

    with Kernel(settings) as kernel:
        x, y = kernel.component("broker", "x"), kernel.component("broker", "y")
        assert x is not y and x.account().cash == 500 and y.account().cash == 100000
        assert kernel.spec("broker", "x").name == "x"


def test_a_disabled_broker_is_not_asked_about_its_unknown_intent_until_enabled(
    agent, kernel_factory
):
    kernel, _, faults, _ = agent()
    path = kernel_factory.directory / "plugins.toml"
    clock = Clock()
    with Runtime(kernel, clock=clock) as runtime:
        runtime.start()
        faults.lose.add("alpha")
        (unknown,) = runtime.run_cycle().approved
        assert runtime.store.get(unknown).state is IntentState.EXECUTING
        off = invoke(["--config", str(path), "control", "broker", "disable", "alpha"])
        assert off.exit_code == 0, off.stderr
        faults.down.clear()
        clock.now += timedelta(hours=2)
        runtime.run_cycle()
        assert runtime.store.get(unknown).state is IntentState.EXECUTING
        on = invoke(["--config", str(path), "control", "broker", "enable", "alpha"])
        assert on.exit_code == 0, on.stderr
        runtime.run_cycle()
        assert runtime.store.get(unknown).state is IntentState.SUBMITTED
    no_duplicates(faults)


def test_run_with_two_paper_instances_routes_and_reports_per_broker(tmp_path):
    path = tmp_path / "plugins.toml"
    path.write_text(
        f'[kernel]\nstate_dir = "{tmp_path / "state"}"\napproval_mode = "auto"\n'
        '[components]\nbrokers = ["alpha", "beta"]\nstrategist = "sma-cross"\n'
        'metrics_sinks = ["jsonl"]\nnotifiers = []\n'
        '[broker.alpha]\nuse = "paper"\ndb = "alpha.db"\n'
        '[broker.beta]\nuse = "paper"\ndb = "beta.db"\n'
        '[runtime]\nwatchlist = ["AAA", "BBB"]\nskill_timeout = "0s"\n'
        '[market_data.synthetic]\nsymbols = ["AAA", "BBB"]\nbars = 300\n'
        '[routing]\nroutes = [{symbols = ["B*"], broker = "beta", secondary = "alpha"}]\n'
    )
    ran = invoke(["--config", str(path), "run", "--every", "1ms", "--cycles", "300", "--json"])
    assert ran.exit_code == 0, ran.stderr
    summary = json.loads(ran.stdout)
    assert summary["orders_submitted"] > 0
    # equity and P&L across both accounts (100,000 each)
    assert abs(Decimal(summary["pnl"])) < 10000 < Decimal(summary["equity"]) - 100000
    for broker, symbol in (("alpha", "AAA"), ("beta", "BBB")):
        listed = invoke(["--config", str(path), "intents", "list", "--broker", broker, "--json"])
        intents = json.loads(listed.stdout)["intents"]
        assert intents and {i["intent"]["symbol"] for i in intents} == {symbol}
    report = invoke(["--config", str(path), "report", "daily"])
    assert report.exit_code == 0, report.stderr
    assert "(alpha: " in report.stdout and "beta: " in report.stdout


def test_health_counts_errors_unknown_outcomes_and_slow_answers(tmp_path):
    from tradekernel.runtime.control import Control
    from tradekernel.runtime.routing import BrokerHealth
    from tradekernel.settings import RuntimeSettings
    from tradekernel.store import Store

    clock, events = Clock(), []
    routing = RoutingSettings(failures=2, max_latency=1.0)
    with Store.open(tmp_path) as store:
        control = Control(store, RuntimeSettings(), clock=clock)
        health = BrokerHealth("alpha", control, routing, lambda *a, **k: events.append((a, k)))
        health.record(True, latency_s=5.0)  # slow: a bad outcome
        clock.now += timedelta(seconds=float(routing.window) + 1)  # out of the window
        health.record(False, what="unknown_outcome")
        health.record(True, latency_s=0.1)  # a good answer does not wipe it out
        assert health.state == "closed"
        with pytest.raises(ConnectionError):
            health.timed(lambda: (_ for _ in ()).throw(ConnectionError("down")), "lookup")
        assert health.state == "open"
        (unhealthy,) = [k for a, k in events if a[1] == "unhealthy"]
        assert unhealthy["broker"] == "alpha" and "lookup: ConnectionError" in unhealthy["reason"]
        assert not health.breaker.allow()  # within the cooldown
        clock.now += timedelta(seconds=float(routing.cooldown) + 1)
        assert health.breaker.allow() and health.state == "half_open"
        health.record(True, 0.1)
        assert health.state == "closed"
        assert [a[1] for a, _ in events] == ["unhealthy", "healthy"]
        rows = store.journal_rows("control:broker_health.alpha")
        assert rows  # every change is journaled


def test_instances_work_for_strategists_and_guards(tmp_path):
    from tradekernel.plugins import PluginRegistry
    from tradekernel.runtime.stage import current_digest

    path = tmp_path / "plugins.toml"
    path.write_text(
        f'[kernel]\nstate_dir = "{tmp_path / "s"}"\n[components]\nstrategist = "fast"\n'
        'guards = ["tight"]\n[strategist.fast]\nuse = "sma-cross"\nfast = 2\nslow = 5\n'
        '[guard.tight]\nuse = "max_order_notional"\nlimit = 1000\n'
    )
    checked = invoke(["--config", str(path), "config", "check", "--json"])
    assert checked.exit_code == 0, checked.stderr
    assert {(i["instance"], i["use"]) for i in json.loads(checked.stdout)["instances"]} == {
        ("fast", "sma-cross"),
        ("tight", "max_order_notional"),
    }
    settings = Settings.load(path, environ={})
    assert current_digest(settings, PluginRegistry().load(), "fast")  # promotion evidence
    assert invoke(["--config", str(path), "run", "--once"]).exit_code == 0


class Spy:
    """A guard that keeps every context it is given."""

    def __init__(self) -> None:
        self.seen = []

    def check(self, intent, ctx):
        from tradekernel.models import GuardVerdict

        others = {p.symbol for p in ctx.other_positions}
        self.seen.append((intent.symbol, ctx.broker, ctx.account, dict(ctx.positions), others))
        return GuardVerdict.allowed("spy")

    @hookimpl
    def register_guards(self, register):
        register("spy", lambda config, ctx: self)


def test_guards_see_the_intents_broker_its_account_and_positions(kernel_factory):
    faults, scripted, spy = Faults(), Scripted(), Spy()
    scripted.script = [buys("AAA"), buys("BBB"), buys("AAA", "BBB")]
    text = CONFIG.format(
        routing='routes = [{symbols = ["BB?"], broker = "beta"}]', third=""
    ).replace("guards = []", 'guards = ["spy"]')
    text = text.replace('db = "beta.db"', 'db = "beta.db"\ncash = 5000')
    kernel, _ = kernel_factory.build(
        text, plugins=((faults, "faults"), (scripted, "scripted"), (spy, "spy"))
    )
    with Runtime(kernel, clock=Clock()) as runtime:
        runtime.start()
        for _ in range(4):
            runtime.run_cycle()
    last = {symbol: seen for symbol, *seen in spy.seen}
    assert last["AAA"][0] == "alpha" and last["AAA"][1].cash > 90000
    assert last["BBB"][0] == "beta" and last["BBB"][1].cash <= 5000
    assert set(last["BBB"][2]) == {"BBB"}  # the positions at its own broker
    assert last["BBB"][3] == {"AAA"}  # and those at the others, for gross limits


def test_every_change_of_a_routes_choice_is_one_event(tmp_path):
    from tradekernel.runtime.control import Control
    from tradekernel.runtime.routing import Router
    from tradekernel.serde import structure
    from tradekernel.settings import RuntimeSettings
    from tradekernel.store import Store

    routing = structure(
        {"routes": [{"symbols": ["*"], "broker": "a", "secondary": "b"}]}, RoutingSettings
    )
    events = []
    with Store.open(tmp_path) as store:
        control = Control(store, RuntimeSettings())
        router = Router(
            ["a", "b"],
            routing,
            "a",
            control,
            broker=None,
            emit=lambda *a, **k: events.append((a[1], k.get("broker"))),
        )

        def cycle(a: bool, b: bool) -> str | None:
            for name, up in (("a", a), ("b", b)):
                router.health[name].set_disabled(not up, actor="t")
            events.clear()
            router.begin_cycle()
            first = router.choose("X")
            assert router.choose("Y") == first  # one choice per route and cycle
            return first

        assert (cycle(True, True), events) == ("a", [])
        assert cycle(False, True) == "b" and ("failover", "b") in events
        assert cycle(False, False) is None and ("held", None) in events
        assert cycle(False, True) == "b" and ("failover", "b") in events
        assert cycle(False, True) == "b" and not [e for e in events if e[0] == "failover"]
        assert cycle(True, True) == "a" and ("failback", "a") in events


def test_intents_reconcile_sends_nothing_to_a_disabled_broker(tmp_path):
    from tradekernel.models import GuardVerdict
    from tradekernel.store import Store

    state = tmp_path / "state"
    path = tmp_path / "plugins.toml"
    path.write_text(
        f'[kernel]\nstate_dir = "{state}"\n[components]\nbrokers = ["x", "y"]\n'
        '[broker.x]\nuse = "paper"\ndb = "x.db"\n[broker.y]\nuse = "paper"\ndb = "y.db"\n'
    )
    intent = Intent.create(symbol="AAA", side="buy", quantity=1, strategist="t", as_of=utcnow())
    with Store.open(state) as store:  # claimed on x, its submit never answered
        store.add_intent(intent, cycle_id="c1", broker="x", ref_price=Decimal(100))
        store.transition(
            intent.id, "pending_approval", actor="g", verdicts=[GuardVerdict.allowed("g")]
        )
        store.transition(intent.id, "approved", actor="op")
        store.transition(intent.id, "executing", actor="executor")
    cli = ["--config", str(path)]
    assert invoke([*cli, "control", "broker", "disable", "x"]).exit_code == 0
    held = invoke([*cli, "intents", "reconcile", "--json"])
    assert held.exit_code == 0, held.stderr
    assert json.loads(held.stdout) == []
    assert invoke([*cli, "control", "broker", "enable", "x"]).exit_code == 0
    done = invoke([*cli, "intents", "reconcile", "--json"])
    # confirmed absent at x, sent there once (the paper venue has no price yet: refused)
    assert [(r["action"], r["reason"]) for r in json.loads(done.stdout)] == [
        ("failed", "broker_rejected: no_price")
    ]
    from tradekernel.kernel import Kernel

    with Kernel(Settings.load(path, environ={})) as kernel:
        x, y = kernel.component("broker", "x"), kernel.component("broker", "y")
        assert {o.client_order_id for o in x.orders()} <= {intent.client_order_id}
        assert y.orders() == []
