"""The OpenRouter provider against a real local HTTP server speaking its wire format."""

from __future__ import annotations

import pytest
from tradekernel.api import ChatMessage, ChatRequest, ConfigError, ProviderError
from tradekernel_openai_compatible.testing import completion

SCHEMA = {"type": "object", "properties": {"a": {"type": "integer"}}}


def request(**kw) -> ChatRequest:
    return ChatRequest(
        model=kw.pop("model", ""), messages=[ChatMessage("user", "hi")], max_tokens=50, **kw
    )


def test_success_with_usage_and_cost(provider, server, api_key):
    server.push(
        body=completion(
            '{"a": 1}',
            model="openai/gpt-4o-mini",
            usage={
                "prompt_tokens": 12,
                "completion_tokens": 3,
                "total_tokens": 15,
                "cost": 0.00042,
            },
        )
    )
    response = provider.chat(request(response_schema=SCHEMA, schema_name="thing"))
    assert response.content == '{"a": 1}'
    assert response.model == "openai/gpt-4o-mini"
    assert response.provider == "openrouter"
    assert response.finish_reason == "stop"
    assert (response.usage.prompt_tokens, response.usage.completion_tokens) == (12, 3)
    assert response.usage.total_tokens == 15
    assert response.usage.cost_usd == pytest.approx(0.00042)
    assert [(a.number, a.status, a.error_type) for a in response.attempts] == [(1, 200, None)]
    seen = server.requests[0]
    assert seen.path == "/api/v1/chat/completions"
    assert seen.headers["Authorization"] == f"Bearer {api_key}"
    assert seen.body["model"] == "test/model"  # the provider default
    assert seen.body["messages"] == [{"role": "user", "content": "hi"}]
    assert seen.body["max_tokens"] == 50
    assert seen.body["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "thing", "strict": True, "schema": SCHEMA},
    }


def test_no_usage_means_none(provider, server):
    server.push(body=completion("x"))
    usage = provider.chat(request(model="m/x")).usage
    assert usage.prompt_tokens is None and usage.cost_usd is None
    assert server.requests[0].body["model"] == "m/x"


def test_structured_output_off_and_attribution_headers(make_kernel, server):
    kernel = make_kernel(
        server.base_url,
        'structured_output = false\nhttp_referer = "https://example.org/tk"\napp_title = "TK"\n',
    )
    kernel.component("llm_provider").chat(request(response_schema=SCHEMA))
    seen = server.requests[0]
    assert "response_format" not in seen.body
    assert seen.headers["HTTP-Referer"] == "https://example.org/tk"
    assert seen.headers["X-Title"] == "TK"


def test_refusal_and_null_content(provider, server):
    server.push(body=completion(None, refusal="I can't help with that."))
    response = provider.chat(request())
    assert response.content is None
    assert response.refusal == "I can't help with that."


def test_tool_call_arguments_used_when_content_empty(provider, server):
    server.push(body=completion("", tool_arguments='{"decision": "hold"}'))
    assert provider.chat(request()).content == '{"decision": "hold"}'


def test_429_with_retry_after_then_success(provider, server):
    sleeps: list[float] = []
    provider.client.sleep = sleeps.append
    server.push(status=429, headers={"Retry-After": "7"})
    server.push(body=completion("ok"))
    response = provider.chat(request())
    assert response.content == "ok"
    assert [(a.status, a.error_type) for a in response.attempts] == [(429, "http_429"), (200, None)]
    assert sleeps == [pytest.approx(0.02)]  # Retry-After 7 s capped at retry_after_cap


def test_502_twice_then_success(provider, server):
    server.push(status=502)
    server.push(status=502)
    server.push(body=completion("ok"))
    response = provider.chat(request())
    assert response.content == "ok"
    assert [a.number for a in response.attempts] == [1, 2, 3]
    assert [a.error_type for a in response.attempts] == ["http_5xx", "http_5xx", None]
    assert server.count == 3


