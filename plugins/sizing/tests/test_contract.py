"""The three sizers and the kernel's ``fixed`` run the sizer contract of tradekernel.testing."""

from __future__ import annotations

from tradekernel.testing import SizerContract


class TestFixedFractionalContract(SizerContract):
    component_name = "fixed_fractional"
    config = "risk = 0.01\nstop_distance = 0.02"


class TestVolatilityTargetAtrContract(SizerContract):
    component_name = "volatility_target"
    config = 'method = "atr"\nlookback = 14'


class TestVolatilityTargetStdevContract(SizerContract):
    component_name = "volatility_target"
    config = 'method = "stdev"\nlookback = 20'


class TestKellyContract(SizerContract):
    component_name = "kelly"
    config = "payoff = 1.5\nfraction = 0.5\ncap = 0.2"


class TestFixedContract(SizerContract):
    component_name = "fixed"
    config = "notional = 1000"
