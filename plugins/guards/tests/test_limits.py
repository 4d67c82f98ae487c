from __future__ import annotations

from decimal import Decimal as D

import pytest
from tradekernel_guards import (
    DailyLossLimitConfig,
    DailyLossLimitGuard,
    MaxGrossExposureConfig,
    MaxGrossExposureGuard,
    MaxOrderNotionalConfig,
    MaxOrderNotionalGuard,
    MaxPositionConfig,
    MaxPositionGuard,
)


def code(verdict):
    return verdict.code if not verdict.allow else "allow"


class TestMaxOrderNotional:
    guard = MaxOrderNotionalGuard(MaxOrderNotionalConfig(limit=D(1000)))

    def test_quantity_times_last(self, h):
        assert code(self.guard.check(h.intent(quantity=10), h.ctx(last=100))) == "allow"  # = limit
        verdict = self.guard.check(h.intent(quantity=10), h.ctx(last="100.01"))
        assert code(verdict) == "order_notional_exceeded"
        assert "1000.10 > limit 1000" in verdict.detail

    def test_notional_intent_needs_no_quote(self, h):
        assert code(self.guard.check(h.intent(notional=999), h.ctx())) == "allow"
        assert code(self.guard.check(h.intent(notional=1001), h.ctx())) == "order_notional_exceeded"

    def test_no_price(self, h):
        assert code(self.guard.check(h.intent(quantity=1), h.ctx())) == "no_price"
        # a quote for another symbol is no price for this one
        assert (
            code(self.guard.check(h.intent(quantity=1), h.ctx(last=1, symbol="BBB"))) == "no_price"
        )

    def test_limit_order_valued_at_limit_price(self, h):
        limit = h.intent(quantity=10, order_type="limit", limit_price=101)
        assert code(self.guard.check(limit, h.ctx(last=50))) == "order_notional_exceeded"
        assert code(self.guard.check(limit, h.ctx())) == "order_notional_exceeded"


class TestMaxPosition:
    def test_max_quantity_after_order(self, h):
        guard = MaxPositionGuard(MaxPositionConfig(max_quantity=D(100)))
        assert (
            code(guard.check(h.intent(quantity=60), h.ctx(positions={"AAA": (40, 10)}))) == "allow"
        )
        verdict = guard.check(h.intent(quantity=61), h.ctx(positions={"AAA": (40, 10)}))
        assert code(verdict) == "position_limit_exceeded"
        assert "101 > max_quantity 100" in verdict.detail
        # a sell that opens a short beyond the limit counts in absolute terms
        assert code(guard.check(h.intent(side="sell", quantity=101), h.ctx())) == (
            "position_limit_exceeded"
        )
        # a flip from long 50 to short 60 is not reducing and is within the limit
        assert (
            code(
                guard.check(h.intent(side="sell", quantity=110), h.ctx(positions={"AAA": (50, 1)}))
            )
            == "allow"
        )

    def test_reducing_orders_pass_even_above_the_limit(self, h):
        guard = MaxPositionGuard(MaxPositionConfig(max_quantity=D(10), max_notional=D(10)))
        over = h.ctx(positions={"AAA": (500, 10)}, last=10)
        assert code(guard.check(h.intent(side="sell", quantity=100), over)) == "allow"
        assert (
            code(guard.check(h.intent(side="buy", quantity=1), over)) == "position_limit_exceeded"
        )

    def test_max_notional(self, h):
        guard = MaxPositionGuard(MaxPositionConfig(max_notional=D(5000)))
        held = {"AAA": (40, 10)}
        assert code(guard.check(h.intent(quantity=10), h.ctx(last=100, positions=held))) == "allow"
        assert code(guard.check(h.intent(quantity=11), h.ctx(last=100, positions=held))) == (
            "position_limit_exceeded"
        )
        assert code(guard.check(h.intent(notional=1100), h.ctx(last=100, positions=held))) == (
            "position_limit_exceeded"
        )

    def test_no_price(self, h):
        guard = MaxPositionGuard(MaxPositionConfig(max_notional=D(5000)))
        assert code(guard.check(h.intent(quantity=1), h.ctx())) == "no_price"
        quantity_only = MaxPositionGuard(MaxPositionConfig(max_quantity=D(5)))
        assert code(quantity_only.check(h.intent(quantity=1), h.ctx())) == "allow"
        assert code(quantity_only.check(h.intent(notional=100), h.ctx())) == "no_price"

    def test_config_needs_a_limit(self, h):
        with pytest.raises(ValueError, match="max_quantity: set max_quantity, max_notional"):
            MaxPositionConfig()


