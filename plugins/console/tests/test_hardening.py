"""Fixes of the console's review: the login limit under a burst, the start token as a
secret, errors with the security headers, hostile query values, confirmations, Host."""

from __future__ import annotations

import threading

import pytest
from tradekernel.api import Store, read_events, utcnow
from tradekernel_console.auth import LoginLimiter, hash_password, hash_problem

from .conftest import TOKEN, load, pending_ids, version_of


def test_a_burst_of_simultaneous_logins_is_limited(settings, make_client):
    web = make_client(settings).http.app.state.web
    allowed: list[bool] = []
    barrier = threading.Barrier(20)

    def attempt(n: int) -> None:
        barrier.wait()  # twenty wrong guesses at once, none finished yet
        allowed.append(web.limiter.acquire("ip:10.0.0.1", f"user:guess{n}") == 0)

    threads = [threading.Thread(target=attempt, args=(n,)) for n in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert allowed.count(True) == 5  # reserved before any hash: five checked, 15 refused


def test_the_limiter_reserves_before_the_check_and_counts_failures():
    now = [0.0]
    limiter = LoginLimiter(clock=lambda: now[0])
    for n in range(5):
        assert limiter.acquire("ip:a", f"user:n{n}") == 0
    assert limiter.acquire("ip:a", "user:x") > 0  # five in flight: a sixth waits
    for n in range(5):
        limiter.release("ip:a", f"user:n{n}", failed=True)
    assert limiter.acquire("ip:a", "user:x") >= 299  # five failures: locked for the window
    now[0] = 301
    assert limiter.acquire("ip:a", "user:x") == 0


def test_guesses_at_a_name_do_not_lock_its_owner_out():
    limiter = LoginLimiter()
    for n in range(50):  # an attacker from many addresses, one guess after another
        assert limiter.acquire(f"ip:10.0.0.{n}", "user:alice") == 0
        limiter.release(f"ip:10.0.0.{n}", "user:alice", failed=True)
    assert limiter.acquire("ip:192.168.1.5", "user:alice") == 0  # the real alice
    # while one attempt for a name is being checked, another for it waits
    assert limiter.acquire("ip:10.9.9.9", "user:alice") > 0
    limiter.release("ip:192.168.1.5", "user:alice", failed=False)


def test_wrong_guesses_from_elsewhere_do_not_lock_the_user_out(config, make_client):
    password = "alice-password-1"
    users = f'\n[console.users]\nalice = "{hash_password(password)}"\n'
    config.write_text(config.read_text() + users)
    settings = load(config)
    c = make_client(settings)
    limiter = c.http.app.state.web.limiter
    for n in range(20):  # an attacker's wrong guesses from other addresses
        assert limiter.acquire(f"ip:10.0.0.{n}", "user:alice") == 0
        limiter.release(f"ip:10.0.0.{n}", "user:alice", failed=True)
    assert c.login("alice", password).status_code == 303
    c = make_client(settings)
    for _ in range(5):  # an address's own failures do limit it
        assert c.login("alice", "wrong").status_code == 403
    assert c.login("alice", password).status_code == 429


def test_the_start_token_is_masked_in_storage_events_and_pages(client, settings):
    intent = pending_ids(settings)[0]
    reason = f"pasted {TOKEN} here and {TOKEN.upper()}"
    version = str(version_of(settings, intent))
    reply = client.post(f"/intents/{intent}/reject", {"version": version, "reason": reason})
    assert reply.status_code == 200
    with Store.open(settings.state_dir, create=False) as store:
        row = store.journal_rows(intent)[-1]
    assert TOKEN not in row.reason and "********" in row.reason
    assert TOKEN.lower() not in row.reason.lower()
    events = list(read_events(settings, date=utcnow().date(), stage="approval"))
    assert events and all(TOKEN not in str(e.fields) for e in events)
    for path in ("/intents/" + intent, "/intents", "/pending"):
        assert TOKEN not in client.get(path).text, path
    files = list((settings.state_dir).rglob("*"))
    for path in files:
        if path.is_file():
            assert TOKEN.encode() not in path.read_bytes(), path


def test_a_server_error_carries_the_security_headers(client, monkeypatch):
    from tradekernel_console import reads

    def broken(*_a, **_k):
        raise RuntimeError("boom")

    monkeypatch.setattr(reads, "pending", broken)
    from starlette.testclient import TestClient

    http = TestClient(
        client.http.app, base_url="http://127.0.0.1:8765", raise_server_exceptions=False
    )
    http.cookies = client.http.cookies
    reply = http.get("/pending")
    assert reply.status_code == 500
    assert "frame-ancestors 'none'" in reply.headers["content-security-policy"]
    assert reply.headers["x-frame-options"] == "DENY"
    assert reply.headers["cache-control"] == "no-store"
    assert "boom" not in reply.text


@pytest.mark.parametrize(
    "query",
    [
        "/report?date=9999-12-31",
        "/report/dashboard?date=9999-12-31",
        "/report?date=0001-01-01",
        "/report?date=2026-13-01",
        "/report?date=%D9%A3",
        "/intents?limit=abc",
        "/orders?limit=%D9%A3",
        "/intents?limit=99999999999999999999",
    ],
)
def test_hostile_query_values_are_400(client, query):
    reply = client.get(query)
    assert reply.status_code == 400, query
    assert "must be" in reply.text
    assert "frame-ancestors 'none'" in reply.headers["content-security-policy"]


def test_a_scrypt_hash_too_costly_is_refused_at_start():
    costly = "scrypt$1048576$32$16$" + "A" * 22 + "$" + "A" * 43
    assert "256 MiB" in hash_problem(costly)
    assert hash_problem(hash_password("pw12345678")) is None


@pytest.mark.parametrize(("action", "value"), [("trading-state", "active"), ("resume", "")])
def test_riskier_switches_need_a_confirmation(client, settings, action, value):
    client.post("/control/trading-state", {"value": "halted"})  # one step: it only stops
    first = client.post(f"/control/{action}", {"value": value})
    assert first.status_code == 200 and "Confirm" in first.text
    from .test_control import CONFIRMATION, controls

    assert controls(settings)["trading_state"] == "halted"
    token = CONFIRMATION.search(first.text).group(1)
    done = client.post(f"/control/{action}", {"value": value, "confirmation": token})
    assert done.status_code == 200 and "Confirm" not in done.text


@pytest.mark.parametrize(
    ("action", "value", "status"),
    [("kill-switch", "maybe", 400), ("mode", "live", 409), ("trading-state", "yolo", 400)],
)
def test_no_confirmation_page_for_a_value_that_will_be_refused(client, action, value, status):
    reply = client.post(f"/control/{action}", {"value": value})
    assert reply.status_code == status and "Confirm" not in reply.text


def test_only_the_bound_host_names_are_answered(settings, make_client):
    c = make_client(settings, allowed_hosts=frozenset({"127.0.0.1", "localhost", "[::1]"}))
    assert c.get("/login").status_code == 200
    assert c.get("/login", headers={"host": "localhost:8765"}).status_code == 200
    evil = c.get("/login", headers={"host": "evil.example"})
    assert evil.status_code == 400 and "evil.example" not in evil.text
    assert "frame-ancestors 'none'" in evil.headers["content-security-policy"]


def test_the_slash_redirect_does_not_echo_the_host(client):
    reply = client.get("/pending/", headers={"host": "evil.example"}, follow_redirects=False)
    assert "evil.example" not in reply.headers.get("location", "")


def test_the_version_must_be_ascii_digits(client, settings):
    intent = pending_ids(settings)[0]
    reply = client.post(f"/intents/{intent}/approve", {"version": "\u0663", "reason": ""})
    assert reply.status_code == 400
    assert intent in pending_ids(settings)


def test_report_escapes_are_shown_once(client):
    from tradekernel.api import inert
    from tradekernel_console.app import Shown

    web = client.http.app.state.web
    page = web.templates.from_string("{{ a }}|{{ b }}")
    line = inert("esc \x1b[2J <b>")  # the report plugin's lines are already inert
    assert page.render(a="esc \x1b[2J", b=Shown(line)) == ("esc \\x1b[2J|esc \\x1b[2J &lt;b&gt;")
    from tradekernel_console import reads

    lines = reads.report(web.console, utcnow().date())["lines"]
    assert lines and all(isinstance(line, Shown) for line in lines)
