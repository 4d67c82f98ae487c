"""A stateful double of Alpaca's API, for tests (this plugin's and third parties').

* :class:`AlpacaDouble`: one account's orders (by id and by client order id), fills over
  time (FILL activities), positions, cash; Alpaca's JSON, statuses, error bodies and
  rate-limit headers; faults: 429 with ``X-Ratelimit-Reset``, 5xx (with
  ``Retry-After``), an answer lost after the order was created, duplicate client order
  ids (422 / 40010001), rejections, credentials echoed in error bodies.
* :meth:`AlpacaDouble.transport`: an ``httpx.MockTransport`` (no socket).
* :func:`serve`: the same double as an HTTP server on 127.0.0.1.
* :class:`AlpacaVenue`: the double through the broker contract kit's ``Venue``.

What it does not model: docs/brokers.md, "The Alpaca double"."""

from __future__ import annotations

from .core import AlpacaDouble, Reply, Request, error, route
from .server import DoubleServer, serve
from .venue import AlpacaVenue

__all__ = [
    "AlpacaDouble",
    "AlpacaVenue",
    "DoubleServer",
    "Reply",
    "Request",
    "error",
    "route",
    "serve",
]
