"""The alerts page lists open incidents (tradekernel-ops) with an acknowledge button that
goes through the same function as ``incidents ack``, with the console user's name."""

from __future__ import annotations

from tradekernel.api import Event, Kernel
from tradekernel_ops.incidents.observer import build
from tradekernel_ops.incidents.service import Incidents


def open_incident(settings, rule: str = "breaker_open") -> int:
    settings.incidents.enabled = True  # no escalation configured: recorded only
    with Kernel(settings) as kernel:
        incidents = build(kernel)
        try:
            event = Event(
                stage="alerts",
                kind="fired",
                severity="error",
                fields={"rule": rule, "detail": "<b>x</b>"},
            )
            return incidents.observe(event)
        finally:
            incidents.close()


def incident(settings, number: int):
    incidents = Incidents(settings)
    try:
        return incidents.get(number)
    finally:
        incidents.close()


def test_the_alerts_page_acknowledges_an_incident(client, settings):
    number = open_incident(settings)
    page = client.get("/alerts")
    assert page.status_code == 200 and "Open incidents" in page.text
    assert f'action="/incidents/{number}/ack"' in page.text
    assert "<b>x</b>" not in page.text  # escaped
    done = client.post(f"/incidents/{number}/ack", {})
    assert done.status_code == 200 and f"incident {number} acknowledged by ann" in done.text
    item = incident(settings, number)
    assert (item.state, item.acknowledged_by) == ("acknowledged", "ann")
    assert f'action="/incidents/{number}/ack"' not in client.get("/alerts").text
    again = client.post(f"/incidents/{number}/ack", {})
    assert again.status_code == 409 and "acknowledged already" in again.text


def test_bad_and_unknown_ids_and_no_csrf(client, settings):
    open_incident(settings)
    assert client.post("/incidents/abc/ack", {}).status_code == 400
    assert client.post("/incidents/0/ack", {}).status_code == 400
    assert client.post("/incidents/99/ack", {}).status_code == 404
    forged = client.http.post("/incidents/1/ack", data={"csrf": "forged"})
    assert forged.status_code == 403
    assert incident(settings, 1).state == "open"


def test_no_incidents_no_table_and_no_file(client, settings):
    from pathlib import Path

    assert "Open incidents" not in client.get("/alerts").text
    assert not (Path(settings.state_dir) / "incidents.db").exists()