def test_502_until_attempts_run_out(provider, server):
    for _ in range(3):
        server.push(status=503)
    with pytest.raises(ProviderError) as info:
        provider.chat(request())
    assert info.value.error_type == "http_5xx"
    assert info.value.status == 503
    assert len(info.value.attempts) == 3
    assert server.count == 3


@pytest.mark.parametrize("status", [400, 401, 402, 403])
def test_final_statuses_are_not_retried(provider, server, status):
    server.push(status=status, body={"error": {"code": status, "message": "nope"}})
    with pytest.raises(ProviderError) as info:
        provider.chat(request())
    assert info.value.error_type == f"http_{status}"
    assert len(info.value.attempts) == 1
    assert server.count == 1
    assert "nope" in str(info.value)


def test_read_timeout(make_kernel, server):
    kernel = make_kernel(server.base_url, 'read_timeout = "100ms"\nmax_attempts = 2\n')
    server.push(delay=0.5)
    server.push(delay=0.5)
    with pytest.raises(ProviderError) as info:
        kernel.component("llm_provider").chat(request())
    assert info.value.error_type == "timeout"
    assert [a.error_type for a in info.value.attempts] == ["timeout", "timeout"]


def test_connection_error(make_kernel):
    kernel = make_kernel("http://127.0.0.1:9/api/v1", "max_attempts = 2\n")
    with pytest.raises(ProviderError) as info:
        kernel.component("llm_provider").chat(request())
    assert info.value.error_type == "connection_error"
    assert len(info.value.attempts) == 2


def test_malformed_json_body(provider, server):
    server.push(body="{this is not json")
    with pytest.raises(ProviderError) as info:
        provider.chat(request())
    assert info.value.error_type == "bad_response"
    assert server.count == 1


def test_body_without_choices(provider, server):
    server.push(body={"id": "x", "choices": []})
    with pytest.raises(ProviderError) as info:
        provider.chat(request())
    assert info.value.error_type == "bad_response"


def test_200_with_error_object_is_retried(provider, server):
    server.push(body={"error": {"code": 502, "message": "upstream died"}})
    server.push(
        body={"choices": [{"error": {"code": 500, "message": "mid"}, "finish_reason": "error"}]}
    )
    server.push(body=completion("ok"))
    response = provider.chat(request())
    assert response.content == "ok"
    assert [a.error_type for a in response.attempts] == ["provider_error", "provider_error", None]


def test_200_with_error_object_final(provider, server):
    for _ in range(3):
        server.push(body={"error": {"code": 500, "message": "upstream died"}})
    with pytest.raises(ProviderError) as info:
        provider.chat(request())
    assert info.value.error_type == "provider_error"
    assert "upstream died" in str(info.value)


def test_missing_api_key_is_a_config_error_naming_the_variable(make_kernel, server):
    kernel = make_kernel(server.base_url, environ={})
    with pytest.raises(
        ConfigError,
        match=r"plugins.toml: \[llm_provider.openrouter\] api_key_env: .*OPENROUTER_API_KEY",
    ):
        kernel.component("llm_provider")


def test_custom_api_key_env(make_kernel, server):
    kernel = make_kernel(
        server.base_url, 'api_key_env = "MY_OR_KEY"\n', environ={"MY_OR_KEY": "k-12345"}
    )
    kernel.component("llm_provider").chat(request())
    assert server.requests[0].headers["Authorization"] == "Bearer k-12345"


def test_api_key_never_leaks(provider, server, logs, api_key):
    # a hostile server echoes the key back in its error message
    server.push(status=401, body={"error": {"code": 401, "message": f"bad key {api_key}"}})
    with pytest.raises(ProviderError) as info:
        provider.chat(request())
    texts = [str(info.value), repr(info.value), repr(provider), repr(provider.client), *logs]
    assert logs  # attempts are logged
    assert not [t for t in texts if api_key in t]
    assert "********" in str(info.value)


def test_unknown_config_key_names_section(make_kernel, server):
    with pytest.raises(ConfigError, match=r"\[llm_provider.openrouter\] retries: unknown key"):
        make_kernel(server.base_url, "retries = 3\n").component("llm_provider")
