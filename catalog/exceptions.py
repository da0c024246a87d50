"""What can go wrong in the catalog, in terms callers can act on: one family, so that a
command maps it in one place (an `except ImportFailed` in import_products, a CommandError
line), the way vectors/exceptions.py does for the vector store."""

from __future__ import annotations


class CatalogError(Exception):
    """Base class: the catalog could not do what was asked."""


class DatabaseUnavailable(CatalogError):
    """The PostgreSQL server could not be reached or refused the request."""


class RecordRejected(CatalogError):
    """One record of a feed breaks a product rule: that record is rejected, the rest go on."""

    def __init__(self, field: str, reason: str):
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


class ImportFailed(CatalogError):
    """An import cannot go on; what was saved before stays, and nothing is pruned."""


class SourceError(ImportFailed):
    """The source cannot be used as given (unknown format, missing credentials...)."""


class FeedError(ImportFailed):
    """The feed cannot be read at all (missing file, not the format it claims)."""


class FetchError(ImportFailed):
    """A shop's API failed for good.

    `status` and `code` are the HTTP status and WordPress error code, when the shop answered.
    """

    def __init__(self, message: str, *, status: int | None = None, code: str = ""):
        super().__init__(message)
        self.status = status
        self.code = code


class WorkerCrashed(ImportFailed):
    """The import's reader process died or raised something that could not be sent back."""


class ExchangeRatesUnavailable(CatalogError):
    """A reference-rate file could not be fetched, read or stored; the rates already
    loaded stay as they were."""
