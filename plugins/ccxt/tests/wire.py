"""The HTTP side of the exchange doubles: ccxt's ``requests`` session replaced by one
that hands each request to a stateful double and returns its answer as a real
``requests.Response`` (status, headers, body), so ccxt's own error handling runs.

Every request is captured (method, path, query, form body, headers) for the tests to
check what ccxt really signed and sent.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import requests
from attrs import define, field
from requests.structures import CaseInsensitiveDict


@define
class Captured:
    """One request as it left ccxt."""

    method: str
    url: str
    path: str
    query: dict[str, str]
    form: dict[str, str]
    headers: dict[str, str]
    body: str = ""

    @property
    def params(self) -> dict[str, str]:
        """Query and form fields together."""
        return {**self.query, **self.form}


@define
class Answer:
    """What the double answers: an HTTP status, a JSON-able body, headers."""

    status: int
    body: Any
    headers: dict[str, str] = field(factory=dict)


class LostResponse(Exception):
    """The request was processed but its answer never arrives (raised as a timeout)."""


def encode(body: Any) -> str:
    """JSON text, Decimals as the exchange's strings."""
    if isinstance(body, str):
        return body
    return json.dumps(body, default=lambda v: format(v, "f") if isinstance(v, Decimal) else v)


def response(answer: Answer, url: str) -> requests.Response:
    """A ``requests.Response`` carrying ``answer``."""
    result = requests.Response()
    result.status_code = answer.status
    result.reason = requests.status_codes._codes.get(answer.status, ("",))[0].upper()
    result._content = encode(answer.body).encode()
    result.headers = CaseInsensitiveDict({"Content-Type": "application/json", **answer.headers})
    result.url = url
    result.encoding = "utf-8"
    return result


class Session(requests.Session):
    """The session ccxt sends through: every request goes to ``handler``."""

    def __init__(self, handler: Callable[[Captured], Answer]) -> None:
        super().__init__()
        self.handler = handler

    def request(self, method: str, url: str, data: Any = None, headers: Any = None, **_: Any):  # type: ignore[override]
        parts = urlsplit(url)
        body = data.decode() if isinstance(data, bytes) else (data or "")
        form = dict(parse_qsl(body, keep_blank_values=True)) if body and body[0] != "{" else {}
        captured = Captured(
            method=method.upper(),
            url=url,
            path=parts.path,
            query=dict(parse_qsl(parts.query, keep_blank_values=True)),
            form=form,
            headers=dict(headers or {}),
            body=body,
        )
        try:
            answer = self.handler(captured)
        except LostResponse:
            raise requests.Timeout(f"read timed out: {method} {parts.path}") from None
        return response(answer, url)
