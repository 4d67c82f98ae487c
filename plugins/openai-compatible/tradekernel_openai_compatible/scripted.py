"""A local OpenAI-compatible server with SCRIPTED answers, for the demo and for trying the
LLM strategist offline: no model, no network, no key.

It is :class:`~tradekernel_openai_compatible.testing.FakeChatServer` (real HTTP on
127.0.0.1) answering every ``chat/completions`` request from :data:`DEMO_SCRIPT` in
turn, round and round: trades and holds with token usage and a provider-reported cost,
and answers a model gets wrong (prose instead of JSON, an unknown decision) that the
strategist turns into a hold with a fallback reason. Every answer is labelled: the model
is ``scripted/demo`` and every reason and rationale starts with ``[scripted]``, so a
report built from it cannot be mistaken for a real model's work.

Run it (``scripts/demo`` does, in the background)::

    python -m tradekernel_openai_compatible.scripted --url-file /tmp/llm-url

It writes its base URL (``http://127.0.0.1:<port>/v1``) to ``--url-file`` (and stdout),
serves until SIGTERM or SIGINT, then exits 0.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from .testing import FakeChatServer, Reply, completion

MODEL = "scripted/demo"
"""The model name every scripted answer reports (shown in the report's ``models``)."""

CHARS_PER_TOKEN = 4


def _intent(symbol: str, side: str, quantity: int, rationale: str) -> dict[str, Any]:
    return {
        "symbol": symbol,
        "side": side,
        "quantity": quantity,
        "notional": None,
        "order_type": "market",
        "limit_price": None,
        "time_in_force": "day",
        "rationale": f"[scripted] {rationale}",
        "confidence": 0.6,
    }


def _decision(decision: str, reason: str, *intents: dict[str, Any]) -> str:
    return json.dumps(
        {"decision": decision, "reason": f"[scripted] {reason}", "intents": list(intents)}
    )


DEMO_SCRIPT: tuple[str, ...] = (
    _decision("trade", "AAA pulled back to support", _intent("AAA", "buy", 5, "buy the dip")),
    _decision("hold", "no clear edge this bar"),
    _decision("hold", "waiting for confirmation"),
    _decision("trade", "take profit on AAA", _intent("AAA", "sell", 5, "take profit")),
    "Sure! Based on the chart I would buy AAA now.",  # prose, not JSON: a fallback
    _decision("trade", "BBB breaks out", _intent("BBB", "buy", 3, "breakout")),
    _decision("hold", "spread too wide"),
    '{"decision": "yolo", "reason": "[scripted] not a decision", "intents": []}',  # schema
    _decision("trade", "BBB momentum faded", _intent("BBB", "sell", 3, "momentum faded")),
    _decision("hold", "nothing to do"),
)
"""The answers, in order (then again from the start): 4 trades, 4 holds, 2 bad answers."""

COST_PER_TOKEN_USD = 0.0000004
"""The cost the scripted provider reports (``usage.cost``), per token."""


def _prompt_tokens(body: Any) -> int:
    """About one token per four characters of the request's messages (what a model would
    bill), at least 1."""
    messages = body.get("messages") if isinstance(body, dict) else None
    if not isinstance(messages, list):
        return 1
    chars = sum(len(str(m.get("content") or "")) for m in messages if isinstance(m, dict))
    return chars // CHARS_PER_TOKEN + 1


class ScriptedChatServer(FakeChatServer):
    """A :class:`FakeChatServer` whose answers go round :data:`DEMO_SCRIPT` (or
    ``script``), each with usage sized from the request and a reported cost."""

    def __init__(self, script: tuple[str, ...] = DEMO_SCRIPT) -> None:
        super().__init__()
        self.answers = script
        self.served = 0

    def _next(self) -> Reply:
        with self._lock:
            if self.script:  # answers pushed by a test come first
                return self.script.popleft()
            body = self.requests[-1].body if self.requests else None
            content = self.answers[self.served % len(self.answers)]
            self.served += 1
        prompt = _prompt_tokens(body)
        answer = len(content) // CHARS_PER_TOKEN + 1
        usage = {
            "prompt_tokens": prompt,
            "completion_tokens": answer,
            "total_tokens": prompt + answer,
            "cost": round((prompt + answer) * COST_PER_TOKEN_USD, 8),
        }
        return Reply(body=completion(content, model=MODEL, usage=usage))

    @property
    def base_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}/v1"


def main(argv: list[str] | None = None) -> int:
    """Serve :data:`DEMO_SCRIPT` until SIGTERM or SIGINT (see the module docstring)."""
    parser = argparse.ArgumentParser(
        prog="python -m tradekernel_openai_compatible.scripted",
        description="A local OpenAI-compatible server with scripted answers (offline demo).",
    )
    parser.add_argument("--url-file", type=Path, help="write the base URL to this file")
    args = parser.parse_args(argv)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    server = ScriptedChatServer().start()
    try:
        if args.url_file is not None:
            tmp = args.url_file.with_name(args.url_file.name + ".tmp")
            tmp.write_text(server.base_url + "\n", encoding="utf-8")
            tmp.replace(args.url_file)  # a reader never sees half a URL
        print(f"scripted LLM server: {server.base_url} ({len(server.answers)} answers)")
        sys.stdout.flush()
        stop.wait()
    finally:
        server.stop()
        print(f"scripted LLM server: stopped after {server.served} answers")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
