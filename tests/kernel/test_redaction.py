"""The redactor masks every secret, its sensitive parts and any 8+ character piece of
them in any case, and leaves text without one alone."""

from __future__ import annotations

import base64
import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tradekernel.redaction import (
    COMMON_PATH_WORDS,
    MASK,
    Redactor,
    sensitive_parts,
    token_like,
)
from tradekernel.settings import Settings

TOKEN_CHARS = string.ascii_letters + string.digits + "-_."
SLACK = "https://hooks.slack.com/services/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"


def pieces(secret: str, text: str) -> list[str]:
    folded = text.lower()
    return [
        secret[i : i + 8] for i in range(len(secret) - 7) if secret[i : i + 8].lower() in folded
    ]


def test_sensitive_parts_of_urls_and_header_values():
    assert set(sensitive_parts(SLACK)) == {
        "T0A1B2C3D/B0E4F5G6H/Xq7rPz2LmN8vKd4sWb6tYh3c",  # the path's secret tail
        "T0A1B2C3D",
        "B0E4F5G6H",
        "Xq7rPz2LmN8vKd4sWb6tYh3c",
    }
    url = "https://alice:pa55w0rd-x@api.example.com/v1/hooks/tradekernel?key=k3y-v4lue-123&x=1#fr4gment99"
    assert set(sensitive_parts(url)) == {
        "pa55w0rd-x",
        "k3y-v4lue-123",
        "key=k3y-v4lue-123&x=1",
        "fr4gment99",
        "YWxpY2U6cGE1NXcwcmQteA",  # base64("alice:pa55w0rd-x"): HTTP Basic sends that
    }  # "alice" is shorter than 8; /v1/hooks/tradekernel are common path words
    # percent-encoded segments count in both spellings
    assert set(sensitive_parts("https://h.example/hook/T0k%2Fen123")) == {
        "T0k%2Fen123",
        "T0k/en123",
    }
    assert sensitive_parts("Bearer brr5Yt7Ui9Op1As3Df") == ("brr5Yt7Ui9Op1As3Df",)
    assert sensitive_parts("Bearer short") == ()


def test_a_url_path_is_secret_from_its_first_uncommon_segment():
    """Short or all-lower-case path segments are secret too once the path leaves the
    common words: a Zapier hook, a lower-case token, an ntfy topic, a Discord id."""
    cases = [
        (
            "https://hooks.zapier.com/hooks/catch/1234567/o1ab2cd/",
            "404 /hooks/catch/1234567/o1ab2cd/",
            "1234567/o1ab2cd",
        ),
        (
            "https://example.com/hook/qwertyuiopasdfg",
            "unknown hook QWERTYUIOPASDFG",
            "qwertyuiopasdfg",
        ),
        ("https://ntfy.sh/mytradingalerts", "POST /mytradingalerts 429", "mytradingalerts"),
        (
            "https://discord.com/api/webhooks/123456789012345678/AbCdEfGhIjKlMnOp",
            "Unknown Webhook 123456789012345678",
            "123456789012345678",
        ),
    ]
    for url, echo, token in cases:
        out = Redactor([url]).redact(echo)
        assert pieces(token, out) == [] and MASK in out, (url, out)
    # the host and the common words before the tail stay readable
    out = Redactor([cases[0][0]]).redact(cases[0][1])
    assert out == f"404 /hooks/catch/{MASK}/"
    plain = "hooks.zapier.com /hooks/catch/ api webhooks discord.com ntfy.sh tradekernel run"
    assert Redactor([url for url, _, _ in cases]).redact(plain) == plain


