"""Every route through Starlette's TestClient, against the state of a real run."""

from __future__ import annotations

import re
import threading

import pytest
from tradekernel.api import Store

from .conftest import TOKEN, add_pending, load, pending_ids, version_of

PAGES = (
    "/pending",
    "/intents",
    "/orders",
    "/positions",
    "/control",
    "/alerts",
    "/report",
    "/report/dashboard",
)
POSTS = (
    "/logout",
    "/intents/int_x/approve",
    "/intents/int_x/reject",
    "/control/pause",
    "/control/resume",
    "/control/kill-switch",
    "/control/trading-state",
    "/control/mode",
)


def journal_count(settings) -> int:
    with Store.open(settings.state_dir, create=False) as store:
        return len(store.journal_rows())


@pytest.mark.parametrize("path", PAGES)
def test_every_page_needs_a_session(settings, make_client, path):
    anonymous = make_client(settings)
    reply = anonymous.get(path)
    assert reply.status_code == 403
    assert "log in" in reply.text


@pytest.mark.parametrize("path", POSTS)
def test_every_form_needs_a_session(settings, make_client, path):
    before = journal_count(settings)
    reply = make_client(settings).post(path, {"value": "on", "version": "1"})
    assert reply.status_code == 403
    assert journal_count(settings) == before


@pytest.mark.parametrize("path", POSTS)
def test_a_post_without_the_csrf_token_is_forbidden(client, settings, path):
    before = journal_count(settings)
    for token in ("", "forged", client.csrf + "x"):
        client.csrf, real = token, client.csrf
        reply = client.post(path, {"value": "on", "version": "1"})
        client.csrf = real
        assert reply.status_code == 403, (path, token)
        assert "CSRF" in reply.text
    assert journal_count(settings) == before


def test_a_post_from_another_origin_is_forbidden(client, settings):
    intent = pending_ids(settings)[0]
    reply = client.post(
        f"/intents/{intent}/approve",
        {"version": str(version_of(settings, intent))},
        headers={"origin": "http://evil.example"},
    )
    assert reply.status_code == 403
    assert intent in pending_ids(settings)


def test_the_pending_page_shows_every_field(client, settings):
    ids = pending_ids(settings)
    page = client.get("/pending")
    assert page.status_code == 200
    assert len(re.findall(r"data-intent=", page.text)) == len(ids) > 0
    for needle in (
        "estimated notional",
        "reference price",
        "max_order_notional",
        "allow",
        "sma-cross",
        "rationale",
        "expiry",
        "version",
        "age",
    ):
        assert needle in page.text, needle


def test_approve_journals_the_console_user_as_actor(client, settings):
    intent = pending_ids(settings)[0]
    reply = client.post(
        f"/intents/{intent}/approve",
        {"version": str(version_of(settings, intent)), "reason": "looks fine"},
    )
    assert reply.status_code == 200  # followed the redirect to the intent
    assert "approved by ann" in reply.text
    with Store.open(settings.state_dir, create=False) as store:
        assert store.get(intent).state.value == "approved"
        last = store.journal_rows(intent)[-1]
    assert (last.actor, last.reason, last.to_state) == ("ann", "looks fine", "approved")
    assert re.search(r"data-actor>ann<", reply.text)


def test_reject(client, settings):
    intent = pending_ids(settings)[0]
    reply = client.post(
        f"/intents/{intent}/reject", {"version": str(version_of(settings, intent)), "reason": "no"}
    )
    assert reply.status_code == 200 and "rejected by ann" in reply.text
    with Store.open(settings.state_dir, create=False) as store:
        assert store.get(intent).state.value == "rejected"


def test_a_stale_version_gets_409_and_nothing_is_written(client, settings):
    intent = pending_ids(settings)[0]
    version = version_of(settings, intent)
    before = journal_count(settings)
    for stale in (version - 1, version + 1):
        reply = client.post(f"/intents/{intent}/approve", {"version": str(stale)})
        assert reply.status_code == 409
        assert "Nothing was written" in reply.text
    assert journal_count(settings) == before
    assert intent in pending_ids(settings)


def test_a_second_tab_after_a_decision_gets_409(client, settings):
    intent = pending_ids(settings)[0]
    form = {"version": str(version_of(settings, intent))}
    assert client.post(f"/intents/{intent}/approve", form).status_code == 200
    again = client.post(f"/intents/{intent}/reject", form)
    assert again.status_code == 409
    assert "nothing was changed" in again.text


