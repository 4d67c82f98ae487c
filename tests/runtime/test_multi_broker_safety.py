"""Several brokers, the safety rules: position-aware routing, brokers that do not answer
at start, per-broker reconcile, health over a window, and configuration changes that
would strand an order (on two instances of the paper broker behind test faults)."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal

import pytest
from tradekernel.approval import derive_quantity
from tradekernel.errors import ConfigError
from tradekernel.models import Decision, Intent
from tradekernel.runtime import Runtime
from tradekernel.settings import Settings
from tradekernel.store import IntentState
from tradekernel.testing import invoke

from .conftest import Scripted
from .test_multi_broker import CONFIG, ONE_ROUTE, Clock, Faults, agent, buys  # noqa: F401


def build(kernel_factory, text: str, script: list):
    faults, scripted = Faults(), Scripted()
    scripted.script = list(script)
    kernel, rec = kernel_factory.build(text, plugins=((faults, "faults"), (scripted, "scripted")))
    return kernel, rec, faults


def two(routing: str = ONE_ROUTE) -> str:
    return CONFIG.format(routing=routing, third="")


def test_the_approval_request_sizes_with_the_intents_own_broker(kernel_factory):
    text = (
        two('routes = [{symbols = ["AAA"], broker = "beta"}]\ndefault = "alpha"')
        .replace('approval_mode = "auto"', 'approval_mode = "manual"')
        .replace('node_backoff = "0s"', 'node_backoff = "0s"\nquantity_step = 0.001')
        .replace(
            'db = "beta.db"', 'db = "beta.db"\nmin_quantity = 0.001\nquantity_increment = 0.001'
        )
    )

    def notional(inputs) -> Decision:
        return Decision(
            intents=[
                Intent.create(
                    symbol="AAA",
                    side="buy",
                    notional=Decimal(250),
                    strategist="scripted",
                    as_of=inputs.as_of,
                )
            ]
        )

    kernel, rec, _ = build(kernel_factory, text, [notional])
    with Runtime(kernel, clock=Clock()) as runtime:
        runtime.start()
        (pending_id,) = runtime.run_cycle().pending
        record = runtime.store.get(pending_id)
    (pending,) = rec.of("approval", "pending")
    beta = kernel.component("broker", "beta")
    quantity = derive_quantity(record, Decimal("0.001"), beta.order_constraints("AAA"))
    assert record.broker == "beta"
    assert Decimal(pending.fields["estimated_notional"]) == quantity * record.ref_price


def test_control_broker_disable_is_refused_without_a_brokers_list(kernel_factory):
    text = two().replace('brokers = ["alpha", "beta"]', 'broker = "alpha"')
    text = text[: text.index("[routing]")]
    build(kernel_factory, text, [])
    path = kernel_factory.directory / "plugins.toml"
    result = invoke(["--config", str(path), "control", "broker", "disable", "alpha"])
    assert result.exit_code == 2
    assert "[components] brokers is not set" in result.stderr
    assert "trading-state halted" in result.stderr
    status = invoke(["--config", str(path), "control", "status", "--json"])
    assert "broker_disabled" not in status.stdout


DEGRADED = """
[kernel]
state_dir = "{{state_dir}}"
approval_mode = "auto"

[components]
broker = "paper"
market_data = "synthetic"
strategist = "scripted"
guards = ["symbols"]
metrics_sinks = []
notifiers = []

[runtime]
watchlist = ["AAA"]
node_backoff = "0s"
skill_timeout = "0s"

[market_data.synthetic]
symbols = ["AAA"]
seed = 7
bars = 60

