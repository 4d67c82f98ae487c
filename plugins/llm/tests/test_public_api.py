"""Pins the public import path of the chat types (``tradekernel.api``)."""


def test_public_chat_types_import_path():
    from tradekernel.api import ChatAttempt as Attempt
    from tradekernel.api import ChatMessage, ChatRequest, ChatResponse, ProviderError, Usage

    request = ChatRequest(model="m", messages=[ChatMessage("user", "hi")])
    assert request.messages == (ChatMessage("user", "hi"),)
    response = ChatResponse(
        model="m", content="x", usage=Usage(prompt_tokens=1), attempts=[Attempt(1, status=200)]
    )
    assert response.usage.prompt_tokens == 1
    error = ProviderError("boom", error_type="timeout", attempts=[Attempt(1, error_type="timeout")])
    assert error.error_type == "timeout" and len(error.attempts) == 1
    import tradekernel.api as api

    assert set(api.__all__) >= {
        "ChatAttempt",
        "ChatMessage",
        "ChatRequest",
        "ChatResponse",
        "ProviderError",
        "Usage",
    }
