"""Hostile form fields: whatever a form holds, the console answers 2xx/3xx/4xx (never a
server error), and a refused form writes nothing."""

from __future__ import annotations

from urllib.parse import quote

from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from tradekernel.api import Store

from .conftest import pending_ids, version_of

text = st.text(st.characters(codec="utf-8"), max_size=300) | st.sampled_from(
    ["", "0", "-1", "1e9", "99999999999999999999", "on", "off", "live", "clear", "\x00", "%00"]
)
FUZZ = hsettings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def journal_len(settings) -> int:
    with Store.open(settings.state_dir, create=False) as store:
        return len(store.journal_rows())


@FUZZ
@given(version=text, reason=text, verb=st.sampled_from(["approve", "reject", "x", "..", ""]))
def test_decision_forms(client, settings, version, reason, verb):
    intent = pending_ids(settings)[0]
    before = journal_len(settings)
    reply = client.post(
        f"/intents/{intent}/{quote(verb, safe='')}", {"version": version, "reason": reason}
    )
    assert reply.status_code < 500
    if reply.status_code >= 400:
        assert journal_len(settings) == before
    if version != str(version_of(settings, intent)):
        assert intent in pending_ids(settings)


@FUZZ
@given(action=text, value=text, reason=text, confirmation=text)
def test_control_forms(client, settings, action, value, reason, confirmation):
    before = journal_len(settings)
    reply = client.post(
        f"/control/{quote(action, safe='')}",
        {"value": value, "reason": reason, "confirmation": confirmation},
    )
    assert reply.status_code < 500
    if reply.status_code >= 400 or "Confirm" in reply.text:
        assert journal_len(settings) == before


@FUZZ
@given(name=text, password=text, csrf=text)
def test_login_forms(settings, make_client, name, password, csrf):
    c = make_client(settings)
    reply = c.http.post(
        "/login", data={"csrf": csrf, "name": name, "password": password}, follow_redirects=False
    )
    assert reply.status_code in (403, 400)
    assert c.get("/pending").status_code == 403


@FUZZ
@given(state=text, symbol=text, limit=text, day=text)
def test_filters(client, state, symbol, limit, day):
    for path, params in (
        ("/intents", {"state": state, "symbol": symbol, "limit": limit}),
        ("/orders", {"status": state, "symbol": symbol, "limit": limit}),
        ("/report", {"date": day}),
    ):
        reply = client.get(path, params=params)
        assert reply.status_code in (200, 400), (path, params)
        assert "content-security-policy" in reply.headers
        assert "<script>" not in reply.text
