"""The kernel's default skills run the skill contract of tradekernel.testing, over the
synthetic feed and the paper broker."""

from __future__ import annotations

from tradekernel.testing import SkillContract

FEED = '[market_data.synthetic]\nsymbols = ["AAA", "BBB"]\nbars = 50\n'
COMPONENTS = {"market_data": "synthetic", "broker": "paper"}


class TestMarketQuote(SkillContract):
    component_name = "market.quote"
    components = COMPONENTS
    extra_config = FEED


class TestMarketBars(SkillContract):
    component_name = "market.bars"
    components = COMPONENTS
    extra_config = FEED
    params = {"limit": 5}


class TestAccountPositions(SkillContract):
    component_name = "account.positions"
    components = COMPONENTS
    extra_config = FEED


class TestAccountOrders(SkillContract):
    component_name = "account.orders"
    components = COMPONENTS
    extra_config = FEED


class TestOrderStatus(SkillContract):
    component_name = "order.status"
    components = COMPONENTS
    extra_config = FEED
    params = {"client_order_ids": ["tk-none"]}
