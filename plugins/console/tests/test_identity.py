"""Who a login acts as: approver names, configured users, the start token and quorums."""

from __future__ import annotations

import re

import pytest
from tradekernel.api import ConfigError, Store
from tradekernel_console.auth import hash_password

from .conftest import TOKEN, add_pending, load, pending_ids, version_of

ANN, BOB = "ann-password-1", "bob-password-1"


@pytest.fixture
def users_config(config):
    """Two configured users, ann and bob, and every new intent needs two approvals."""
    config.write_text(
        config.read_text()
        + "\n[[approval.quorum]]\napprovals = 2\n\n[console.users]\n"
        + f'ann = "{hash_password(ANN)}"\nbob = "{hash_password(BOB)}"\n'
    )
    return config


def approve(client, settings, intent):
    return client.post(
        f"/intents/{intent}/approve",
        {"version": str(version_of(settings, intent)), "reason": "checked"},
    )


def state_of(settings, intent):
    with Store.open(settings.state_dir, create=False) as store:
        return store.get(intent).state.value


@pytest.mark.parametrize("name", ["Ann", "ANN", " ann ", "\uff41nn"])
def test_the_token_cannot_log_in_as_a_configured_user_in_another_spelling(
    users_config, make_client, name
):
    c = make_client(load(users_config))
    assert c.login(name, TOKEN).status_code == 403
    assert c.get("/pending").status_code == 403


@pytest.mark.parametrize(
    "name", ["auto", "System", "guards", "a\u043dn", "ann\u200b", "x\x1by", "", "a" * 65]
)
def test_the_token_refuses_reserved_and_invalid_names(settings, make_client, name):
    c = make_client(settings)
    assert c.login(name, TOKEN).status_code == 403


def test_a_token_login_acts_under_its_normalised_name(settings, make_client):
    c = make_client(settings)
    assert c.login("Carol", TOKEN).status_code == 303
    assert "data-user>carol<" in c.get("/pending").text


def test_a_configured_user_logs_in_in_any_spelling(users_config, make_client):
    c = make_client(load(users_config))
    assert c.login("BOB", BOB).status_code == 303
    assert "data-user>bob<" in c.get("/pending").text


def test_the_quorum_counts_signed_in_users_only(users_config, make_client):
    settings = load(users_config)
    (intent,) = add_pending(settings)
    ann, ann2, bob, token = (make_client(settings) for _ in range(4))
    assert ann.login("ann", ANN).status_code == 303
    assert ann2.login("Ann", ANN).status_code == 303
    assert bob.login("bob", BOB).status_code == 303
    assert token.login("carol", TOKEN).status_code == 303

    page = token.get(f"/intents/{intent}").text
    assert "approvals so far: 0 of 2" in page and "data-token-quorum" in page
    refused = approve(token, settings, intent)
    assert refused.status_code == 409
    assert "this intent needs 2 approvals from signed-in users" in refused.text
    assert state_of(settings, intent) == "pending_approval"

    assert approve(ann, settings, intent).status_code == 200  # redirected to the intent
    page = ann.get(f"/intents/{intent}").text
    assert "approvals so far: 1 of 2" in page and "data-token-quorum" not in page
    again = approve(ann2, settings, intent)
    assert again.status_code == 409 and "already" in again.text
    assert state_of(settings, intent) == "pending_approval"
    assert "this intent needs 2 approvals" in approve(token, settings, intent).text

    assert approve(bob, settings, intent).status_code == 200
    assert state_of(settings, intent) == "approved"
    with Store.open(settings.state_dir, create=False) as store:
        actors = [r.actor for r in store.journal_rows(intent)]
    assert actors[-2:] == ["ann", "bob"]


def test_a_token_login_may_still_reject_a_quorum_intent(users_config, make_client):
    settings = load(users_config)
    (intent,) = add_pending(settings)
    c = make_client(settings)
    c.login("carol", TOKEN)
    reply = c.post(
        f"/intents/{intent}/reject", {"version": str(version_of(settings, intent)), "reason": "no"}
    )
    assert reply.status_code == 200 and state_of(settings, intent) == "rejected"


def test_a_token_login_decides_an_intent_needing_one_approval(settings, make_client):
    c = make_client(settings)
    c.login("carol", TOKEN)
    intent = pending_ids(settings)[0]
    assert approve(c, settings, intent).status_code == 200
    assert state_of(settings, intent) == "approved"


@pytest.mark.parametrize(
    ("users", "problem"),
    [
        ({"alice": 1, "Alice": 2}, "the same approver name"),
        ({"auto": 1}, "reserved"),
        ({"al\u0456ce": 1}, "may not contain"),
    ],
)
def test_configured_user_names_are_checked_at_start(config, users, problem):
    from tradekernel_console.commands import check_users

    lines = "".join(
        f'"{name}" = "{hash_password("pw" * 4, salt=bytes([n]) * 16)}"\n'
        for name, n in users.items()
    )
    config.write_text(config.read_text() + "\n[console.users]\n" + lines)
    with pytest.raises(ConfigError, match=re.escape(problem)):
        check_users(load(config))
