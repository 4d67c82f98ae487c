"""The per-strategy sub-ledger against a real paper account: two strategies (two
instances of sma-cross) trading the same symbols for a long run, their books adding
up to the account to the cent; FIFO per strategy; netted orders split by share."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

import attrs
from hypothesis import given
from hypothesis import strategies as st
from tradekernel.execution import Executor
from tradekernel.models import Bar, Fill, Intent, Quote, Side
from tradekernel.portfolio.ledger import (
    UNATTRIBUTED,
    StoreLedger,
    StrategyLedger,
    split,
    strategy_shares,
)
from tradekernel.portfolio.shares import Share, split_fill
from tradekernel.store import IntentState, Store
from tradekernel_paper import PaperBroker, PaperConfig

T0 = datetime(2026, 1, 5, 14, 30, tzinfo=UTC)
CONFIG = """
[components]
strategist = "fast"
[strategist.fast]
use = "sma-cross"
[strategist.slow]
use = "sma-cross"
"""


class Feed:
    """Daily bars from a seeded random walk per symbol."""

    def __init__(self, symbols: list[str], days: int, seed: int) -> None:
        rng = random.Random(seed)
        self.closes: dict[str, list[D]] = {}
        for symbol in symbols:
            price, closes = D(100), []
            for _ in range(days):
                price = max(D(5), price + D(rng.randint(-300, 300)) / 100)
                closes.append(price)
            self.closes[symbol] = closes
        self.index = -1

    def now(self) -> datetime | None:
        return T0 + timedelta(days=self.index) if self.index >= 0 else None

    def advance(self) -> datetime | None:
        self.index += 1
        return self.now()

    def _bar(self, symbol: str, i: int) -> Bar:
        c = self.closes[symbol][i]
        ts = T0 + timedelta(days=i)
        return Bar(symbol=symbol, ts=ts, open=c, high=c, low=c, close=c, volume=1_000_000)

    def bars(self, symbol: str, limit: int) -> list[Bar]:
        out = [self._bar(symbol, i) for i in range(self.index + 1)]
        return out[-limit:] if limit > 0 else []

    def current_bar(self, symbol: str) -> Bar | None:
        return self._bar(symbol, self.index) if self.index >= 0 else None

    def quote(self, symbol: str) -> Quote | None:
        bars = self.bars(symbol, 1)
        return Quote(symbol=symbol, ts=bars[-1].ts, last=bars[-1].close) if bars else None

    def symbols(self) -> list[str]:
        return list(self.closes)


def _run(kernel_factory, days: int = 120, seed: int = 7):
    kernel, _ = kernel_factory.build(CONFIG)
    assert kernel.spec("strategist", "slow").name == "slow"
    symbols = ["AAA", "BBB"]
    feed = Feed(symbols, days + 1, seed)
    state = kernel.settings.state_dir
    config = PaperConfig(commission=D("0.0013"), allow_short=True)
    broker = PaperBroker(config, lambda: feed, state / "paper.db")
    store = Store.open(state)
    executor = Executor(store, broker, broker_name="paper", settings=kernel.settings)
    rng = random.Random(seed)
    feed.advance()
    for day in range(days):
        as_of = feed.now()
        for strategy in ("fast", "slow"):
            for symbol in symbols:
                if rng.random() < 0.5:
                    continue
                side = rng.choice([Side.BUY, Side.SELL])
                qty = D(rng.randint(1, 40))
                intent = Intent.create(
                    symbol=symbol, side=side, quantity=qty, strategist=strategy, as_of=as_of
                )
                store.add_intent(intent, cycle_id=f"c{day}", broker="paper")
                store.transition(intent.id, IntentState.PENDING_APPROVAL, actor="guards")
                store.transition(intent.id, IntentState.APPROVED, actor="test")
                executor.execute(intent.id)
        feed.advance()
        for fill in broker.fills():
            store.record_fill(fill)
    return kernel, feed, broker, store


def test_strategies_add_up_to_the_account_to_the_cent(kernel_factory):
    _kernel, feed, broker, store = _run(kernel_factory)
    ledger = StrategyLedger.from_store(store)
    assert set(ledger.books) == {"fast", "slow"}
    assert all(book.fills > 20 for book in ledger.books.values())
    positions = {p.symbol: p.quantity for p in broker.positions()}
    assert ledger.positions() == {s: q for s, q in positions.items() if q}
    prices = {s: feed.closes[s][feed.index] for s in feed.symbols()}
    account = broker.account()
    total = sum(ledger.pnl(prices).values(), D(0))
    cent = D("0.01")
    assert total.quantize(cent) == (account.equity - config_cash()).quantize(cent)
    assert total == account.equity - config_cash()  # exactly, in fact
    commissions = sum((b.commissions for b in ledger.books.values()), D(0))
    assert commissions == sum((f.commission for f in broker.fills()), D(0))
    report = ledger.report(prices)
    assert D(report["portfolio"]["pnl"]) == total
    assert [s["strategy"] for s in report["strategies"]] == ["fast", "slow"]


def config_cash() -> D:
    return PaperConfig().cash


def _fill(n: int, side: str, qty: str, price: str, cid: str = "c", fee: str = "0") -> Fill:
    ts = T0 + timedelta(minutes=n)
    return Fill(f"f{n}", cid, "AAA", side, D(qty), D(price), ts=ts, commission=D(fee))


def test_fifo_within_a_strategy_leaves_the_other_strategy_alone():
    ledger = StrategyLedger()
    ledger.apply(_fill(1, "buy", "10", "100"), {"fast": D(1)})
    ledger.apply(_fill(2, "buy", "10", "110"), {"fast": D(1)})
    ledger.apply(_fill(3, "buy", "5", "90"), {"slow": D(1)})
    ledger.apply(_fill(4, "sell", "15", "120"), {"fast": D(1)})
    fast, slow = ledger.books["fast"], ledger.books["slow"]
    # the oldest lot (10 @ 100) closes first, then 5 of the 110 lot
    assert fast.realized == 10 * D(20) + 5 * D(10)
    assert fast.position("AAA") == 5 and fast.cost("AAA") == 5 * D(110)
    assert slow.realized == 0 and slow.position("AAA") == 5
    ledger.apply(_fill(5, "sell", "10", "100"), {"fast": D(1)})  # closes 5, opens a short 5
    assert fast.position("AAA") == -5 and fast.realized == 250 + 5 * D(-10)
    ledger.apply(_fill(6, "buy", "5", "90"), {"fast": D(1)})  # covers the short at a gain
    assert fast.position("AAA") == 0 and fast.realized == 200 + 5 * D(10)
    assert "AAA" not in fast.lots


def test_a_netted_fill_is_split_by_share_exactly():
    third = D(1) / 3
    shares = {"a": third, "b": third, "c": D(1) - 2 * third}
    parts = split(D("7"), shares)
    assert sum(parts.values(), D(0)) == D(7)
    ledger = StrategyLedger()
    ledger.apply(_fill(1, "buy", "7", "101.37", fee="0.91"), shares)
    assert sum(b.position("AAA") for b in ledger.books.values()) == 7
    assert sum((b.commissions for b in ledger.books.values()), D(0)) == D("0.91")
    total = sum(ledger.pnl({"AAA": D("105")}).values(), D(0))
    assert total.quantize(D("0.01")) == (7 * (D(105) - D("101.37")) - D("0.91")).quantize(D("0.01"))


def test_a_fill_without_an_intent_is_unattributed(kernel_factory):
    kernel, _ = kernel_factory.build(CONFIG)
    store = Store.open(kernel.settings.state_dir)
    intent = Intent.create(symbol="AAA", side="buy", quantity=D(1), strategist="fast")
    store.add_intent(intent, cycle_id="c", broker="paper")
    assert strategy_shares(store, intent.client_order_id) == {"fast": D(1)}
    assert strategy_shares(store, "elsewhere") == {UNATTRIBUTED: D(1)}
    store.record_fill(_fill(1, "buy", "1", "10", cid=intent.client_order_id))
    store.record_fill(_fill(2, "buy", "2", "10", cid="elsewhere"))
    ledger = StrategyLedger.from_store(store)
    assert {n: b.position("AAA") for n, b in ledger.books.items()} == {
        "fast": 1,
        UNATTRIBUTED: 2,
    }


def test_the_store_ledger_books_only_new_fills(kernel_factory):
    kernel, _ = kernel_factory.build(CONFIG)
    store = Store.open(kernel.settings.state_dir)
    booked: list[str] = []
    cached = StoreLedger(store, on_fill=lambda fill, parts: booked.append(fill.fill_id))
    first = cached.current()
    assert cached.current() is first and first.books == {}
    intent = Intent.create(symbol="AAA", side="buy", quantity=D(5), strategist="slow")
    store.add_intent(intent, cycle_id="c", broker="paper")
    store.record_fill(_fill(2, "buy", "3", "10", cid=intent.client_order_id))
    assert cached.current().books["slow"].position("AAA") == 3
    assert booked == ["f2"] and cached.current() is first  # booked in place, once
    # a fill recorded late with an earlier time: the ledger is booked again in time order
    early = _fill(1, "buy", "2", "8", cid=intent.client_order_id)
    store.record_fill(attrs.evolve(early, ts=early.ts - timedelta(days=1)))
    again = cached.current()
    assert booked == ["f2", "f1", "f2"]
    assert again.books["slow"].position("AAA") == 5
    assert again.books["slow"].cost("AAA") == StrategyLedger.from_store(store).books["slow"].cost(
        "AAA"
    )
    # a fill that disappeared: booked again too
    store.conn.execute("DELETE FROM fills WHERE fill_id = 'f1'")
    assert cached.current().books["slow"].position("AAA") == 3


def test_bad_shares_never_lose_a_fill():
    ledger = StrategyLedger()
    ledger.apply(_fill(1, "buy", "3", "10"), {})
    ledger.apply(_fill(2, "buy", "1", "10"), {"a": D("NaN")})
    ledger.apply(_fill(3, "buy", "2", "10"), {"a": D(-1)})  # adds up to less than zero
    ledger.apply(_fill(4, "buy", "4", "10"), {"a": D(1), "b": D(3)})  # normalised
    assert ledger.books[UNATTRIBUTED].position("AAA") == 6
    assert ledger.books["a"].position("AAA") == 1 and ledger.books["b"].position("AAA") == 3
    assert ledger.positions() == {"AAA": 10}


def test_a_crossed_share_is_booked_on_the_other_side():
    """A netted buy of 2 for ``b`` +4 and ``a`` -2: ``a`` sold 2 inside the account."""
    ledger = StrategyLedger()
    ledger.apply(_fill(1, "buy", "2", "10", fee="0.6"), {"a": D(-1), "b": D(2)})
    assert ledger.books["a"].position("AAA") == -2 and ledger.books["b"].position("AAA") == 4
    assert ledger.books["a"].commissions == D("0.2") and ledger.books["b"].commissions == D("0.4")
    assert ledger.positions() == {"AAA": 2}


def test_a_netted_order_is_attributed_by_the_recorded_shares(kernel_factory):
    kernel, _ = kernel_factory.build(CONFIG)
    store = Store.open(kernel.settings.state_dir)
    fast = Intent.create(symbol="AAA", side="buy", quantity=D(10), strategist="fast")
    slow = Intent.create(symbol="AAA", side="sell", quantity=D(4), strategist="slow")
    net = Intent.create(symbol="AAA", side="buy", quantity=D(6), strategist="fast+slow")
    store.add_intent(net, cycle_id="c", broker="paper")
    shares = [Share("fast", fast.id, D(10)), Share("slow", slow.id, D(-4))]
    store.record_conflict("cfl_1", cycle_id="c", payload={}, shares=shares, netted_id=net.id)
    assert strategy_shares(store, net.client_order_id) == {"fast": D(10), "slow": D(-4)}
    store.record_fill(_fill(1, "buy", "6", "10", cid=net.client_order_id, fee="1.4"))
    ledger = StrategyLedger.from_store(store)
    held = {n: b.position("AAA") for n, b in ledger.books.items()}
    assert held == {"fast": 10, "slow": -4} == store.strategy_fills(net.id)
    fees = {n: b.commissions for n, b in ledger.books.items()}
    assert sum(fees.values(), D(0)) == D("1.4")  # by traded quantity, 10 : 4
    assert {n: f.quantize(D("0.01")) for n, f in fees.items()} == {"fast": 1, "slow": D("0.4")}


@given(
    st.lists(
        st.tuples(
            st.sampled_from(["buy", "sell"]),
            st.integers(1, 500),
            st.integers(100, 100000),
            st.dictionaries(st.sampled_from("abc"), st.integers(1, 9), min_size=1),
        ),
        max_size=40,
    ),
    st.integers(100, 100000),
)
def test_any_fills_and_shares_add_up_to_the_account(trades, mark_cents):
    """The account's P&L from its cash flows equals the sum of the strategies' P&L."""
    ledger, cash, held, fees = StrategyLedger(), D(0), D(0), D(0)
    for n, (side, qty, cents, weights) in enumerate(trades):
        price, fee = D(cents) / 100, D(qty) / 1000
        total = sum(weights.values())
        shares = {k: D(v) / total for k, v in weights.items()}
        ledger.apply(_fill(n, side, str(qty), str(price), fee=str(fee)), shares)
        sign = 1 if side == "buy" else -1
        cash -= sign * qty * price
        held += sign * qty
        fees += fee
    mark = D(mark_cents) / 100
    account = cash + held * mark - fees
    total = sum(ledger.pnl({"AAA": mark}).values(), D(0))
    assert ledger.positions().get("AAA", D(0)) == held
    assert abs(total - account) < D("0.000001")
    assert total.quantize(D("0.01")) == account.quantize(D("0.01"))


def test_partial_fills_of_a_net_give_clean_parts_and_exact_totals(kernel_factory):
    """Six fills of 1 for a net buy of 6 (``fast`` +10, ``slow`` -4): every part is a
    whole unit (no ``-0.666666666666`` residues), and once filled each strategy holds
    exactly its amount; the store's split agrees."""
    kernel, _ = kernel_factory.build(CONFIG)
    store = Store.open(kernel.settings.state_dir)
    fast = Intent.create(symbol="AAA", side="sell", quantity=D(10), strategist="fast")
    slow = Intent.create(symbol="AAA", side="buy", quantity=D(4), strategist="slow")
    net = Intent.create(symbol="AAA", side="sell", quantity=D(6), strategist="fast+slow")
    store.add_intent(net, cycle_id="c", broker="paper")
    shares = [Share("fast", fast.id, D(-10)), Share("slow", slow.id, D(4))]
    store.record_conflict("cfl_1", cycle_id="c", payload={}, shares=shares, netted_id=net.id)
    parts = []
    ledger = StrategyLedger()
    for n in range(6):
        fill = _fill(n + 1, "sell", "1", "10", cid=net.client_order_id, fee="0.07")
        store.record_fill(fill)
        parts.append(ledger.apply(fill, strategy_shares(store, net.client_order_id)))
        held = {name: book.position("AAA") for name, book in ledger.books.items()}
        assert all(q == q.to_integral_value() for q in held.values()), held
        assert sum(held.values()) == -(n + 1)
        fees = [p.commission for p in parts[-1].values()]
        assert sum(fees, D(0)) == D("0.07") and all(f == f.quantize(D("0.01")) for f in fees)
    assert held == {"fast": -10, "slow": 4} == store.strategy_fills(net.id)
    assert str(held["fast"]) == "-10" and str(held["slow"]) == "4"
    assert StrategyLedger.from_store(store).positions() == {"AAA": -6}


