"""The commands that act for the agent on a shared store hold its lease too: while an
agent of the namespace runs on another host, ``intents reconcile`` is refused (exit 3,
naming it) and ``ops batch`` skips its reconcile step; once the namespace is free they
take the lease for their work and release it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tradekernel.testing import invoke
from tradekernel_postgres.lease import PostgresLease

CONFIG = """
[kernel]
state_dir = "{state}"

[components]
store = "postgres"
broker = "paper"
notifiers = []
metrics_sinks = ["jsonl"]

[store]
url = "{url}"
namespace = "desk-1"
"""


@pytest.fixture
def cfg(tmp_path: Path, postgres_url: str) -> Path:
    path = tmp_path / "plugins.toml"
    path.write_text(CONFIG.format(state=tmp_path / "state", url=postgres_url))
    return path


def test_intents_reconcile_is_refused_while_another_host_holds_the_namespace(cfg, postgres_url):
    with PostgresLease(postgres_url, "desk-1", "tradekernel run", heartbeat=False, host="trader-1"):
        refused = invoke(["--config", str(cfg), "intents", "reconcile"])
    assert refused.exit_code == 3, refused.stderr
    assert "this store is held by tradekernel run on host trader-1" in refused.stderr
    assert "namespace 'desk-1'" in refused.stderr
    done = invoke(["--config", str(cfg), "intents", "reconcile"])
    assert done.exit_code == 0, done.stderr
    assert "nothing to reconcile" in done.stdout


def test_ops_batch_skips_its_reconcile_while_another_host_holds_the_namespace(cfg, postgres_url):
    pytest.importorskip("tradekernel_ops")
    with PostgresLease(postgres_url, "desk-1", "tradekernel run", heartbeat=False, host="trader-1"):
        result = invoke(["--config", str(cfg), "ops", "batch", "--json"])
    steps = {s["name"]: s for s in json.loads(result.stdout)["steps"]}
    assert steps["reconcile"]["result"] == "skipped", steps["reconcile"]
    assert "another host" in steps["reconcile"]["detail"]
