"""Operator control from the console: the same Control the CLI's ``control`` uses,
journaled with the console user; the kill switch and modes take a confirmation step,
and modes only move toward safer."""

from __future__ import annotations

import re

from tradekernel.api import Control, Store

from .conftest import load

CONFIRMATION = re.compile(r'name="confirmation" value="([^"]+)"')


def controls(settings):
    with Store.open(settings.state_dir, create=False) as store:
        return Control(store, settings.runtime).status()


def last_control_row(settings, key):
    with Store.open(settings.state_dir, create=False) as store:
        return store.journal_rows(f"control:{key}")[-1]


def test_pause_and_resume(client, settings):
    page = client.post("/control/pause", {"reason": "lunch"})
    assert page.status_code == 200 and "paused by ann" in page.text
    assert controls(settings)["paused"] is True
    row = last_control_row(settings, "paused")
    assert (row.actor, row.reason) == ("ann", "lunch")
    assert confirmed(client, "resume", "").status_code == 200  # resuming asks first
    assert controls(settings)["paused"] is False


def test_the_kill_switch_needs_a_confirmation(client, settings):
    first = client.post("/control/kill-switch", {"value": "on", "reason": "news"})
    assert first.status_code == 200 and "Confirm" in first.text
    assert controls(settings)["kill_switch"] is False  # nothing yet
    token = CONFIRMATION.search(first.text).group(1)
    # a confirmation is for that action and value only, and used once
    wrong = client.post("/control/kill-switch", {"value": "off", "confirmation": token})
    assert "Confirm" in wrong.text and controls(settings)["kill_switch"] is False
    token = CONFIRMATION.search(wrong.text).group(1)
    done = client.post("/control/kill-switch", {"value": "off", "confirmation": token})
    assert "kill switch off by ann" in done.text
    first = client.post("/control/kill-switch", {"value": "on", "reason": "news"})
    token = CONFIRMATION.search(first.text).group(1)
    done = client.post(
        "/control/kill-switch", {"value": "on", "reason": "news", "confirmation": token}
    )
    assert done.status_code == 200 and "kill switch on by ann" in done.text
    assert controls(settings)["kill_switch"] is True
    assert last_control_row(settings, "kill_switch").actor == "ann"
    replay = client.post("/control/kill-switch", {"value": "off", "confirmation": token})
    assert "Confirm" in replay.text and controls(settings)["kill_switch"] is True


def test_a_guessed_confirmation_does_not_confirm(client, settings):
    reply = client.post("/control/kill-switch", {"value": "on", "confirmation": "guess"})
    assert "Confirm" in reply.text
    assert controls(settings)["kill_switch"] is False


def test_trading_state(client, settings):
    client.post("/control/trading-state", {"value": "halted"})  # halting: one step
    assert controls(settings)["trading_state"] == "halted"
    bad = client.post("/control/trading-state", {"value": "yolo"})
    assert bad.status_code == 400
    assert controls(settings)["trading_state"] == "halted"


def confirmed(client, action, value):
    first = client.post(f"/control/{action}", {"value": value})
    token = CONFIRMATION.search(first.text)
    if token is None:
        return first
    return client.post(f"/control/{action}", {"value": value, "confirmation": token.group(1)})


def test_modes_only_move_toward_safer(client, settings):
    page = client.get("/control").text
    assert "mode:paper" not in page and "mode:live" not in page  # paper is the default
    assert 'data-action="mode:shadow"' in page
    assert confirmed(client, "mode", "shadow").status_code == 200
    assert controls(settings)["mode"] == "shadow"
    for value in ("paper", "live", "clear"):
        reply = confirmed(client, "mode", value)
        assert reply.status_code == 409, value
        assert "not safer" in reply.text
    assert controls(settings)["mode"] == "shadow"


def test_from_live_a_safer_mode_and_clear(config, make_client):
    config.write_text(
        config.read_text().replace(
            'approval_mode = "manual"',
            'approval_mode = "manual"\nmode = "live"\nlive_acknowledged = true',
        )
    )
    settings = load(config)
    c = make_client(settings)
    c.login()
    page = c.get("/control").text
    assert "live (from file)" in page
    assert 'data-action="mode:paper"' in page and 'data-action="mode:shadow"' in page
    assert confirmed(c, "mode", "live").status_code == 409
    assert confirmed(c, "mode", "paper").status_code == 200
    assert controls(settings)["mode"] == "paper"
    # clearing would fall back to the file's live: refused
    assert confirmed(c, "mode", "clear").status_code == 409
    assert controls(settings)["mode"] == "paper"


def test_unknown_action_is_400(client):
    assert client.post("/control/explode").status_code == 400


def test_the_control_page_shows_who_did_what(client):
    client.post("/control/pause", {"reason": "<b>why</b>"})
    page = client.get("/control").text
    assert "control:paused" in page and ">ann<" in page
    assert "&lt;b&gt;why&lt;/b&gt;" in page
