"""Four-eyes approval and the compliance report: time per approval of a two-person quorum
(each approval one ``BEGIN IMMEDIATE`` transaction that counts the journaled approvals)
against a plain approval's transition, and the compliance report of a day of 300 intents
(journal verification included) against the daily report's budget, a 60 s cycle."""

from __future__ import annotations

import tempfile
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from tradekernel.approval import ApprovalService
from tradekernel.models import GuardVerdict, Intent
from tradekernel.settings import KernelSettings, Settings
from tradekernel.store import Store
from tradekernel_report.compliance import compliance_report

N = 300
T0 = datetime(2026, 3, 2, 9, tzinfo=UTC)
TWO = [GuardVerdict(guard="policy", allow=True, code="ok", rule="big", version="v1", approvals=2)]
ONE = [GuardVerdict(guard="policy", allow=True, code="ok", rule="small", version="v1")]


def _day(state_dir: Path, verdicts: list[GuardVerdict]) -> tuple[float, Settings]:
    """Propose and submit N intents, approve each by alice and bob (or once, without a
    quorum); returns the seconds per approval decision."""
    settings = Settings(kernel=KernelSettings(state_dir=state_dir, approval_ttl=86400))
    ticks = iter(range(10**9))

    def clock() -> datetime:
        return T0 + timedelta(milliseconds=next(ticks))

    with Store.open(state_dir, clock=clock) as store:
        svc = ApprovalService(store, settings, clock=clock)
        ids = []
        for n in range(N):
            intent = Intent.create(
                symbol=f"S{n % 20}", side="buy", quantity=n + 1, rationale=str(n)
            )
            store.add_intent(intent, cycle_id="c", broker="paper", ref_price=Decimal(100))
            svc.submit(intent.id, verdicts)
            ids.append(intent.id)
        approvers = ("alice", "bob") if verdicts is TWO else ("alice",)
        started = time.perf_counter()
        for iid in ids:
            for actor in approvers:
                svc.approve(iid, actor)
        per = (time.perf_counter() - started) / (N * len(approvers))
    return per, settings


def run() -> list[dict]:
    with tempfile.TemporaryDirectory() as tmp:
        quorum, settings = _day(Path(tmp) / "q", TWO)
        plain, _ = _day(Path(tmp) / "p", ONE)
        started = time.perf_counter()
        report = compliance_report(settings, T0.date(), source="jsonl", now=T0 + timedelta(1))
        build = time.perf_counter() - started
        assert report["summary"]["approvals"] == 2 * N
    return [
        {
            "figure": "approval in a two-person quorum (journaled, counted in one transaction)",
            "value": round(quorum * 1e3, 3),
            "unit": "ms",
            "peer": "a plain approval (one transition)",
            "peer_value": round(plain * 1e3, 3),
        },
        {
            "figure": f"compliance report of a day of {N} two-person intents (verify included)",
            "value": round(build * 1e3, 1),
            "unit": "ms",
            "peer": "60 s cycle",
            "peer_value": 60_000,
        },
    ]