def test_two_operators_racing_make_exactly_one_decision(settings, make_client):
    intent = pending_ids(settings)[0]
    version = str(version_of(settings, intent))
    ann, bob = make_client(settings), make_client(settings)
    assert ann.login("ann").status_code == 303 and bob.login("bob").status_code == 303
    barrier = threading.Barrier(2)
    codes: dict[str, int] = {}

    def decide(name, client, verb):
        barrier.wait()
        codes[name] = client.post(f"/intents/{intent}/{verb}", {"version": version}).status_code

    threads = [
        threading.Thread(target=decide, args=("ann", ann, "approve")),
        threading.Thread(target=decide, args=("bob", bob, "reject")),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(codes.values()) == [200, 409]
    with Store.open(settings.state_dir, create=False) as store:
        rows = store.journal_rows(intent)
    decisions = [r for r in rows if r.to_state in ("approved", "rejected")]
    assert len(decisions) == 1
    winner = "ann" if codes["ann"] == 200 else "bob"
    assert decisions[0].actor == winner


def test_unknown_intent_is_404(client):
    assert client.get("/intents/int_nope").status_code == 404
    assert client.post("/intents/int_nope/approve", {"version": "1"}).status_code == 404


def test_bad_form_fields_are_400(client, settings):
    intent = pending_ids(settings)[0]
    for data in ({"version": "x"}, {"version": ""}, {"version": "1", "reason": "r" * 2001}):
        assert client.post(f"/intents/{intent}/approve", data).status_code == 400
    assert client.post(f"/intents/{intent}/cancel", {"version": "1"}).status_code == 400
    assert intent in pending_ids(settings)


HOSTILE = (
    "<script>alert(1)</script><img src=x onerror=alert(2)>\"'&"
    "\x1b[2J\x1b]52;c;cHduZWQ=\x07\u202etxt.exe\r\nfake: line"
)


def test_hostile_text_is_escaped_everywhere(client, settings):
    (intent,) = add_pending(settings, rationale=HOSTILE, symbol="<B>X</B>")
    client.post(
        f"/intents/{intent}/reject",
        {"version": str(version_of(settings, intent)), "reason": HOSTILE},
    )
    add_pending(settings, rationale=HOSTILE, symbol="<I>Y</I>")
    for path in ("/pending", f"/intents/{intent}", "/intents", "/intents?symbol=%3CB%3EX%3C/B%3E"):
        text = client.get(path).text
        assert "<script>alert" not in text and "<img src=x" not in text, path
        assert "<B>X</B>" not in text and "<I>Y</I>" not in text, path
        assert "\x1b" not in text and "\u202e" not in text and "\x07" not in text, path
        assert "&lt;script&gt;" in text or path.startswith("/intents?"), path
        assert "\\x1b[2J" in text or path.startswith("/intents"), path


def test_a_hostile_user_name_is_refused_and_not_echoed(settings, make_client):
    c = make_client(settings)
    reply = c.login("<svg onload=alert(1)>")
    assert reply.status_code == 403 and "<svg" not in reply.text


def test_security_headers_on_every_response(client):
    for path in ("/pending", "/login", "/nope", "/static/console.css"):
        headers = client.get(path).headers
        csp = headers["content-security-policy"]
        assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp, path
        assert "'unsafe-inline'" not in csp, path
        assert headers["x-frame-options"] == "DENY"
        assert headers["x-content-type-options"] == "nosniff"
    dashboard = client.get("/report/dashboard").headers["content-security-policy"]
    assert dashboard.startswith("sandbox allow-scripts;") and "frame-ancestors 'none'" in dashboard


def test_pages_hold_no_inline_script(client):
    for path in ("/pending", "/control", "/intents", "/login"):
        text = client.get(path).text
        assert not re.search(r"<script(?![^>]*\bsrc=)", text), path
        assert not re.search(r"\son[a-z]+=", text), path


def test_secrets_never_reach_a_page(tmp_path, config, make_client):
    secret = "sk-live-9f8e7d6c5b4a3210"
    text = config.read_text().replace(
        "[broker.paper]", '[notifier.webhook]\nurl_env = "HOOK"\n\n[broker.paper]'
    )
    config.write_text(text)
    settings = load(config, {"HOOK": f"https://hooks.example/{secret}"})
    add_pending(settings, rationale=f"the key is {secret} ok")
    # a secret in an error message from a broken read is masked too
    c = make_client(settings)
    assert c.login().status_code == 303
    for path in (*PAGES, "/intents/" + pending_ids(settings)[-1]):
        page = c.get(path)
        assert secret not in page.text, path
        assert TOKEN not in page.text, path
    assert "********" in c.get("/pending").text


def test_login_brute_force_is_limited(settings, make_client):
    c = make_client(settings)
    for _ in range(5):
        assert c.login("ann", "wrong").status_code == 403
    blocked = c.login("ann", TOKEN)
    assert blocked.status_code == 429
    assert int(blocked.headers["retry-after"]) > 0


def test_login_limit_ages_out_with_the_clock(settings, make_client):
    now = [1000.0]
    c = make_client(settings, clock=lambda: now[0])
    for _ in range(5):
        c.login("ann", "wrong")
    assert c.login("ann", TOKEN).status_code == 429
    now[0] += 301
    assert c.login("ann", TOKEN).status_code == 303


def test_the_login_form_needs_its_token(settings, make_client):
    c = make_client(settings)
    reply = c.http.post(
        "/login", data={"csrf": "x", "name": "ann", "password": TOKEN}, follow_redirects=False
    )
    assert reply.status_code == 403
    assert c.get("/pending").status_code == 403


def test_session_cookie_flags(settings, make_client):
    c = make_client(settings)
    cookie = c.login().headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "max-age=28800" in cookie
    assert "secure" not in cookie
    tls = make_client(settings, secure=True)
    tls.http.base_url = "https://127.0.0.1:8765"  # a Secure cookie comes back over TLS only
    assert "secure" in tls.login().headers["set-cookie"].lower()


def test_sessions_expire(settings, make_client):
    now = [1000.0]
    c = make_client(settings, clock=lambda: now[0])
    assert c.login().status_code == 303
    assert c.get("/pending").status_code == 200
    now[0] += float(settings.console.session_ttl) + 1
    assert c.get("/pending").status_code == 403


def test_logout_ends_the_session_for_good(client):
    cookie = client.http.cookies.get("tk_console")
    assert client.post("/logout").status_code == 200  # redirected to the login page
    client.http.cookies.set("tk_console", cookie)  # a copied cookie is dead too
    assert client.get("/pending").status_code == 403


def test_a_forged_session_cookie_is_refused(settings, make_client):
    c = make_client(settings)
    c.http.cookies.set("tk_console", "abc.def.ghi")
    assert c.get("/pending").status_code == 403


def test_without_a_token_only_users_log_in(config, make_client):
    from tradekernel_console.auth import hash_password

    encoded = hash_password("correct horse")
    config.write_text(config.read_text() + f'\n[console.users]\nalice = "{encoded}"\n')
    settings = load(config)
    c = make_client(settings, token=None)
    assert c.login("ann", TOKEN).status_code == 403
    assert c.login("alice", "wrong").status_code == 403
    assert c.login("alice", "correct horse").status_code == 303
    assert "data-user>alice<" in c.get("/pending").text


def test_a_token_holder_cannot_take_a_configured_users_name(config, make_client):
    from tradekernel_console.auth import hash_password

    config.write_text(
        config.read_text() + f'\n[console.users]\nalice = "{hash_password("pw123456")}"\n'
    )
    c = make_client(load(config))
    assert c.login("alice", TOKEN).status_code == 403


def test_an_oversized_form_is_not_read(client, settings):
    intent = pending_ids(settings)[0]
    version = str(version_of(settings, intent))
    reply = client.post(f"/intents/{intent}/approve", {"version": version, "pad": "x" * 70_000})
    assert reply.status_code == 403 and "too large" in reply.text
    assert intent in pending_ids(settings)


def test_logins_and_decisions_are_events(settings, make_client):
    from tradekernel.api import read_events, unstructure, utcnow, validate_event

    c = make_client(settings)
    c.login("ann", "wrong")
    c.login("ann")
    intent = pending_ids(settings)[0]
    c.post(f"/intents/{intent}/approve", {"version": str(version_of(settings, intent))})
    c.post("/logout")
    today = utcnow().date()
    console = [(e.kind, e.fields) for e in read_events(settings, date=today, stage="console")]
    assert [k for k, _ in console] == ["login_failed", "login", "logout"]
    assert console[0][1] == {"client": "testclient", "reason": "wrong_credentials"}
    assert console[1][1]["actor"] == "ann" and console[1][1]["method"] == "token"
    approvals = list(read_events(settings, date=today, stage="approval", kind="approved"))
    assert [(e.fields["intent_id"], e.fields["actor"]) for e in approvals] == [(intent, "ann")]
    for event in read_events(settings, date=today):
        assert validate_event(unstructure(event)) == [], event
