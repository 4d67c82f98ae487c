"""The openai-compatible provider: configuration, wire parsing, no-key local servers."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from tradekernel.api import ChatMessage, ChatRequest, ConfigError, ProviderError
from tradekernel_openai_compatible import (
    build_payload,
    parse_completion,
    parse_retry_after,
    status_error_type,
)
from tradekernel_openai_compatible.testing import completion


def request(**kw) -> ChatRequest:
    return ChatRequest(model=kw.pop("model", ""), messages=[ChatMessage("user", "hi")], **kw)


def test_local_server_needs_no_key(make_kernel, server):
    kernel = make_kernel(f'base_url = "{server.base_url}"\nmodel = "llama3"\n')
    response = kernel.component("llm_provider").chat(request())
    assert response.provider == "openai-compatible"
    assert "Authorization" not in server.requests[0].headers
    assert server.requests[0].body["model"] == "llama3"


def test_key_from_named_variable(make_kernel, server):
    kernel = make_kernel(
        f'base_url = "{server.base_url}"\nmodel = "m"\napi_key_env = "LOCAL_KEY"\n',
        environ={"LOCAL_KEY": "abcd-1234"},
    )
    kernel.component("llm_provider").chat(request())
    assert server.requests[0].headers["Authorization"] == "Bearer abcd-1234"


def test_base_url_is_required(make_kernel):
    with pytest.raises(ConfigError, match=r"\[llm_provider.openai-compatible\] base_url"):
        make_kernel('model = "m"\n').component("llm_provider")


def test_no_model_anywhere(make_kernel, server):
    kernel = make_kernel(f'base_url = "{server.base_url}"\n')
    with pytest.raises(ProviderError) as info:
        kernel.component("llm_provider").chat(request())
    assert info.value.error_type == "no_model"
    assert server.count == 0


def test_extra_headers_and_retry_disabled(make_kernel, server):
    kernel = make_kernel(
        f'base_url = "{server.base_url}"\nmodel = "m"\nmax_attempts = 1\n'
        '[llm_provider.openai-compatible.headers]\nX-Org = "desk-1"\n'
    )
    server.push(status=500)
    with pytest.raises(ProviderError) as info:
        kernel.component("llm_provider").chat(request())
    assert info.value.error_type == "http_5xx" and len(info.value.attempts) == 1
    assert server.requests[0].headers["X-Org"] == "desk-1"


def test_payload_shape():
    payload = build_payload(
        request(temperature=None, max_tokens=None, response_schema={"type": "object"}),
        "m",
        structured_output=True,
    )
    assert payload == {
        "model": "m",
        "messages": [{"role": "user", "content": "hi"}],
        "response_format": {
            "type": "json_schema",
            "json_schema": {"name": "answer", "strict": True, "schema": {"type": "object"}},
        },
    }
    assert "response_format" not in build_payload(
        request(response_schema={"type": "object"}), "m", structured_output=False
    )


def test_parse_content_parts_and_tool_arguments_object():
    body = completion(None)
    body["choices"][0]["message"]["content"] = [
        {"type": "text", "text": "ab"},
        {"type": "text", "text": "c"},
    ]
    assert parse_completion(body)["content"] == "abc"
    body = completion("")
    body["choices"][0]["message"]["tool_calls"] = [{"function": {"arguments": {"a": 1}}}]
    assert parse_completion(body)["content"] == '{"a": 1}'


@pytest.mark.parametrize(
    "body", [[], "x", {"choices": "x"}, {"choices": [1]}, {"choices": [{"message": "x"}]}]
)
def test_parse_bad_bodies(body):
    with pytest.raises(ProviderError) as info:
        parse_completion(body)
    assert info.value.error_type == "bad_response"
    assert not info.value.retryable


def test_usage_ignores_non_numbers():
    body = completion("x", usage={"prompt_tokens": "12", "completion_tokens": True, "cost": "1"})
    usage = parse_completion(body)["usage"]
    assert usage.prompt_tokens is None and usage.completion_tokens is None
    assert usage.cost_usd is None


def test_retry_after_forms():
    now = datetime(2024, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after("Mon, 01 Jan 2024 12:00:10 GMT", now=now) == 10.0
    assert parse_retry_after("Mon, 01 Jan 2024 11:00:00 GMT", now=now) == 0.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


def test_status_error_types():
    assert status_error_type(503) == "http_5xx"
    assert status_error_type(429) == "http_429"
    assert status_error_type(404) == "http_404"


def test_registered_through_entry_point():
    from tradekernel.api import PluginRegistry

    spec = PluginRegistry().load().spec("llm_provider", "openai-compatible")
    assert spec.distribution == "tradekernel-openai-compatible"
