"""Test helpers for notifier plugins: a real HTTP receiver on 127.0.0.1.

``HTTPReceiver`` answers each POST with the next scripted response (then the default),
or with ``handler(request)``, and records every request. Use it as a context manager::

    with HTTPReceiver([(500, "boom"), (200, "ok")]) as rx:
        ...  # POST to rx.url
        assert len(rx.requests) == 2
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from attrs import define, field

Response = tuple[int, str] | tuple[int, str, dict[str, str]]


@define
class ReceivedRequest:
    """One request the receiver got."""

    method: str
    path: str
    headers: dict[str, str]
    """Header names in lower case."""
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@define
class HTTPReceiver:
    """A threaded HTTP server on a random local port."""

    responses: list[Response] = field(factory=list, converter=list)
    default: Response = (200, "ok")
    handler: Callable[[ReceivedRequest], Response] | None = None
    requests: list[ReceivedRequest] = field(factory=list)
    _server: ThreadingHTTPServer | None = None
    _lock: threading.Lock = field(factory=threading.Lock)

    @property
    def url(self) -> str:
        assert self._server is not None, "the receiver is not running"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/hook"

    def _answer(self, request: ReceivedRequest) -> Response:
        with self._lock:
            self.requests.append(request)
            if self.handler is not None:
                return self.handler(request)
            return self.responses.pop(0) if self.responses else self.default

    def start(self) -> HTTPReceiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                request = ReceivedRequest(
                    method="POST",
                    path=self.path,
                    headers={k.lower(): v for k, v in self.headers.items()},
                    body=self.rfile.read(length),
                )
                status, body, *rest = receiver._answer(request)
                payload = body.encode()
                self.send_response(status)
                for name, value in (rest[0] if rest else {}).items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        ).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def script(self, responses: Iterable[Response]) -> None:
        """Replace the scripted responses."""
        with self._lock:
            self.responses = list(responses)

    def __enter__(self) -> HTTPReceiver:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
