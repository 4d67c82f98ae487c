"""Every guard of this distribution runs the guard contract of tradekernel.testing."""

from __future__ import annotations

from datetime import timedelta

from tradekernel.testing import NOW, GuardContract, guard_context, make_intent


class TestKillSwitch(GuardContract):
    component_name = "kill_switch"

    def allowed_case(self):
        return make_intent(), guard_context()

    def denied_case(self):
        return make_intent(), guard_context(kill_switch=True)


class TestAllowlist(GuardContract):
    component_name = "allowlist"
    config = 'symbols = ["AAA"]'

    def allowed_case(self):
        return make_intent("AAA"), guard_context()

    def denied_case(self):
        return make_intent("ZZZ"), guard_context()


class TestDenylist(GuardContract):
    component_name = "denylist"
    config = 'symbols = ["ZZZ"]'

    def allowed_case(self):
        return make_intent("AAA"), guard_context()

    def denied_case(self):
        return make_intent("ZZZ"), guard_context()


class TestMaxOrderNotional(GuardContract):
    component_name = "max_order_notional"
    config = "limit = 1000"

    def allowed_case(self):
        return make_intent(quantity=1), guard_context(last=100)

    def denied_case(self):
        return make_intent(quantity=100), guard_context(last=100)


class TestMaxPosition(GuardContract):
    component_name = "max_position"
    config = "max_quantity = 10"

    def allowed_case(self):
        return make_intent(quantity=5), guard_context(last=100)

    def denied_case(self):
        return make_intent(quantity=50), guard_context(last=100)


class TestMaxGrossExposure(GuardContract):
    component_name = "max_gross_exposure"
    config = "limit = 1000"

    def allowed_case(self):
        return make_intent(quantity=1), guard_context(last=100)

    def denied_case(self):
        return make_intent(quantity=100), guard_context(last=100)


class TestDailyLossLimit(GuardContract):
    component_name = "daily_loss_limit"
    config = "limit = 100"

    def allowed_case(self):
        return make_intent(), guard_context(last=100)

    def denied_case(self):
        return make_intent(), guard_context(last=100, realized_pnl_today=-500)


class TestMaxOrdersPerDay(GuardContract):
    component_name = "max_orders_per_day"
    config = "limit = 2"

    def allowed_case(self):
        return make_intent(), guard_context(orders_today=1)

    def denied_case(self):
        return make_intent(), guard_context(orders_today=2)


class TestOrderRate(GuardContract):
    component_name = "order_rate"
    config = 'max_orders = 2\nwindow = "1m"'

    def allowed_case(self):
        return make_intent(), guard_context(recent_order_times=[NOW - timedelta(seconds=5)])

    def denied_case(self):
        recent = [NOW - timedelta(seconds=5), NOW - timedelta(seconds=10)]
        return make_intent(), guard_context(recent_order_times=recent)


class TestSymbolCooldown(GuardContract):
    component_name = "symbol_cooldown"
    config = 'cooldown = "5m"'

    def allowed_case(self):
        return make_intent(), guard_context()

    def denied_case(self):
        return make_intent(), guard_context(last_trade_time={"AAA": NOW - timedelta(minutes=1)})


class TestSessionHours(GuardContract):
    component_name = "session_hours"

    def allowed_case(self):
        return make_intent(), guard_context()  # Monday 11:00 in New York

    def denied_case(self):
        return make_intent(), guard_context(as_of=NOW + timedelta(hours=10))
