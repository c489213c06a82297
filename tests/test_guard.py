"""The network guard: tests never reach beyond 127.0.0.1."""

from __future__ import annotations

import socket

import pytest


def test_guard_blocks_the_internet() -> None:
    with pytest.raises(AssertionError, match=r"leave 127\.0\.0\.1"):
        socket.create_connection(("192.0.2.1", 80), timeout=0.1)