def test_short_secrets_and_identifiers_are_masked_only_as_whole_words():
    redactor = Redactor(["test", "admin1"])
    redactor.add("portfolio@fund.example", partial=False)
    text = "latest tests: test ok, ADMIN1 administrator admin123; portfolio value"
    assert redactor.redact(text) == (
        f"latest tests: {MASK} ok, {MASK} administrator admin123; portfolio value"
    )
    assert redactor.redact("login portfolio@fund.example failed") == f"login {MASK} failed"
    redactor.add("portfolio@fund.example")  # read as a real secret later: partial wins
    assert redactor.redact("x PORTFOLIO@FUND.EX y") == f"x {MASK} y"


def test_token_like_segments():
    assert token_like("T0A1B2C3D") and token_like("AbcdefGh") and token_like("a" * 20)
    for word in ("services", "hooks", "notifications", "tradekernel", "T0A1B2"):
        assert not token_like(word), word


def test_echoed_parts_are_masked_but_words_are_not():
    redactor = Redactor([SLACK, "Bearer brr5Yt7Ui9Op1As3Df"])
    echoed = (
        "404 no such hook /services/T0A1B2C3D/B0E4F5G6H/XQ7RPZ2LMN8VKD4S "
        "(auth BEARER BRR5YT7UI9OP1AS3DF) at hooks.slack.com"
    )
    # "BEARER BRR5..." is the whole header value, and the path after /services/ the
    # URL's secret tail: each masked as one
    assert redactor.redact(echoed) == (
        f"404 no such hook /services/{MASK} (auth {MASK}) at hooks.slack.com"
    )
    assert redactor.redact(SLACK) == MASK
    plain = "services hooks notifications tradekernel https://hooks.slack.com/services/"
    assert redactor.redact(plain) == plain


def test_every_variable_named_by_an_env_key_is_a_secret_from_load(tmp_path):
    config = tmp_path / "plugins.toml"
    config.write_text(
        "[llm_provider.openrouter]\napi_key_env = 'MY_LLM_KEY'\n"
        "[notifier.email]\nusername_env = 'SMTP_USER'\npassword_env = 'SMTP_PASS'\n"
        "[audit]\nhmac_key_env = 'AUDIT_KEY'\n"
    )
    environ = {
        "MY_LLM_KEY": "sk-or-v1-9f8e7d6c5b4a3928",
        "SMTP_USER": "portfolio@fund.example",
        "SMTP_PASS": "hunter2-Zq8rT",
        "AUDIT_KEY": "audit-Hk3mP9xQ2wL7",
        "UNRELATED": "plain-V4lue-not-named",
    }
    settings = Settings.load(config, environ=environ)
    text = (
        "rotating sk-or-v1-9f8e7d6c5b4a3928, HUNTER2-ZQ8RT and audit-Hk3mP9xQ2wL7 for "
        "portfolio@fund.example; the portfolio is fine; plain-V4lue-not-named"
    )
    assert settings.redact(text) == (
        f"rotating {MASK}, {MASK} and {MASK} for {MASK}; the portfolio is fine; "
        "plain-V4lue-not-named"
    )


def test_header_values_are_secrets_whatever_the_header_name(tmp_path):
    config = tmp_path / "plugins.toml"
    config.write_text(
        "[notifier.webhook]\nurl = 'https://example.com/hook'\n"
        "headers = { X-Auth = 'zq7longheadertokenvalue', X-Title = 'tradekernel' }\n"
    )
    settings = Settings.load(config, environ={})
    assert settings.redact("500: got ZQ7LONGHEADERTOK") == f"500: got {MASK}"
    assert settings.redact("tradekernel run") == "tradekernel run"


