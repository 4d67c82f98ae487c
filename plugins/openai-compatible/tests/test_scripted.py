"""The scripted server the demo runs: real HTTP, answers round the script with usage and a
reported cost, labelled as scripted; the module entry serves until SIGTERM and exits 0."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import httpx
from tradekernel_openai_compatible.scripted import DEMO_SCRIPT, MODEL, ScriptedChatServer


def ask(base_url: str, text: str = "x" * 400) -> dict:
    body = {"model": "m", "messages": [{"role": "user", "content": text}]}
    return httpx.post(f"{base_url}/chat/completions", json=body, timeout=5).json()


def test_answers_go_round_the_script_with_usage_and_cost():
    with ScriptedChatServer() as server:
        answers = [ask(server.base_url) for _ in range(len(DEMO_SCRIPT) + 2)]
    contents = [a["choices"][0]["message"]["content"] for a in answers]
    assert contents == [*DEMO_SCRIPT, *DEMO_SCRIPT[:2]]
    assert {a["model"] for a in answers} == {MODEL} and MODEL.startswith("scripted/")
    usage = answers[0]["usage"]
    assert usage["prompt_tokens"] == 101  # 400 characters, about 4 per token
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    assert usage["cost"] > 0
    decisions = [json.loads(c) for c in DEMO_SCRIPT if c.startswith("{")]
    assert {d["decision"] for d in decisions} >= {"trade", "hold"}
    assert all(d["reason"].startswith("[scripted]") for d in decisions)
    bad = [c for c in DEMO_SCRIPT if not c.startswith("{") or '"yolo"' in c]
    assert len(bad) == 2  # prose and an unknown decision: the strategist falls back


def test_the_entry_serves_until_sigterm(tmp_path):
    url_file = tmp_path / "url"
    proc = subprocess.Popen(
        [sys.executable, "-m", "tradekernel_openai_compatible.scripted", "--url-file", url_file],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 20
        while not url_file.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        base_url = url_file.read_text().strip()
        assert base_url.startswith("http://127.0.0.1:") and base_url.endswith("/v1")
        assert ask(base_url)["choices"][0]["message"]["content"] == DEMO_SCRIPT[0]
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=20)
    assert proc.returncode == 0
    assert "stopped after 1 answers" in out
