"""A runtime without the sizing step never sends an unsized intent (a direction or a
target weight from a strategist): it is dropped before the guards as ``intent_unsized``,
degraded or not, and nothing is journaled or ordered."""

from __future__ import annotations

import pytest
from tradekernel.models import Decision, Intent
from tradekernel.runtime import Runtime

from .conftest import Scripted


def unsized(**kwargs):
    def make(inputs):
        return Decision(
            intents=[
                Intent.create(
                    symbol="AAA", side="buy", strategist="scripted", as_of=inputs.as_of, **kwargs
                )
            ]
        )

    return make


@pytest.mark.parametrize("degraded", [False, True])
@pytest.mark.parametrize("kwargs", [{}, {"target_weight": "0.1"}, {"stop_price": "1"}])
def test_an_unsized_intent_is_dropped_never_sent(make_kernel, degraded, kwargs):
    scripted = Scripted()
    scripted.script = [unsized(**kwargs)]
    kernel, rec = make_kernel(strategist="scripted", plugins=((scripted, "s"),))
    with Runtime(kernel) as runtime:
        if degraded:
            runtime.control.enter_degrade(reason="test")
        state = runtime.run_cycle()
        assert scripted.calls == 1
        assert state.intents == [] and state.submitted == [] and state.pending == []
        assert runtime.store.list_intents() == []
    dropped = rec.of("strategist", "dropped_intent")
    assert [e.fields["reason"] for e in dropped] == ["intent_unsized"]