class TestMaxGrossExposure:
    guard = MaxGrossExposureGuard(MaxGrossExposureConfig(limit=D(10000)))
    book = {"BBB": (-20, 100, 150), "CCC": (10, 200)}  # |-3000| + 2000 = 5000

    def test_sum_of_absolute_values_after_order(self, h):
        assert (
            code(self.guard.check(h.intent(quantity=50), h.ctx(last=100, positions=self.book)))
            == "allow"
        )
        verdict = self.guard.check(h.intent(quantity=51), h.ctx(last=100, positions=self.book))
        assert code(verdict) == "gross_exposure_exceeded"
        assert "10100 > limit 10000" in verdict.detail

    def test_existing_position_in_symbol_is_replaced_not_added(self, h):
        book = {**self.book, "AAA": (30, 50)}
        # AAA after = 80 x 60 = 4800 -> gross 9800
        assert (
            code(self.guard.check(h.intent(quantity=50), h.ctx(last=60, positions=book))) == "allow"
        )
        assert code(self.guard.check(h.intent(quantity=54), h.ctx(last=60, positions=book))) == (
            "gross_exposure_exceeded"
        )

    def test_reducing_passes_when_over(self, h):
        book = {"AAA": (1000, 100)}
        assert (
            code(
                self.guard.check(
                    h.intent(side="sell", quantity=10), h.ctx(last=100, positions=book)
                )
            )
            == "allow"
        )

    def test_notional_intent_without_price(self, h):
        assert (
            code(self.guard.check(h.intent(notional=5000), h.ctx(positions=self.book))) == "allow"
        )
        assert code(self.guard.check(h.intent(notional=5001), h.ctx(positions=self.book))) == (
            "gross_exposure_exceeded"
        )
        held = {"AAA": (1, 1)}
        assert code(self.guard.check(h.intent(notional=10), h.ctx(positions=held))) == "no_price"
        assert code(self.guard.check(h.intent(quantity=1), h.ctx())) == "no_price"


class TestDailyLossLimit:
    guard = DailyLossLimitGuard(DailyLossLimitConfig(limit=D(500)))

    def test_realized_plus_unrealized(self, h):
        def check(**kw):
            return self.guard.check(h.intent(), h.ctx(**kw))

        assert code(check(realized_pnl_today=D(-299), unrealized_pnl_today=-200)) == "allow"
        verdict = check(realized_pnl_today="-300", unrealized_pnl_today=D(-200))
        assert code(verdict) == "daily_loss_limit_reached"
        assert "loss today 500 >= limit 500" in verdict.detail
        # a runtime that passes the day's total P&L as realized_pnl_today
        assert code(check(realized_pnl_today=D("-500.00"))) == "daily_loss_limit_reached"
        assert code(check(unrealized_pnl_today=-500)) == "daily_loss_limit_reached"
        assert code(check(realized_pnl_today=-900, unrealized_pnl_today=600)) == "allow"

    def test_positions_unrealized_pnl_is_not_today_loss(self, h):
        # a position bought on an earlier day at 100 and now at 40 is no loss *today*
        book = {"AAA": (10, 100, 40)}
        assert code(self.guard.check(h.intent(), h.ctx(positions=book))) == "allow"

    def test_reducing_orders_pass_unless_configured(self, h):
        book = {"AAA": (10, 100, 40)}
        down = {"positions": book, "realized_pnl_today": -600}
        sell = h.intent(side="sell", quantity=10)
        assert code(self.guard.check(sell, h.ctx(**down))) == "allow"
        oversell = h.intent(side="sell", quantity=11)
        assert code(self.guard.check(oversell, h.ctx(**down))) == "daily_loss_limit_reached"
        assert code(self.guard.check(h.intent(), h.ctx(**down))) == "daily_loss_limit_reached"
        strict = DailyLossLimitGuard(DailyLossLimitConfig(limit=D(500), allow_reducing=False))
        assert code(strict.check(sell, h.ctx(**down))) == "daily_loss_limit_reached"