[guard.symbols]
use = "{use}"
{body}
"""


@pytest.mark.parametrize(
    ("use", "body", "required"),
    [
        ("allowlist", 'symbols = ["AAA"]', False),
        ("max_order_notional", "limit = 1000000", True),
    ],
)
def test_degrade_requires_the_allowlist_by_the_component_an_instance_uses(
    kernel_factory, use, body, required
):
    text = DEGRADED.format(use=use, body=body)
    if required:  # an instance NAMED allowlist that is another guard does not count
        text = text.replace('"symbols"]', '"allowlist"]').replace(
            "[guard.symbols]", "[guard.allowlist]"
        )
    scripted = Scripted()
    scripted.script = [orders("AAA", quantity=4)]
    kernel, rec = kernel_factory.build(
        text.replace("{{", "{").replace("}}", "}"), plugins=((scripted, "scripted"),)
    )
    with Runtime(kernel, clock=Clock()) as runtime:
        runtime.start()
        runtime.control.enter_degrade(reason="test")
        state = runtime.run_cycle()
    codes = {e.fields["code"] for e in rec.of("risk", "verdict")}
    assert state.degraded
    assert ("degrade_allowlist_required" in codes) is required
    assert bool(state.blocked) is required


def orders(symbol: str, side: str = "buy", quantity: int = 1):
    def make(inputs) -> Decision:
        return Decision(
            intents=[
                Intent.create(
                    symbol=symbol,
                    side=side,
                    quantity=quantity,
                    strategist="scripted",
                    as_of=inputs.as_of,
                )
            ]
        )

    return make


def test_submits_timing_out_make_a_broker_unhealthy_though_its_reads_answer(
    kernel_factory, monkeypatch
):
    """Default thresholds: every submit to alpha is taken but its answer is lost, while
    its account reads (two a cycle) and lookups answer."""
    from tradekernel.components import SubmitOutcomeUnknown

    from .test_multi_broker import Flaky

    def submit(self, request):
        order = self.paper.submit(request)
        if self.name == "alpha":
            raise SubmitOutcomeUnknown("read timeout")
        return order

    monkeypatch.setattr(Flaky, "submit", submit)
    text = two().replace("failures = 1\n", "")
    kernel, rec, _ = build(kernel_factory, text, [buys("AAA") for _ in range(6)])
    routed = []
    with Runtime(kernel, clock=Clock()) as runtime:
        runtime.start()
        for _ in range(6):
            state = runtime.run_cycle()
            routed += [runtime.store.get(i).broker for i in state.proposed]
    assert routed == ["alpha"] * 3 + ["beta"] * 3
    (unhealthy,) = rec.of("routing", "unhealthy")
    assert unhealthy.fields["broker"] == "alpha" and "unknown_outcome" in unhealthy.fields["reason"]


GUARDS = """
[guard.max_position]
max_quantity = 5

