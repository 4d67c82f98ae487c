"""The rule strategist runs the strategist contract of tradekernel.testing."""

from __future__ import annotations

from tradekernel.testing import StrategistContract


class TestSmaCrossContract(StrategistContract):
    component_name = "sma-cross"
    config = "fast = 5\nslow = 20\nquantity = 10"
