"""What each page shows, read from the state of a real run."""

from __future__ import annotations

import re
from types import SimpleNamespace

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


def test_the_quorum_reads_the_previews_fields():
    one = SimpleNamespace(approvals_required=1, approvals=[])
    assert quorum(one) is None
    assert quorum(SimpleNamespace(approvals_required=0, approvals=[])) is None
    two = SimpleNamespace(approvals_required=2, approvals=[{"actor": "ann", "ts": "t1"}])
    assert quorum(two) == {"required": 2, "approvals": [("ann", "t1")]}
