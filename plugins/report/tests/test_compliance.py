"""``tradekernel report compliance`` over a recorded day: intents with the policy version
and the rule that decided them, quorum approvals and approvers, a reject after one
approval, overrides, policy changes with their signer; and secrets or terminal escapes
in actors and reasons never reaching any form of the report raw."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from tradekernel.api import GuardVerdict, Intent, Settings, Store
from tradekernel.testing import invoke
from tradekernel_report import compliance_report, daily_report, render, render_compliance

DAY = "2026-03-02"
SECRET = "s3cr3t-approver-token-9d8c7b6a"
SECRET_ENV = "TK_COMPLIANCE_TEST_SECRET"
ESC = "\x1b]0;owned\x07\x1b[31m"
POLICY = "v3@5e1c0a9d0000"
SHA = "5e1c0a9d" + "0" * 56


def _verdicts(rule: str, *, allow: bool = True, approvals: int = 0) -> list[GuardVerdict]:
    return [
        GuardVerdict(guard="kill_switch", allow=True, code="ok"),
        GuardVerdict(
            guard="policy",
            allow=allow,
            code="ok" if allow else "rule_denied",
            rule=rule,
            version=POLICY,
            approvals=approvals,
        ),
    ]


class Clock:
    def __init__(self) -> None:
        self.now = datetime.fromisoformat(f"{DAY}T09:00:00+00:00")

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


def _intent(n: int) -> Intent:
    return Intent.create(
        symbol=["AAA", "BBB", "CCC"][n],
        side="buy",
        quantity=10 + n,
        strategist="sma",
        as_of=datetime(2026, 3, 2, 8, tzinfo=UTC),
        rationale=f"intent {n}",
    )


def _record_day(state_dir: Path, settings: Settings) -> dict[str, str]:
    """A day: a two-person approval (with one person approving twice, refused), a policy
    block, a reject after one approval; overrides; one policy load (an event)."""
    clock = Clock()
    ids = {}
    with Store.open(state_dir, clock=clock, redact=settings.redact) as store:
        for n, name in enumerate(("quorum", "blocked", "rejected")):
            intent = _intent(n)
            ids[name] = intent.id
            store.add_intent(intent, cycle_id="c1", broker="paper", ref_price=Decimal("100"))
        pending = dict(actor="guards", payload={"quorum": 2}, expires_at=clock.now + timedelta(1))
        store.transition(ids["quorum"], "pending_approval", verdicts=_verdicts("big"), **pending)
        store.transition(
            ids["blocked"], "blocked", actor="guards", reason="rule_denied",
            verdicts=_verdicts("no-penny", allow=False),
        )  # fmt: skip
        store.transition(ids["rejected"], "pending_approval", verdicts=_verdicts("big"), **pending)
        store.record_approval(ids["quorum"], actor="alice", required=2, reason="ok")
        with pytest.raises(Exception, match="alice has approved it already"):
            store.record_approval(ids["quorum"], actor="alice", required=2)
        store.record_approval(ids["quorum"], actor="bob", required=2)
        store.record_approval(ids["rejected"], actor="alice", required=2)
        store.transition(
            ids["rejected"], "rejected", actor=f"carol{ESC}",
            reason=f"token {SECRET} leaked{ESC}\nsecond line",
        )  # fmt: skip
        store.set_control("kill_switch", True, actor=f"op-{SECRET}", reason=f"halt {ESC}")
        store.set_control("trading_state", "reducing", actor="op", reason="risk review")
        store.set_control("strategy:sma", "halted", actor="op", reason="drawdown")
        store.set_control("incidents", 1, actor="runtime", reason="not an override")
        store.set_control("kill_switch", False, actor="op", reason="resume")
        # a policy load as the policy guard journals it (docs/policy.md)
        loaded = {
            "name": "desk", "version": "v3", "label": POLICY, "sha256": SHA,
            "signer": "alice (hmac:f012)", "key_id": "hmac:f012", "file": "desk.toml",
        }  # fmt: skip
        store.set_control("policy:policy", loaded, actor="policy", reason="policy loaded")
    event = {
        "schema": "event.v1",
        "ts": f"{DAY}T12:00:00+00:00",
        "run_id": "r1",
        "cycle_id": "",
        "stage": "policy",
        "kind": "load_failed",
        "severity": "error",
        "fields": {"guard": "policy", "file": "desk.toml", "error": "bad sig", "kept": POLICY},
    }
    events = state_dir / "events"
    events.mkdir(parents=True, exist_ok=True)
    (events / f"{DAY}.jsonl").write_text(json.dumps(event) + "\n")
    return ids


@pytest.fixture
def day(tmp_path):
    config = tmp_path / "plugins.toml"
    config.write_text(
        f'[kernel]\nstate_dir = "{tmp_path / "state"}"\n\n'
        '[components]\nmetrics_sinks = ["jsonl"]\nnotifiers = []\n\n'
        f'[audit]\nhmac_key_env = "{SECRET_ENV}"\n'
    )
    settings = Settings.load(config, environ={SECRET_ENV: SECRET})
    ids = _record_day(tmp_path / "state", settings)
    return config, settings, ids


NOW = datetime(2026, 3, 3, 1, tzinfo=UTC)


def test_the_compliance_report_of_a_recorded_day(day):
    _config, settings, ids = day
    report = compliance_report(settings, datetime(2026, 3, 2).date(), now=NOW)
    assert report["schema"] == "compliance.v1" and report["note"] is None
    assert report["journal"]["ok"] is True
    rows = {i["intent_id"]: i for i in report["intents"]}
    assert list(rows) == [ids["quorum"], ids["blocked"], ids["rejected"]]
    quorum = rows[ids["quorum"]]
    assert quorum["state"] == "approved" and quorum["policy_version"] == POLICY
    assert quorum["decided_by"] == {
        "guard": "policy", "rule": "big", "code": "ok", "allow": True, "version": POLICY,
    }  # fmt: skip
    assert quorum["approvals_required"] == 2 and quorum["approvers"] == ["alice", "bob"]
    assert [a["reason"] for a in quorum["approvals"]] == ["ok", None]
    blocked = rows[ids["blocked"]]
    assert blocked["state"] == "blocked" and blocked["approvals"] == []
    assert (blocked["decided_by"]["rule"], blocked["decided_by"]["allow"]) == ("no-penny", False)
    rejected = rows[ids["rejected"]]
    assert rejected["state"] == "rejected" and rejected["approvers"] == ["alice"]
    assert rejected["rejected_by"]["actor"].startswith("carol")
    assert [(o["key"], o["from"], o["to"]) for o in report["overrides"]] == [
        ("kill_switch", None, True),
        ("trading_state", None, "reducing"),
        ("strategy:sma", None, "halted"),
        ("kill_switch", True, False),
    ]
    load, failed = report["policy_changes"]
    assert (load["guard"], load["version"], load["sha256"], load["signer"], load["source"]) == (
        "policy", "v3", SHA, "alice (hmac:f012)", "journal",
    )  # fmt: skip
    assert (failed["source"], failed["label"], failed["detail"]) == (
        "event:load_failed", POLICY, "bad sig",
    )  # fmt: skip
    assert report["summary"] == {
        "intents": 3,
        "by_state": {"approved": 1, "blocked": 1, "rejected": 1},
        "by_policy_version": {POLICY: 3},
        "by_rule": {"big": 2, "no-penny": 1},
        "needing_quorum": 2,
        "approvals": 3,
        "approvers": {"alice": 2, "bob": 1},
        "overrides": 4,
        "policy_changes": 2,
    }


def test_the_daily_report_has_the_compliance_section_and_the_approvers(day):
    _config, settings, ids = day
    report = daily_report(settings, datetime(2026, 3, 2).date(), now=NOW)
    section = report["compliance"]
    assert [i["intent_id"] for i in section["intents"]] == list(ids.values())
    assert section["summary"]["approvers"] == {"alice": 2, "bob": 1}
    assert "## Compliance" in render(report, "md")
    assert "Compliance: intents" in render(report, "html")


@pytest.mark.parametrize("fmt", ["text", "md", "json"])
def test_secrets_and_escapes_never_reach_the_report_raw(day, fmt):
    config, settings, _ids = day
    result = invoke(
        ["--config", str(config), "report", "compliance", "--date", DAY, "--format", fmt],
        env={SECRET_ENV: SECRET},
    )
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    assert SECRET not in out and "\x1b" not in out and "\x07" not in out
    if fmt == "json":
        data = json.loads(out)
        assert SECRET not in json.dumps(data)  # the values, not only their escapes
        assert data["overrides"][0]["actor"].startswith("op-")
    else:
        assert "\\x1b" in out  # shown, inert
        lines = out.splitlines()
        assert not any(line.startswith("second line") for line in lines)
    report = daily_report(settings, datetime(2026, 3, 2).date(), now=NOW)
    for form in ("md", "html", "json"):
        daily = render(report, form)
        assert SECRET not in daily and "\x1b" not in daily and "\x07" not in daily


def test_a_report_without_state_is_empty_with_a_note(tmp_path):
    config = tmp_path / "plugins.toml"
    config.write_text(
        f'[kernel]\nstate_dir = "{tmp_path / "none"}"\n\n[components]\nmetrics_sinks = ["jsonl"]\n'
    )
    result = invoke(["--config", str(config), "report", "compliance", "--date", DAY])
    assert result.exit_code == 0
    assert "intents: 0" in result.stdout and "no state recorded" in result.stderr
    assert render_compliance(
        compliance_report(Settings.load(config, environ={}), datetime(2026, 3, 2).date()), "json"
    ).startswith("{")


def test_the_intents_section_counts_quorum_approvals_and_every_approver():
    from tradekernel.api import Event
    from tradekernel_report import aggregate

    t0 = datetime(2026, 3, 2, 10, tzinfo=UTC)

    def approval(minute: int, kind: str, intent: str, **fields):
        ts = t0 + timedelta(minutes=minute)
        return Event(stage="approval", kind=kind, ts=ts, fields={"intent_id": intent, **fields})

    events = [
        approval(0, "pending", "i1", required=2),
        approval(1, "recorded", "i1", actor="alice", approvals=1, required=2),
        approval(2, "approved", "i1", actor="bob", approvals=2, required=2),
        approval(3, "pending", "i2"),
        approval(4, "approved", "i2", actor="alice"),
        approval(5, "pending", "i3", required=2),
        approval(6, "recorded", "i3", actor="carol", approvals=1, required=2),
    ]
    section = aggregate(events, datetime(2026, 3, 2).date(), now=NOW)["intents"]
    a = section["approvals"]
    assert (a["manual"], a["recorded"], a["quorum_approved"]) == (2, 2, 1)
    assert a["approvers"] == {"alice": 2, "bob": 1, "carol": 1}
    assert section["by_final_state"] == {"approved": 2, "pending_approval": 1}


@hsettings(max_examples=150, deadline=None)
@given(text=st.text(max_size=40))
def test_any_actor_or_reason_renders_inert(text):
    """Outside text in every text field of a compliance report: no rendering lets a
    control character, an escape or a bidi override through, nor adds a line."""
    from tradekernel_report.compliance import build

    class Row:
        def __init__(self, seq, entity, frm, to, payload):
            self.seq, self.entity, self.from_state, self.to_state = seq, entity, frm, to
            self.actor, self.reason, self.payload = text, text, payload
            self.ts = f"{DAY}T10:00:{seq:02d}+00:00"

    rows = [
        Row(1, "control:kill_switch", None, "true", {"value": text}),
        Row(2, "control:policy:p", None, "{}", {"value": {"signer": text, "file": text}}),
    ]
    window = (datetime(2026, 3, 2, tzinfo=UTC), datetime(2026, 3, 3, tzinfo=UTC))
    report = {
        "schema": "compliance.v1",
        "date": DAY,
        "window": {"start": "s", "end": "e"},
        "note": f"n{text}",
        **build(rows, lambda _id: None, [], window),
    }
    for fmt in ("text", "md", "json"):
        out = render_compliance(report, fmt)
        bad = [c for c in out if (ord(c) < 32 and c != "\n") or 0x7F <= ord(c) < 0xA0]
        assert not bad and "\u202e" not in out and "\u2028" not in out
        lines = out.count("\n")
        assert lines == render_compliance({**report, "note": "x"}, fmt).count("\n") or fmt == "json"


def test_out_writes_the_report_and_a_bad_date_is_a_usage_error(day, tmp_path):
    config, _settings, _ids = day
    target = tmp_path / "reports" / "compliance.md"
    args = ["--config", str(config), "report", "compliance", "--date", DAY]
    result = invoke([*args, "--format", "md", "--out", str(target)], env={SECRET_ENV: SECRET})
    assert result.exit_code == 0 and result.stdout == f"wrote {target} (md, 3 intents)\n"
    assert target.read_text().startswith("# tradekernel compliance report — 2026-03-02")
    bad = invoke(["--config", str(config), "report", "compliance", "--date", "2026-02-30"])
    assert bad.exit_code == 2
