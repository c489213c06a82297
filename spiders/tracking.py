"""Counting each source's requests in flight, to know when a source has finished its crawl."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

T = TypeVar("T")


class Tracker:
    """Calls `on_done(source)` when the last tracked request of a source has settled."""

    def __init__(self, on_done: Callable[[str], None]) -> None:
        self.pending: Counter[str] = Counter()
        self.on_done = on_done

    def track(self, source: str, request: T) -> T:
        """Count a request about to be scheduled."""
        self.pending[source] += 1
        return request

    def settle(self, source: str) -> None:
        """A request (or the item it produced) is finished."""
        self.pending[source] -= 1
        if self.pending[source] <= 0:
            self.on_done(source)

    @contextmanager
    def settling(self, source: str) -> Iterator[None]:
        """Settle once the block (usually a callback generator) is exhausted."""
        try:
            yield
        finally:
            self.settle(source)