def test_ordinary_header_values_are_not_secrets(tmp_path):
    """Only credential headers hold secrets: a User-Agent, a beta flag or a dated API
    version must not mask the product name, a word or every timestamp of that month."""
    config = tmp_path / "plugins.toml"
    config.write_text(
        "[notifier.webhook]\nurl = 'https://example.com/hook'\nheaders = { "
        "'User-Agent' = 'TradeKernel/1.0', 'OpenAI-Beta' = 'assistants=v2', "
        "'X-Api-Version' = '2026-11-01', Accept = 'application/json; charset=utf-8', "
        "'HTTP-Referer' = 'https://github.com/acme2026/tradekernel', "
        "'X-Goog-Api-Key' = 'AIzaSyD3xk9Plm', 'X-Auth-User' = 'svc-trader-07', "
        "'Proxy-Authorization' = 'Basic cHJveHk6cHcxMjM0NQ==' }\n"
    )
    settings = Settings.load(config, environ={})
    text = (
        "created 2026-11-30T14:30:00 by TradeKernel/1.0 (assistants=v2, application/json, "
        "charset=utf-8, https://github.com/acme2026/tradekernel)"
    )
    assert settings.redact(text) == text
    for credential in ("AIzaSyD3xk9Plm", "svc-trader-07", "cHJveHk6cHcxMjM0NQ"):
        assert settings.redact(f"echo {credential}") == f"echo {MASK}"


@pytest.mark.parametrize(
    "where",
    [
        "[llm_provider.openai-compatible]\nbase_url = '{url}'\n",
        "[notifier.webhook]\nurl = '{url}'\n",
        "[runtime]\n[notifier.webhook]\nextra = {{ mirrors = ['{url}'] }}\n",
    ],
)
def test_url_userinfo_in_any_config_value_is_a_secret(tmp_path, where):
    """A password in a URL's userinfo (vLLM behind basic auth) is masked everywhere, as
    written, percent-decoded and in its HTTP Basic (base64) form."""
    url = "http://llmuser:S3cret%40Passw0rdX@10.0.0.7:8000/v1"
    config = tmp_path / "plugins.toml"
    config.write_text(where.format(url=url))
    settings = Settings.load(config, environ={})
    basic = base64.b64encode(b"llmuser:S3cret@Passw0rdX").decode()
    for echo in ("S3cret%40Passw0rdX", "S3cret@Passw0rdX", "llmuser:S3cret@Pass", basic):
        assert MASK in settings.redact(f"401 {echo}"), echo
        assert pieces("S3cret@Passw0rdX", settings.redact(f"401 {echo}")) == []
    assert settings.redact("llmuser at 10.0.0.7:8000/v1") == "llmuser at 10.0.0.7:8000/v1"


def test_basic_auth_form_of_a_url_secret_is_masked():
    """A receiver echoing ``Authorization: Basic base64(user:pass)`` of a secret URL."""
    redactor = Redactor(["http://alerts:Zx9pQ2mVt7w@hooks.example/notify"])
    basic = base64.b64encode(b"alerts:Zx9pQ2mVt7w").decode()
    assert redactor.redact(f"got Authorization: Basic {basic}").startswith(
        f"got Authorization: Basic {MASK}"
    )
    pair = Redactor(["svcuser:Pw0rd-9Kx2"])  # a registered basic-auth pair
    assert MASK in pair.redact(base64.b64encode(b"svcuser:Pw0rd-9Kx2").decode())


def test_settings_redact_covers_parts_of_revealed_secrets_and_configured_headers(tmp_path):
    config = tmp_path / "plugins.toml"
    config.write_text(
        "[notifier.webhook]\nurl_env = 'HOOK'\n"
        "headers = { Authorization = 'Bearer brr5Yt7Ui9Op1As3Df', X-Title = 'tradekernel' }\n"
    )
    settings = Settings.load(config, environ={"HOOK": SLACK})
    assert settings.redact("x BRR5YT7UI9OP1 y") == f"x {MASK} y"  # configured header value
    # named by url_env: a secret from load on, before any component reads it
    assert settings.redact("id 2LmN8vKd4sWb") == f"id {MASK}"
    assert settings.secret("HOOK") == SLACK
    # not a credential header: masked by `config show` only, never redacted from text
    assert settings.redact("tradekernel intents approve") == "tradekernel intents approve"
    assert settings.redact("hooks, services") == "hooks, services"


