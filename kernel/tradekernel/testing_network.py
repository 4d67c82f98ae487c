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
    """Patches socket connects, datagram sends (``sendto``, ``sendmsg``) and name
    lookups (``getaddrinfo``, ``gethostbyname``, ``gethostbyname_ex``,
    ``gethostbyaddr``): only loopback is allowed; anything else raises and is remembered
    (so a broker that swallows the error still fails)."""

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
        self._guard_sends(monkeypatch, refuse)
        self._guard_lookups(monkeypatch, refuse)

    @staticmethod
    def _guard_sends(monkeypatch: pytest.MonkeyPatch, refuse: Any) -> None:
        """``sendto(data[, flags], address)`` and ``sendmsg(buffers, ancdata, flags,
        address)`` to an address outside loopback (a connected socket's plain sends went
        through the guarded ``connect``)."""
        sendto = socket.socket.sendto
        sendmsg = socket.socket.sendmsg

        def guarded_sendto(sock: socket.socket, data: Any, *args: Any) -> Any:
            if args and not _loopback(args[-1]):
                raise refuse(f"sendto {args[-1]!r}")
            return sendto(sock, data, *args)

        def guarded_sendmsg(sock: socket.socket, buffers: Any, *args: Any) -> Any:
            if len(args) >= 3 and args[2] is not None and not _loopback(args[2]):
                raise refuse(f"sendmsg to {args[2]!r}")
            return sendmsg(sock, buffers, *args)

        monkeypatch.setattr(socket.socket, "sendto", guarded_sendto)
        monkeypatch.setattr(socket.socket, "sendmsg", guarded_sendmsg)

    @staticmethod
    def _guard_lookups(monkeypatch: pytest.MonkeyPatch, refuse: Any) -> None:
        """The older resolver calls: a name (or, reversed, an address) outside loopback."""
        for name in ("gethostbyname", "gethostbyname_ex", "gethostbyaddr"):
            original = getattr(socket, name)

            def guarded(host: Any, _original: Any = original, _name: str = name) -> Any:
                text = host.decode() if isinstance(host, bytes) else host
                if not _loopback((text,)):
                    raise refuse(f"{_name} of {text!r}")
                return _original(host)

            monkeypatch.setattr(socket, name, guarded)


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Within the test, a socket may connect or send datagrams only to loopback
    (127.0.0.1, ::1, a local socket file) and only loopback names resolve; anything
    else raises and FAILS the test at teardown even if the code under test swallowed
    the error. Yields the list of refused attempts."""
    guard = NetworkGuard(monkeypatch)
    yield guard.attempts
    if guard.attempts:
        pytest.fail(f"no_network: the test tried to leave the machine: {guard.attempts}")