[guard.max_gross_exposure]
limit = 100000
"""


def reducing_agent(kernel_factory, script):
    """alpha then beta for every symbol; position guards; beta allows shorts."""
    text = two().replace("guards = []", 'guards = ["max_position", "max_gross_exposure"]')
    text = text.replace('db = "beta.db"', 'db = "beta.db"\nallow_short = true') + GUARDS
    return build(kernel_factory, text, script)


def test_a_sell_goes_to_the_broker_holding_the_position_or_is_held(kernel_factory):
    """alpha holds 5 AAA and goes down; a sell in trading state reducing is held for
    alpha (never sent to beta, where it would open a short), and runs there once alpha
    is back."""
    hold = Decision.hold("wait")
    kernel, rec, faults = reducing_agent(
        kernel_factory, [orders("AAA", "buy", 5), hold, hold, orders("AAA", "sell", 5), hold]
    )
    clock = Clock()
    with Runtime(kernel, clock=clock) as runtime:
        runtime.start()
        runtime.run_cycle()
        runtime.run_cycle()
        assert faults.brokers["alpha"].paper.positions()[0].quantity == 5
        faults.down.add("alpha")
        runtime.run_cycle()  # alpha's account read fails: unhealthy
        runtime.store.set_control("trading_state", "reducing", actor="ops", reason="de-risk")
        (sell,) = runtime.run_cycle().proposed
        record = runtime.store.get(sell)
        assert record.broker == "alpha" and record.state is IntentState.APPROVED
        held = [e for e in rec.of("routing", "held") if e.fields.get("intent_id") == sell]
        assert held and held[0].fields["reason"].startswith("broker_unavailable")
        runtime.run_cycle()
        assert not faults.brokers["beta"].paper.positions()
        faults.down.clear()
        clock.now += timedelta(hours=2)  # alpha's cooldown passes: probed, healthy again
        runtime.run_cycle()
        runtime.run_cycle()
        assert runtime.store.get(sell).state is IntentState.SUBMITTED
    assert not faults.brokers["alpha"].paper.positions()
    assert not faults.brokers["beta"].paper.positions()


def test_guards_judge_reducing_by_the_intents_own_broker(kernel_factory):
    """alpha holds 5 AAA: a sell of AAA reduces at alpha, not at beta (where it would
    open a short), and beta's guards see alpha's position for gross limits."""
    kernel, _, _ = reducing_agent(kernel_factory, [orders("AAA", "buy", 5)])
    with Runtime(kernel, clock=Clock()) as runtime:
        runtime.start()
        runtime.run_cycle()
        runtime.run_cycle()
        intent = Intent.create(symbol="AAA", side="sell", quantity=5, strategist="scripted")
        from tradekernel.runtime.ledger import Commitments
        from tradekernel.runtime.state import CycleState

        state = CycleState(cycle_id="c", mode="paper", mode_source="test")
        state.account, state.positions = runtime.account_view()
        at_alpha = runtime._guard_context(state, intent, Commitments(), "alpha")
        at_beta = runtime._guard_context(state, intent, Commitments(), "beta")
    from tradekernel.risk import reduces_position

    assert reduces_position(intent, at_alpha.positions)
    assert not reduces_position(intent, at_beta.positions)
    assert [p.symbol for p in at_beta.other_positions] == ["AAA"]


def test_a_disabled_broker_is_not_contacted_at_start_even_when_down(kernel_factory):
    kernel, _, faults = build(kernel_factory, two(), [buys("AAA")])
    path = kernel_factory.directory / "plugins.toml"
    disable = ["--config", str(path), "control", "broker", "disable", "alpha", "--by", "ops"]
    assert invoke(disable).exit_code == 0
    faults.down.add("alpha")
    with Runtime(kernel, clock=Clock()) as runtime:
        runtime.start()
        state = runtime.run_cycle()
        assert runtime.store.get(state.submitted[0]).broker == "beta"
    assert "alpha" not in faults.calls and "beta" in faults.calls


def test_a_broker_down_at_start_starts_unhealthy_and_is_checked_when_it_answers(
    kernel_factory,
):
    kernel, rec, faults = build(kernel_factory, two(), [buys("AAA") for _ in range(3)])
    faults.down.add("alpha")
    clock = Clock()
    with Runtime(kernel, clock=clock) as runtime:
        runtime.start()  # beta alone answers: the agent starts
        assert runtime.router.unchecked == {"alpha"}
        (unhealthy,) = [e for e in rec.of("routing", "unhealthy") if "deferred" in str(e.fields)]
        assert unhealthy.fields["broker"] == "alpha" and unhealthy.severity == "error"
        first = runtime.run_cycle()
        assert runtime.store.get(first.submitted[0]).broker == "beta"
        calls = len(faults.calls)
        faults.down.clear()
        clock.now += timedelta(hours=2)  # past its cooldown: probed, then checked
        runtime.run_cycle()  # alpha answers: its start checks run, then it takes its route
        assert not runtime.router.unchecked
        assert "alpha" in faults.calls[calls:]
        third = runtime.run_cycle()
        assert runtime.store.get(third.submitted[0]).broker == "alpha"
        assert rec.of("routing", "failback")


def test_the_only_broker_must_answer_at_start(kernel_factory):
    text = two().replace('brokers = ["alpha", "beta"]', 'broker = "alpha"')
    text = text[: text.index("[routing]")]
    kernel, _, faults = build(kernel_factory, text, [])
    faults.down.add("alpha")
    with Runtime(kernel, clock=Clock()) as runtime, pytest.raises(ConnectionError):
        runtime.start()


class Crash(BaseException):
    """Stops the process between the claim and the submit."""


def test_ops_batch_reconciles_each_broker_and_skips_a_disabled_one(kernel_factory):
    routing = 'routes = [{symbols = ["AAA"], broker = "beta"}]\ndefault = "alpha"'
    text = two(routing).replace('use = "flaky"', 'use = "paper"')
    kernel, _, _ = build(kernel_factory, text, [orders("AAA")])

    def crash(point, intent_id):
        if point == "before_submit":
            raise Crash(intent_id)

    with pytest.raises(Crash) as crashed, Runtime(kernel, clock=Clock()) as runtime:
        runtime.start()
        runtime.executor_for("beta").checkpoint = crash
        runtime.run_cycle()
    kernel.close()
    (intent_id,) = crashed.value.args
    cli = kernel_factory.write_config(
        text.replace('strategist = "scripted"', 'strategist = "hold"'), name="cli.toml"
    )
    base = ["--config", str(cli)]
    assert invoke([*base, "control", "broker", "disable", "beta"]).exit_code == 0
    invoke([*base, "ops", "batch"])
    shown = json.loads(invoke([*base, "intents", "show", intent_id, "--json"]).stdout)["intent"]
    assert shown["state"] == "executing"  # beta is disabled: nothing was sent to it
    assert invoke([*base, "control", "broker", "enable", "beta"]).exit_code == 0
    invoke([*base, "ops", "batch"])
    shown = json.loads(invoke([*base, "intents", "show", intent_id, "--json"]).stdout)["intent"]
    # looked up and resubmitted on beta (its own broker; the paper venue of this process
    # has no price for it, so it refuses): no longer waiting
    assert shown["broker"] == "beta" and shown["state"] != "executing"
    assert "broker_mismatch" not in (shown["reason"] or "")


def limit_buy(symbol: str, price: str):
    def make(inputs) -> Decision:
        return Decision(
            intents=[
                Intent.create(
                    symbol=symbol,
                    side="buy",
                    quantity=1,
                    order_type="limit",
                    limit_price=Decimal(price),
                    strategist="scripted",
                    as_of=inputs.as_of,
                )
            ]
        )

    return make


@pytest.mark.parametrize("approval", ["auto", "manual"])
def test_start_refuses_a_config_that_drops_a_broker_holding_intents(kernel_factory, approval):
    """beta holds an open order (auto) or a pending intent (manual): renaming it gamma
    is refused at start, naming beta and the intent; `intents` still shows it."""
    routing = 'routes = [{symbols = ["*"], broker = "beta"}]\ndefault = "alpha"'
    text = two(routing).replace('approval_mode = "auto"', f'approval_mode = "{approval}"')
    kernel, _, _ = build(kernel_factory, text, [limit_buy("AAA", "1.00")])
    with Runtime(kernel, clock=Clock()) as runtime:
        runtime.start()
        (intent_id,) = runtime.run_cycle().proposed
    kernel.close()
    renamed = text.replace('brokers = ["alpha", "beta"]', 'brokers = ["alpha", "gamma"]').replace(
        'broker = "beta"', 'broker = "gamma"'
    )
    kernel, rec, faults = build(kernel_factory, renamed, [])
    with Runtime(kernel, clock=Clock()) as runtime, pytest.raises(ConfigError) as refused:
        runtime.start()
    assert "broker beta is no longer configured" in str(refused.value)
    assert intent_id in str(refused.value)
    assert not faults.calls and not rec.of("executor", "conflict")  # nothing was asked
    path = kernel_factory.directory / "plugins.toml"
    listed = invoke(["--config", str(path), "intents", "list", "--broker", "beta", "--json"])
    assert [i["id"] for i in json.loads(listed.stdout)["intents"]] == [intent_id]


def test_two_paper_instances_on_one_account_are_refused(kernel_factory):
    text = two().replace('use = "flaky"', 'use = "paper"')
    text = text.replace('db = "alpha.db"\n', "").replace('db = "beta.db"\n', "")
    kernel, _, _ = build(kernel_factory, text, [])
    cli = text.replace('strategist = "scripted"', 'strategist = "hold"')
    path = kernel_factory.write_config(cli, name="cli.toml")
    checked = invoke(["--config", str(path), "config", "check"])
    assert checked.exit_code == 2
    assert "[broker.beta]" in checked.stderr and "[broker.alpha]" in checked.stderr
    assert "same account" in checked.stderr
    with Runtime(kernel, clock=Clock()) as runtime, pytest.raises(ConfigError, match="alpha"):
        runtime.start()
    apart = cli.replace('[broker.beta]\nuse = "paper"', '[broker.beta]\nuse = "paper"\ndb = "b.db"')
    assert apart != cli
    path = kernel_factory.write_config(apart, name="apart.toml")
    assert invoke(["--config", str(path), "config", "check"]).exit_code == 0


@pytest.mark.parametrize(
    ("sections", "message"),
    [
        (  # a terminal escape in an instance name: refused, printed inert
            '[broker."x\\u001b]0;pwned\\u0007"]\nuse = "paper"\ndb = "x.db"\n',
            "[broker.'x\\x1b]0;pwned\\x07']: an instance name is 1 to 64 lower-case ASCII",
        ),
        (  # a section named after a registered component re-binding it
            '[broker.x]\nuse = "paper"\ndb = "x.db"\n[broker.paper]\nuse = "alpaca"\n',
            "[broker.ok] use: 'paper' is itself an instance ([broker.paper] use = 'alpaca')",
        ),
        (
            '[broker.x]\nuse = "paper"\ndb = "x.db"\n[broker.alpaca]\nuse = "paper"\n',
            "[broker.alpaca] use: the section is named after the registered broker 'alpaca'",
        ),
    ],
)
def test_instance_names_are_checked_and_use_names_a_registered_component(
    tmp_path, sections, message
):
    name = sections.split("]")[0].removeprefix("[broker.")
    name = "x\u001b]0;pwned\u0007" if name.startswith('"') else name
    brokers = json.dumps(["ok", name])
    path = tmp_path / "plugins.toml"
    path.write_text(
        f'[kernel]\nstate_dir = "{tmp_path}"\n[components]\nbrokers = {brokers}\n'
        f'strategist = "hold"\n[broker.ok]\nuse = "paper"\ndb = "ok.db"\n{sections}'
    )
    result = invoke(["--config", str(path), "config", "check"])
    assert result.exit_code == 2
    assert message in result.stderr and "\x1b" not in result.stderr + result.stdout


def test_the_default_routes_secondary_must_differ_from_its_broker(tmp_path):
    path = tmp_path / "plugins.toml"
    path.write_text(
        '[components]\nbrokers = ["a", "b"]\n[routing]\ndefault = "a"\nsecondary = "a"\n'
    )
    with pytest.raises(ConfigError, match="secondary: 'a' is the default route's own broker"):
        Settings.load(path, environ={})


def test_two_instances_of_one_guard_answer_under_their_own_names(kernel_factory):
    text = DEGRADED.format(use="max_position", body="max_quantity = 100")
    text = text.replace('guards = ["symbols"]', 'guards = ["symbols", "tight"]')
    text += '\n[guard.tight]\nuse = "max_position"\nmax_quantity = 1\n'
    scripted = Scripted()
    scripted.script = [orders("AAA", quantity=4)]
    kernel, rec = kernel_factory.build(
        text.replace("{{", "{").replace("}}", "}"), plugins=((scripted, "scripted"),)
    )
    with Runtime(kernel, clock=Clock()) as runtime:
        runtime.start()
        runtime.run_cycle()
    verdicts = {e.fields["guard"]: e.fields["allow"] for e in rec.of("risk", "verdict")}
    assert verdicts["symbols"] is True and verdicts["tight"] is False


def test_a_broker_whose_account_read_fails_in_hydrate_takes_no_new_intent_that_cycle(
    kernel_factory,
):
    kernel, _, faults = build(kernel_factory, two(), [buys("AAA"), buys("AAA")])
    with Runtime(kernel, clock=Clock()) as runtime:
        runtime.start()
        runtime.run_cycle()
        faults.down.add("alpha")  # available at the cycle's start; its read then fails
        state = runtime.run_cycle()
        (moved,) = state.submitted
        assert runtime.store.get(moved).broker == "beta"


def test_each_broker_checks_its_own_latest_sent_orders(kernel_factory, monkeypatch):
    from tradekernel import execution

    routing = 'routes = [{symbols = ["BB?"], broker = "beta"}]\ndefault = "alpha"'
    hold = Decision.hold("wait")
    kernel, _, faults = build(
        kernel_factory, two(routing), [buys("BBB"), hold, buys("AAA"), hold, hold]
    )
    monkeypatch.setattr(execution, "RECENT_SENT", 1)  # the latest one sent, per broker
    with Runtime(kernel, clock=Clock()) as runtime:
        runtime.start()
        (sent,) = runtime.run_cycle().submitted
        for _ in range(4):
            runtime.run_cycle()
        assert not runtime.store.list_intents(state="submitted", open_orders=True)
        # beta's account was replaced: it knows none of its orders any more
        monkeypatch.setattr(faults.brokers["beta"].paper, "get_order", lambda cid: None)
        assert runtime.executor_for("beta").check_sent() == [sent]
