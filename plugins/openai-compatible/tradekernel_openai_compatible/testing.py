"""A scripted fake chat/completions server for tests (OpenAI/OpenRouter wire format).

Real HTTP on 127.0.0.1 with a random port, in a thread. Queue answers with
:meth:`FakeChatServer.push`; with nothing queued it answers ``default``. Every request
is kept in ``requests`` (path, headers, JSON body)::

    with FakeChatServer() as server:
        server.push(status=429, headers={"Retry-After": "1"})
        server.push(body=completion('{"decision": "hold", "reason": "x", "intents": []}'))
        base_url = server.base_url
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from attrs import define, field


def completion(
    content: str | None = "",
    *,
    model: str = "test/model",
    refusal: str | None = None,
    tool_arguments: str | None = None,
    finish_reason: str | None = "stop",
    usage: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A chat completion body as OpenRouter returns it (``finish_reason=None``: the
    choice has no ``finish_reason`` key)."""
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if refusal is not None:
        message["refusal"] = refusal
    if tool_arguments is not None:
        message["tool_calls"] = [
            {
                "id": "call_1",
                "type": "function",
                "function": {"name": "decide", "arguments": tool_arguments},
            }
        ]
    body: dict[str, Any] = {
        "id": "gen-test",
        "object": "chat.completion",
        "created": 1700000000,
        "model": model,
        "choices": [{"index": 0, "message": message}],
    }
    if finish_reason is not None:
        body["choices"][0]["finish_reason"] = finish_reason
    if usage is not None:
        body["usage"] = usage
    return body


@define
class Reply:
    status: int = 200
    body: Any = None
    """A dict (sent as JSON), ``str``/``bytes`` (sent as is) or ``None`` (a completion)."""
    headers: dict[str, str] = field(factory=dict)
    delay: float = 0.0


@define
class Seen:
    path: str
    headers: dict[str, str]
    body: Any


class FakeChatServer:
    """Answers ``POST .../chat/completions`` from a script (see module docstring)."""

    def __init__(self, default: Reply | None = None) -> None:
        self.default = default or Reply(
            body=completion('{"decision": "hold", "reason": "default", "intents": []}')
        )
        self.script: deque[Reply] = deque()
        self.requests: list[Seen] = []
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def base_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}/api/v1"

    @property
    def count(self) -> int:
        return len(self.requests)

    def push(
        self,
        *,
        status: int = 200,
        body: Any = None,
        headers: dict[str, str] | None = None,
        delay: float = 0.0,
    ) -> None:
        """Queue one answer."""
        self.script.append(Reply(status, body, headers or {}, delay))

    def start(self) -> FakeChatServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> FakeChatServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _next(self) -> Reply:
        with self._lock:
            return self.script.popleft() if self.script else self.default

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # keep test output clean
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = raw.decode(errors="replace")
                with server._lock:
                    server.requests.append(Seen(self.path, dict(self.headers.items()), body))
                reply = server._next()
                if reply.delay:
                    time.sleep(reply.delay)
                if not self.path.endswith("/chat/completions"):
                    reply = Reply(404, {"error": {"code": 404, "message": "not found"}})
                payload = reply.body
                if payload is None:
                    payload = (
                        completion("")
                        if reply.status == 200
                        else {"error": {"code": reply.status, "message": "scripted"}}
                    )
                data = (
                    payload
                    if isinstance(payload, bytes)
                    else payload.encode()
                    if isinstance(payload, str)
                    else json.dumps(payload).encode()
                )
                try:
                    self.send_response(reply.status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    for name, value in reply.headers.items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (read timeout tests)

        return Handler