@given(
    st.lists(st.integers(-(10**6), 10**6).filter(bool), min_size=2, max_size=5),
    st.lists(st.integers(1, 10**4), min_size=1, max_size=6),
    st.integers(0, 4),
)
def test_largest_remainder_parts_are_clean_and_sum_exactly(amounts, fills, at):
    """Whatever the shares and the fills (``at`` decimal places), each part is a multiple
    of the quantities' unit, a fill's parts add up to it exactly, and the parts so far are
    within one unit of each strategy's exact proportion."""
    shares = [Share(f"s{i}", f"i{i}", D(a)) for i, a in enumerate(amounts)]
    net = sum((s.amount for s in shares), D(0))
    if net == 0:
        return
    unit = D(1).scaleb(-at)
    filled = D(0)
    total: dict[str, D] = {}
    for units in fills:
        quantity = D(units) * unit
        parts = split_fill(quantity, shares, filled)
        filled += quantity
        assert sum(parts.values(), D(0)) == (quantity if net > 0 else -quantity)
        for name, part in parts.items():
            assert part == part.quantize(unit) and "E" not in format(part, "f")
            total[name] = total.get(name, D(0)) + part
        for s in shares:
            exact = s.amount * filled / abs(net)
            assert abs(total[s.strategist] - exact) < unit
