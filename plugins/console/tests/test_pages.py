"""What each page shows, read from the state of a real run."""

from __future__ import annotations

import re
from types import SimpleNamespace

from tradekernel.api import ApprovalService
from tradekernel_console.reads import quorum

from .conftest import pending_ids, version_of


def test_positions_and_account(client):
    page = client.get("/positions").text
    assert "broker paper" in page and "100000" in page
    assert "could not read it" not in page


def test_intents_filters(client, settings):
    everything = client.get("/intents?limit=1000").text
    rows = everything.count("<tr><td>")
    assert rows >= len(pending_ids(settings)) > 0
    only_aaa = client.get("/intents?symbol=AAA").text
    assert ">BBB<" not in only_aaa and ">AAA<" in only_aaa
    pending = client.get("/intents?state=pending_approval").text
    assert pending.count("pending_approval</td>") == len(pending_ids(settings))
    assert client.get("/intents?strategy=nobody").text.count("no intents") == 1
    assert client.get("/intents?limit=2").text.count("<tr><td>") == 2


def test_orders_page(client):
    assert "no orders" in client.get("/orders").text  # manual mode: nothing sent yet
    assert client.get("/orders?status=filled&symbol=AAA").status_code == 200


def test_alerts_and_incidents(client):
    page = client.get("/alerts").text
    assert "Incidents" in page and "strategist breaker" in page
    assert "strategist_success_rate" in page  # tradekernel-ops evaluated the rules


def test_the_daily_report(client, settings):
    page = client.get("/report").text
    assert "Daily report" in page and "/report/dashboard?date=" in page
    assert "<pre" in page


def test_intent_detail_has_its_journal(client, settings):
    intent = pending_ids(settings)[0]
    page = client.get(f"/intents/{intent}").text
    actors = re.findall(r"data-actor>([^<]*)<", page)
    assert actors == ["strategist", "guards"]
    assert f'name="version" value="{version_of(settings, intent)}"' in page


def test_quorum_is_read_defensively():
    assert quorum(SimpleNamespace()) is None
    assert quorum(SimpleNamespace(required_approvals=1, approvals=[])) is None
    shown = quorum(SimpleNamespace(required_approvals=2, approvals=[("ann", "t1")]))
    assert shown == {"required": 2, "approvals": [("ann", "t1")]}
    mapped = quorum(SimpleNamespace(approvals=[{"actor": "bob", "ts": "t2"}, "junk"]))
    assert mapped == {"required": None, "approvals": [("bob", "t2")]}


def test_approvals_so_far_are_shown_when_the_preview_has_them(client, monkeypatch):
    assert "data-quorum" not in client.get("/pending").text
    real = ApprovalService.preview

    class WithQuorum:
        def __init__(self, preview):
            self._preview = preview
            self.required_approvals = 2
            self.approvals = [("<b>ann</b>", "2026-11-30T07:00:00+00:00")]

        def __getattr__(self, name):
            return getattr(self._preview, name)

    monkeypatch.setattr(ApprovalService, "preview", lambda self, i: WithQuorum(real(self, i)))
    page = client.get("/pending").text
    assert "approvals so far: 1 of 2" in page
    assert "&lt;b&gt;ann&lt;/b&gt;" in page and "<b>ann</b>" not in page
