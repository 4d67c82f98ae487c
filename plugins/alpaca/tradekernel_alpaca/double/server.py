"""The double as a real HTTP server on 127.0.0.1 (for end-to-end runs through the CLI):
the standard library's ``ThreadingHTTPServer`` in a daemon thread, on a free port."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from .core import AlpacaDouble, LostResponse, Request

MAX_REQUEST = 1024 * 1024


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # quiet: tests read stderr
        pass

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(min(length, MAX_REQUEST)) if length else b""
        parts = urlsplit(self.path)
        request = Request(
            method=self.command,
            path=parts.path,
            query=dict(parse_qsl(parts.query)),
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
        )
        try:
            reply = self.server.double.handle(request)
        except LostResponse:  # processed, then the connection drops without an answer
            self.close_connection = True
            self.connection.close()
            return
        content = self.server.double.encode(reply)
        self.send_response(reply.status)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        if content:
            self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(content)))
        self.end_headers()
        self.wfile.write(content)

    do_GET = do_POST = do_DELETE = do_PATCH = _serve


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    double: AlpacaDouble


class DoubleServer:
    """A running server: :attr:`url` (``http://127.0.0.1:<port>``) serves both the
    trading and the data API; :meth:`close` stops it. Also a context manager."""

    def __init__(self, double: AlpacaDouble, port: int = 0) -> None:
        self.double = double
        self._server = _Server(("127.0.0.1", port), _Handler)
        self._server.double = double
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="alpaca-double", daemon=True
        )
        self._thread.start()

    def close(self) -> None:
        """Stop serving and release the port."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> DoubleServer:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def serve(double: AlpacaDouble | None = None, port: int = 0) -> DoubleServer:
    """Serve ``double`` (a new one when ``None``) on 127.0.0.1 (``port`` 0: a free one)."""
    return DoubleServer(double or AlpacaDouble(), port)
