"""The demo's LLM part end to end: the scripted server started as scripts/demo starts it,
then ``tradekernel run`` with the shipped plugins.toml and the demo's environment switching
to the llm strategist. The recorded strategist_llm events carry tokens and costs, some
decisions trade, and the bad scripted answers became holds with a fallback reason."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
CYCLES = 12
TK = (sys.executable, "-m", "tradekernel")


def test_the_demo_llm_run_records_decisions_tokens_cost_and_a_fallback(tmp_path):
    url_file = tmp_path / "url"
    server = subprocess.Popen(
        [sys.executable, "-m", "tradekernel_openai_compatible.scripted", "--url-file", url_file],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 20
        while not url_file.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        env = {
            "PATH": "/usr/bin:/bin",
            "TRADEKERNEL_KERNEL__STATE_DIR": str(tmp_path / "state"),
            "TRADEKERNEL_KERNEL__APPROVAL_MODE": "auto",
            "TRADEKERNEL_COMPONENTS__STRATEGIST": "llm",
            "TRADEKERNEL_COMPONENTS__LLM_PROVIDER": "openai-compatible",
            "TRADEKERNEL_LLM_PROVIDER__OPENAI_COMPATIBLE__BASE_URL": url_file.read_text().strip(),
            "TRADEKERNEL_LLM_PROVIDER__OPENAI_COMPATIBLE__MODEL": "scripted/demo",
            "TRADEKERNEL_STRATEGIST__LLM__PRICE_PROMPT_PER_MTOK": "0.15",
            "TRADEKERNEL_STRATEGIST__LLM__PRICE_COMPLETION_PER_MTOK": "0.6",
        }
        ran = subprocess.run(
            [*TK, "--config", str(ROOT / "plugins.toml"), "run", "--cycles", str(CYCLES), "--json"],
            capture_output=True,
            text=True,
            timeout=120,
            env=env,
            check=False,
        )
    finally:
        server.send_signal(signal.SIGTERM)
        out, _ = server.communicate(timeout=20)
    assert ran.returncode == 0, ran.stderr
    assert server.returncode == 0 and f"stopped after {CYCLES} answers" in out

    (log,) = (tmp_path / "state" / "events").glob("*.jsonl")
    events = [json.loads(line) for line in log.read_text().splitlines()]
    llm = [e["fields"] for e in events if e["stage"] == "strategist_llm"]
    assert len(llm) == CYCLES
    assert all(f["total_tokens"] > 0 and f["reported_cost_usd"] > 0 for f in llm)
    assert all(f["estimated_cost_usd"] > 0 for f in llm)
    assert all(f["model"].endswith("scripted/demo") for f in llm)
    fallbacks = [f for f in llm if not f["ok"]]
    assert {f["error_type"] for f in fallbacks} == {"invalid_json", "schema_violation"}
    assert all(f["fallback_reason"] for f in fallbacks)
    assert sum(f["intents"] for f in llm) >= 3  # trades too, not only holds
    decisions = [e["fields"] for e in events if e["stage"] == "strategist"]
    holds = [d.get("hold_reason") or "" for d in decisions]
    assert any(h.startswith("[scripted]") for h in holds)  # labelled in what people read
    assert json.loads(ran.stdout)["intents"] >= 3
