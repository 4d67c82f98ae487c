"""The contract classes of tradekernel.testing fail on broken components, and pass on
sound ones: each check is real. Also tradekernel.testing.invoke."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import attrs
import pytest
from tradekernel import hookimpl
from tradekernel.components import DeliveryResult
from tradekernel.models import Bar, Decision, GuardVerdict, Intent, Quote
from tradekernel.testing import (
    NOW,
    GuardContract,
    KernelFactory,
    MarketDataContract,
    MetricsSinkContract,
    NotifierContract,
    ScannerContract,
    SkillContract,
    StrategistContract,
    config_text,
    guard_context,
    invoke,
    make_intent,
)


class _Guard(GuardContract):
    def allowed_case(self):
        return make_intent("AAA"), guard_context()

    def denied_case(self):
        return make_intent("ZZZ"), guard_context()


class GoodGuard:
    codes = ("listed",)

    def check(self, intent: Intent, ctx: Any) -> GuardVerdict:
        if intent.symbol == "ZZZ":
            return GuardVerdict.denied("g", "listed", "ZZZ is listed")
        return GuardVerdict.allowed("g")


class FreeTextGuard(GoodGuard):
    def check(self, intent: Intent, ctx: Any) -> GuardVerdict:
        if intent.symbol == "ZZZ":
            return GuardVerdict.denied("g", f"{intent.symbol} is listed")
        return GuardVerdict.allowed("g")


class FragileGuard(GoodGuard):
    def check(self, intent: Intent, ctx: Any) -> GuardVerdict:
        if intent.quantity is None or ctx.as_of is None:
            raise KeyError("quantity")
        return super().check(intent, ctx)


class UndeclaredCodeGuard(GoodGuard):
    codes = ("something_else",)


def test_guard_contract_passes_a_sound_guard():
    case = _Guard()
    case.test_allows(GoodGuard())
    case.test_denies_with_a_stable_code(GoodGuard())
    case.test_never_raises_on_hostile_input(GoodGuard())


@pytest.mark.parametrize(
    ("guard", "test"),
    [
        (FreeTextGuard(), "test_denies_with_a_stable_code"),
        (UndeclaredCodeGuard(), "test_denies_with_a_stable_code"),
        (FragileGuard(), "test_never_raises_on_hostile_input"),
    ],
)
def test_guard_contract_fails_a_broken_guard(guard, test):
    with pytest.raises((AssertionError, KeyError)):
        getattr(_Guard(), test)(guard)


class LeakyNotifier:
    def send(self, notification: Any) -> DeliveryResult:
        return DeliveryResult(ok=False, status="failed", error="POST https://h/s3cr3t-token: 500")


class SilentFailNotifier:
    def send(self, notification: Any) -> DeliveryResult:
        return DeliveryResult(ok=False, status="failed")


class _Notifier(NotifierContract):
    environ = {"HOOK_URL": "https://h/s3cr3t-token"}


def test_notifier_contract_fails_a_leaky_or_silent_notifier():
    with pytest.raises(AssertionError, match="secret"):
        _Notifier().test_never_leaks_a_secret(LeakyNotifier())
    with pytest.raises(AssertionError, match="say why"):
        _Notifier().test_send_returns_a_delivery_result(SilentFailNotifier())


class FragileSink:
    def __init__(self) -> None:
        self.file: list[str] | None = []

    def write(self, event: Any) -> None:
        self.file.append(f"{event.fields['intent_id']}")  # not every event has one

    def close(self) -> None:
        self.file.clear()
        self.file = None


def test_metrics_sink_contract_fails_a_fragile_sink():
    with pytest.raises((KeyError, AttributeError)):
        MetricsSinkContract().test_accepts_every_event_kind(FragileSink())
    with pytest.raises((KeyError, AttributeError)):
        MetricsSinkContract().test_survives_close_twice(FragileSink())


class EagerStrategist:
    """Buys what it likes, candidate or not."""

    def decide(self, inputs: Any) -> Decision:
        if not inputs.candidates:
            return Decision.hold("no_candidates")
        return Decision(intents=(make_intent("ZZZ"),))


class TrustingStrategist:
    """Reads the quote of its first candidate without looking."""

    def decide(self, inputs: Any) -> Decision:
        price = inputs.quotes[inputs.candidates[0]].last
        return Decision.hold("watching", detail=str(price))


def test_strategist_contract_fails_an_eager_or_trusting_strategist():
    with pytest.raises(AssertionError, match="non-candidates"):
        StrategistContract().test_bad_input_is_a_hold(EagerStrategist())
    with pytest.raises((IndexError, KeyError)):
        StrategistContract().test_bad_input_is_a_hold(TrustingStrategist())


class BadFeed:
    """A feed whose bars come out newest first, one with its high below its low."""

    def symbols(self):
        return ["AAA"]

    def now(self):
        return NOW

    def advance(self):
        return NOW

    def quote(self, symbol):
        return Quote(symbol=symbol, ts=NOW, last=10) if symbol == "AAA" else None

    def bars(self, symbol, limit):
        if symbol != "AAA":
            return []
        bar = Bar(symbol=symbol, ts=NOW, open=10, high=9, low=11, close=10)
        return [bar]

    def current_bar(self, symbol):
        return None


def test_market_data_contract_fails_an_unscreened_feed():
    with pytest.raises(AssertionError, match="AAA"):
        MarketDataContract().test_quotes_and_bars_are_screened(BadFeed())  # clean source


class BrokenSkills:
    @hookimpl
    def register_skills(self, register):
        register("x.fails", lambda config, ctx: _RaisingSkill())
        register("x.opaque", lambda config, ctx: _OpaqueSkill())


class _RaisingSkill:
    def fetch(self, request: Any) -> Any:
        raise RuntimeError("upstream down")


class _OpaqueSkill:
    def fetch(self, request: Any) -> Any:
        return {"AAA": Decimal("NaN"), "when": object()}


@pytest.mark.parametrize("name", ["x.fails"])
def test_skill_contract_fails_a_raising_skill(tmp_path, name):
    class Case(SkillContract):
        component_name = name

    case = Case()
    with KernelFactory(tmp_path) as factory:
        kernel, _ = factory.build(case.plugins_toml(), plugins=[(BrokenSkills(), "broken")])
        with pytest.raises(AssertionError, match="fell back"):
            case.test_answers_its_request(kernel)


def test_invoke_gives_the_console_exit_code_and_separate_streams(tmp_path):
    result = invoke(["no-such-command"])
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.startswith("Error: No such command")
    assert "\n" not in result.stderr.strip()
    version = invoke(["--version"])
    assert (version.exit_code, version.stderr) == (0, "")
    assert "tradekernel" in version.stdout


def test_invoke_env_and_input(tmp_path):
    config = tmp_path / "plugins.toml"
    config.write_text(f'[kernel]\nstate_dir = "{tmp_path / "s"}"\n', encoding="utf-8")
    result = invoke(
        ["config", "check"], env={"TRADEKERNEL_CONFIG": str(config), "TRADEKERNEL_X": None}
    )
    assert result.exit_code == 0, result.stderr
    bad = invoke(["config", "check"], env={"TRADEKERNEL_KERNEL__MODE": "sideways"}, input="")
    assert bad.exit_code == 2
    assert bad.stderr.startswith("Error: ")


def test_config_text_with_a_state_dir_runs_under_invoke(tmp_path):
    state = tmp_path / "state dir"
    config = tmp_path / "plugins.toml"
    config.write_text(config_text({"guards": ["kill_switch"]}, state_dir=state), "utf-8")
    result = invoke(["--config", str(config), "config", "show", "--json"])
    assert result.exit_code == 0, result.stderr
    assert str(state) in result.stdout and "{state_dir}" not in result.stdout


def test_write_config_fills_the_state_dir_placeholder(tmp_path):
    with KernelFactory(tmp_path) as factory:
        path = factory.write_config(config_text({"guards": ["kill_switch"]}))
        assert "{state_dir}" not in path.read_text("utf-8")
        result = invoke(["--config", str(path), "config", "check"])
        assert result.exit_code == 0, result.stderr
        kernel, _ = factory.build(config_text())
        assert kernel.settings.state_dir == tmp_path / "state"
        assert str(tmp_path / "state") in path.read_text("utf-8")


class ReasonedFailNotifier:
    def send(self, notification: Any) -> DeliveryResult:
        return DeliveryResult(ok=False, status="failed", attempts=0, error="disk full")


class Outbox:
    """A notifier that writes files: a closed port cannot make it fail, a bad folder can."""

    @hookimpl
    def register_notifiers(self, register):
        register("outbox", self.create, config=OutboxConfig)

    @staticmethod
    def create(config, ctx):
        return OutboxNotifier(config.folder)


@attrs.define
class OutboxConfig:
    folder: str = "outbox"


class OutboxNotifier:
    def __init__(self, folder: str) -> None:
        self.folder = folder

    def send(self, notification: Any) -> DeliveryResult:
        try:
            with open(f"{self.folder}/{len(notification.body)}.txt", "w") as handle:
                handle.write(notification.body)
        except OSError as exc:
            return DeliveryResult(ok=False, status="failed", error=type(exc).__name__)
        return DeliveryResult(ok=True, status="sent")


def test_notifier_contract_checks_the_failing_notifier(tmp_path):
    class Given(NotifierContract):
        def failing_notifier(self, factory):
            return ReasonedFailNotifier()

    class Silent(NotifierContract):
        def failing_notifier(self, factory):
            return SilentFailNotifier()

    class Delivers(NotifierContract):
        def failing_notifier(self, factory):
            return OutboxNotifier(str(tmp_path))

    Given().test_a_failed_delivery_says_why(tmp_path / "a")
    with pytest.raises(AssertionError, match="say why"):
        Silent().test_a_failed_delivery_says_why(tmp_path / "b")
    with pytest.raises(AssertionError, match="set up to fail"):
        Delivers().test_a_failed_delivery_says_why(tmp_path / "c")
    with pytest.raises(pytest.skip.Exception, match="no failing_notifier"):
        NotifierContract().test_a_failed_delivery_says_why(tmp_path / "d")


def test_failing_notifier_built_from_another_config(tmp_path):
    class Case(NotifierContract):
        component_name = "outbox"

        def make_component(self, factory):
            kernel, _ = factory.build(self.plugins_toml(), plugins=[(Outbox(), "outbox")])
            return kernel.component("notifier", "outbox")

        def failing_notifier(self, factory):
            text = self.plugins_toml(f'folder = "{tmp_path / "no" / "such"}"')
            kernel, _ = factory.build(text, plugins=[(Outbox(), "outbox")], state="failing")
            return kernel.component("notifier", "outbox")

    (tmp_path / "a").mkdir()
    Case().test_a_failed_delivery_says_why(tmp_path / "a")


class WanderingScanner:
    """Adds a favourite symbol, and repeats the first."""

    def scan(self, skill_results: Any, watchlist: Any) -> list[str]:
        return [*watchlist[:1], *watchlist[:1], "ZZZ"]


class CredulousScanner:
    """Reads quote data as a mapping without looking."""

    def scan(self, skill_results: Any, watchlist: Any) -> list[str]:
        quotes = skill_results["market.quote"].data
        return [s for s in watchlist if quotes[s].last > 0]


def test_scanner_contract_fails_a_wandering_or_credulous_scanner():
    with pytest.raises(AssertionError, match="not on the watchlist"):
        ScannerContract().test_candidates_come_from_the_watchlist(WanderingScanner())
    with pytest.raises((KeyError, TypeError, AttributeError)):
        ScannerContract().test_bad_input_never_raises(CredulousScanner())
