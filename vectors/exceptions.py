"""What can go wrong with the vector store, in terms callers can act on.

Raised `from` the qdrant-client, network or lock error that caused them; commands turn them into
CommandError, checks into check messages, health into a 503.
"""

from django.db import InterfaceError, OperationalError

# PostgreSQL away (down, restarting, a connection it dropped), as against one that answers
# with an error: what the sync and its loops wait out rather than report as a failure.
DATABASE_AWAY = (OperationalError, InterfaceError)


class VectorStoreError(Exception):
    """Base class: the vector store could not do what was asked."""


class VectorStoreUnavailable(VectorStoreError):
    """Qdrant cannot be reached: a server down or timing out, or an embedded store that
    another process holds."""


class StoreHeld(VectorStoreUnavailable):
    """An embedded store that another process holds; `holder` is what that process wrote
    about itself (pid, command, whether it syncs, whether it is a web server), or {}."""

    def __init__(self, message: str, holder: dict | None = None):
        super().__init__(message)
        self.holder = holder or {}


class StoreDiskFull(VectorStoreUnavailable):
    """An embedded store's disk has less room than a write (or opening) needs: nothing was
    written. An outage, not a product's fault: changes stay queued until space is freed."""

    def __init__(self, message: str, free_bytes: int = 0):
        super().__init__(message)
        self.free_bytes = free_bytes


class CollectionNotFound(VectorStoreError):
    """The configured collection (or alias) does not exist."""


class CollectionMismatch(VectorStoreError):
    """The collection exists but its vectors do not fit the configured spec."""

    def __init__(self, message: str, differences: list | None = None):
        super().__init__(message)
        self.differences = differences or []


class CollectionAlreadyExists(VectorStoreError):
    """Creating a collection or alias that another process created first."""


class ProductNotIndexed(VectorStoreError):
    """The product has no point in Qdrant yet (sync_vectors has not delivered it)."""


class ModelNotFound(VectorStoreError, OSError):
    """The embedding model's files are not where VECTORS_MODEL_DIR says."""


class EmbedderUnavailable(VectorStoreError):
    """The configured embedder cannot be loaded (its model or its packages are missing)."""


class AliasAlreadySwapped(VectorStoreError):
    """A re-index failed after the alias moved to the new collection: searches use it, but it
    may lack the last products written (reconcile_vectors --fix completes it)."""


class QueryNotSupported(Exception):
    """The configured embedder cannot embed this kind of query (the hashing stand-in and a
    photo): the API's 409, with this text."""


class ModelBusy(Exception):
    """Every slot for embedding shoppers' queries stayed busy for VECTORS_QUERY_WAIT: the
    API's 503 with Retry-After, rather than one more thread waiting on the model."""
