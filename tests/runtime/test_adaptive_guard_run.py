"""The adaptive guard sees the cycle's hydrated bars and the account in a real cycle."""

from __future__ import annotations

from decimal import Decimal

from tradekernel.models import Decision
from tradekernel.runtime import Runtime

from .conftest import Scripted, buy

ADAPTIVE = """
[guard.adaptive_notional]
ceiling = 100000
vol_reference = 0.000001
vol_lookback = 10
floor_ratio = 0.01
"""


def test_limit_tightened_by_the_hydrated_bars_is_in_the_verdict_and_an_event(make_kernel):
    scripted = Scripted()
    scripted.script = [Decision.hold("warming up")] * 12 + [buy("AAA", 5)]
    kernel, rec = make_kernel(
        strategist="scripted",
        guards='["adaptive_notional"]',
        extra=ADAPTIVE,
        plugins=((scripted, "s"),),
    )
    with Runtime(kernel) as runtime:
        for _ in range(13):  # the synthetic feed's clock starts at its first bar
            state = runtime.run_cycle()
        (intent_id,) = state.proposed
        verdicts = runtime.store.get(intent_id).verdicts
    (verdict,) = [v for v in verdicts if v.guard == "adaptive_notional"]
    (event,) = rec.of("guard", "adaptive_limit")
    assert event.fields["bars"] == 11 and event.fields["volatility"] > 0.000001
    assert Decimal(event.fields["limit"]) < Decimal(100000)
    assert event.fields["equity"] == "100000"  # the paper account's
    assert f"limit {event.fields['limit']} of ceiling 100000" in verdict.detail
