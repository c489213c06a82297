"""Every exception Veille raises on purpose, in one place."""

from __future__ import annotations


class VeilleError(Exception):
    """Base class: a problem a person can act on, with a one-line message."""


class ConfigError(VeilleError):
    """Raised by the config loaders when a YAML file is missing, malformed or invalid."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


class FeedError(VeilleError):
    """Raised by the feed and sitemap parsers when a body is not a usable feed."""


class UnsafeXMLError(FeedError):
    """Raised by the XML guard when a document declares entities (bomb or external entity)."""


class StorageError(VeilleError):
    """Raised by the archive when the database cannot be opened or written."""


class QueryError(VeilleError):
    """Raised by the topic query parser for a malformed `query:` (with the 1-based column)."""

    def __init__(self, message: str, column: int) -> None:
        self.column = column
        super().__init__(f"{message} at column {column}")


class BlockedAddressError(VeilleError):
    """Raised by the crawler's resolver when a host resolves to an address it may not fetch
    (loopback, private, link-local...: see crawler/addresses.py)."""
