"""The llm strategist runs the strategist contract of tradekernel.testing, with an
in-process provider that always answers a buy of every candidate: even then, a bad
input (no candidates, failed skills, no quotes) must be a hold, never an order.
(test_contract.py holds this plugin's own decide() contract with stub providers.)"""

from __future__ import annotations

import json
from typing import Any

from tradekernel import hookimpl
from tradekernel.api import ChatResponse
from tradekernel.testing import StrategistContract


class EagerProvider:
    """Answers every request with a buy of each symbol named in the prompt's candidates."""

    def chat(self, request: Any) -> ChatResponse:
        text = " ".join(str(m.content) for m in request.messages)
        symbols = [s for s in ("AAA", "BBB") if s in text] or ["AAA"]
        intents = [{"symbol": s, "side": "buy", "quantity": 1} for s in symbols]
        answer = {"decision": "trade", "reason": "always", "intents": intents}
        return ChatResponse(model="eager", content=json.dumps(answer), finish_reason="stop")


class EagerProviderPlugin:
    @hookimpl
    def register_llm_providers(self, register):
        register("contract-eager", lambda config, ctx: EagerProvider())


class TestLLMStrategistContract(StrategistContract):
    component_name = "llm"
    components = {"llm_provider": "contract-eager"}

    def make_component(self, factory):
        kernel, _recorder = factory.build(
            self.plugins_toml(), plugins=[(EagerProviderPlugin(), "contract-eager")]
        )
        return kernel.component(self.kind, self.component_name)