secrets_strategy = st.text(alphabet=TOKEN_CHARS, min_size=8, max_size=48)
filler = st.text(alphabet=string.printable.replace("*", ""), max_size=40)


@settings(max_examples=200, deadline=None)
@given(
    secret=secrets_strategy,
    data=st.data(),
    before=filler,
    after=filler,
    case=st.sampled_from([str, str.upper, str.lower, str.swapcase]),
)
def test_any_piece_of_8_or_more_in_any_case_is_masked(secret, data, before, after, case):
    start = data.draw(st.integers(0, len(secret) - 8))
    end = data.draw(st.integers(start + 8, len(secret)))
    leaked = case(secret[start:end])
    out = Redactor([secret]).redact(before + leaked + after)
    assert pieces(secret, out) == []


@settings(max_examples=200, deadline=None)
@given(secret=secrets_strategy, text=filler)
def test_text_without_a_piece_of_a_secret_is_unchanged(secret, text):
    if pieces(secret, text) or len(secret) < 8:
        return
    assert Redactor([secret]).redact(text) == text


@settings(max_examples=100, deadline=None)
@given(
    # a common path word (``WEBHOOKB2``, Teams' ``/webhookb2/``) is by design no token
    token=st.text(alphabet=string.ascii_letters + string.digits, min_size=8, max_size=40).filter(
        lambda t: token_like(t) and t.lower() not in COMMON_PATH_WORDS
    ),
    query=st.text(alphabet=string.ascii_letters + string.digits, min_size=8, max_size=30),
    case=st.sampled_from([str, str.upper, str.lower]),
)
def test_url_token_and_query_echoed_anywhere_are_masked(token, query, case):
    url = f"https://hooks.example.com/services/{token}?sig={query}"
    redactor = Redactor([url])
    out = redactor.redact(f"500: no route {case(f'/services/{token}?sig={query}')} !")
    assert pieces(token, out) == [] and pieces(query, out) == []


WEBHOOKS = {
    "google chat": (
        "https://chat.googleapis.com/v1/spaces/AAAAq1b2c3d/messages"
        "?key=AIzaSyDdI0hCZtE6vySjMm-WEfRq3CPzqKqqsHI&token=Zq7xY2bW9vU1tS3rQ5pO",
        ["AAAAq1b2c3d", "AIzaSyDdI0hCZtE6vySjMm", "Zq7xY2bW9vU1tS3rQ5pO"],
    ),
    "teams": (
        "https://contoso.webhook.office.com/webhookb2/0e5f1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b"
        "@72f988bf-86f1-41af-91ab-2d7cd011db47/IncomingWebhook/a1b2c3d4e5f6/"
        "9c8b7a6d-5e4f-4a3b-2c1d-0e9f8a7b6c5d",
        ["0e5f1a2b-3c4d-4e5f", "72f988bf-86f1", "a1b2c3d4e5f6", "9c8b7a6d-5e4f-4a3b"],
    ),
}


@pytest.mark.parametrize("name", sorted(WEBHOOKS))
def test_ordinary_words_after_a_webhook_token_stay_readable(name):
    """Common path words after the token (``/messages``, ``/IncomingWebhook/``) are
    secret only inside the whole path, never on their own."""
    url, tokens = WEBHOOKS[name]
    redactor = Redactor([url])
    for text in (
        "notify: 3 messages delivered, 0 failed",
        "IncomingWebhook payload rejected; incoming webhook retried",
        "webhookb2 spaces and rooms",
    ):
        assert redactor.redact(text) == text
    for token in tokens:
        assert redactor.redact(f"404 {token.upper()}") == f"404 {MASK}"
    if name == "google chat":  # the whole tail, ordinary word included, is one secret
        echoed = redactor.redact("no such hook /v1/spaces/AAAAq1b2c3d/messages")
        assert echoed == f"no such hook /v1/spaces/{MASK}"
