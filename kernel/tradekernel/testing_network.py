"""A network guard for tests: sockets may connect only to loopback.

:func:`no_network` is a pytest fixture (loaded in every test suite through the broker
contract kit's ``pytest11`` entry point); :class:`NetworkGuard` is what it and
:class:`~tradekernel.broker_contract.BrokerContract` install.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterator
from typing import Any

import pytest

_LOOPBACK_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost"}


def _loopback(address: Any) -> bool:
    if isinstance(address, str | bytes):  # an AF_UNIX path
        return True
    host = address[0] if isinstance(address, tuple) and address else address
    if not isinstance(host, str):
        return False
    if host.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


class NetworkGuard:
    """Patches socket connects and name lookups: only loopback is allowed; anything else
    raises and is remembered (so a broker that swallows the error still fails)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.attempts: list[str] = []
        connect = socket.socket.connect
        connect_ex = socket.socket.connect_ex
        getaddrinfo = socket.getaddrinfo

        def refuse(what: str) -> OSError:
            self.attempts.append(what)
            return ConnectionRefusedError(f"no_network: {what} is outside the test's double")

        def guarded_connect(sock: socket.socket, address: Any) -> Any:
            if not _loopback(address):
                raise refuse(f"connect to {address!r}")
            return connect(sock, address)

        def guarded_connect_ex(sock: socket.socket, address: Any) -> Any:
            if not _loopback(address):
                raise refuse(f"connect to {address!r}")
            return connect_ex(sock, address)

        def guarded_getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
            name = host.decode() if isinstance(host, bytes) else host
            if name is not None and not _loopback((name,)):
                raise refuse(f"name lookup of {name!r}")
            return getaddrinfo(host, *args, **kwargs)

        monkeypatch.setattr(socket.socket, "connect", guarded_connect)
        monkeypatch.setattr(socket.socket, "connect_ex", guarded_connect_ex)
        monkeypatch.setattr(socket, "getaddrinfo", guarded_getaddrinfo)


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Within the test, a socket may connect only to loopback (127.0.0.1, ::1, a local
    socket file) and only loopback names resolve; anything else raises and FAILS the
    test at teardown even if the code under test swallowed the error. Yields the list
    of refused attempts."""
    guard = NetworkGuard(monkeypatch)
    yield guard.attempts
    if guard.attempts:
        pytest.fail(f"no_network: the test tried to leave the machine: {guard.attempts}")
