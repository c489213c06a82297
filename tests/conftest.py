"""Shared fixtures, and a guard that fails any test trying to leave 127.0.0.1."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterator
from typing import Any

import pytest

_connect, _connect_ex = socket.socket.connect, socket.socket.connect_ex


def _allowed(address: Any) -> bool:
    if isinstance(address, tuple) and address:
        host = address[0]
        try:
            return ipaddress.ip_address(host).is_loopback
        except ValueError:
            return host == "localhost"
    return True  # Unix sockets and the like stay on this machine


def _guarded(original):
    def connect(self: socket.socket, address: Any) -> Any:
        if self.family in (socket.AF_INET, socket.AF_INET6) and not _allowed(address):
            raise AssertionError(f"test tried to leave 127.0.0.1: {address!r}")
        return original(self, address)

    return connect


@pytest.fixture(autouse=True, scope="session")
def _network_guard() -> Iterator[None]:
    socket.socket.connect = _guarded(_connect)
    socket.socket.connect_ex = _guarded(_connect_ex)
    yield
    socket.socket.connect, socket.socket.connect_ex = _connect, _connect_ex
