"""Searches a shopper starts from a query rather than a product: words or a photo. The query
is embedded in the collection's space by the configured embedder, then searched with the
same filters and answer as similar products (vectors/search.py).

Embedding a query runs the model in the web process, so it takes one of
VECTORS_QUERY_CONCURRENCY slots; a query that cannot get one within VECTORS_QUERY_WAIT
seconds in all (the time it queued for a web thread included) is refused (ModelBusy: the API's
503 with Retry-After) instead of queueing threads.
Fetching a photo from an address a shopper gave is bounded the same way.
"""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass

from config.arrival import queued_seconds
from vectors.exceptions import ModelBusy, QueryNotSupported
from vectors.search import SearchFilters, SimilarProduct, nearest_products


@dataclass(frozen=True)
class QueryAnswer:
    results: list[SimilarProduct]
    truncated: bool  # the embedder took only the query's first words
    # Seconds waiting (for a web thread, then a model slot), and running the model: the API's
    # Server-Timing.
    wait_seconds: float = 0.0
    model_seconds: float = 0.0


class _Slots:
    """A semaphore sized by a setting (re-made when the setting changes): `turn()` takes a
    free one at once, else waits for one what is left of VECTORS_QUERY_WAIT after the time
    the request already spent queued for a web thread (config/arrival.py), else raises
    ModelBusy: no request waits longer than the limit in all."""

    def __init__(self, what: str, size) -> None:
        self.what, self._size_setting = what, size
        self._lock = threading.Lock()
        self._size = 0
        self._slots = threading.BoundedSemaphore(1)

    def _current(self) -> tuple[threading.BoundedSemaphore, int]:
        size = max(1, self._size_setting())
        with self._lock:
            if size != self._size:
                self._size, self._slots = size, threading.BoundedSemaphore(size)
            return self._slots, size

    @contextmanager
    def turn(self):
        from django.conf import settings

        slots, size = self._current()
        limit = settings.VECTORS_QUERY_WAIT
        if not slots.acquire(blocking=False):
            queued = queued_seconds()
            if not slots.acquire(timeout=max(0.0, limit - queued)):
                raise ModelBusy(
                    f"all {size} {self.what} slots stayed busy; the request waited "
                    f"{max(limit, queued):.1f}s in all (limit {limit:g}s)"
                )
        try:
            yield
        finally:
            slots.release()


def _concurrency() -> int:
    from django.conf import settings

    return settings.VECTORS_QUERY_CONCURRENCY


# Embedding a query (the model); fetching a shopper's photo from its address (the network:
# a slow address holds a web thread for up to VECTORS_IMAGE_TIMEOUT, so these are bounded
# too, at twice as many).
model_slots = _Slots("query", _concurrency)
fetch_slots = _Slots("photo fetch", lambda: 2 * _concurrency())


def _embedder_method(kind: str, method: str, instead: str):
    from vectors.embedders import get_embedder

    embedder = get_embedder()
    embed = getattr(embedder, method, None)
    if embed is None:
        raise QueryNotSupported(
            f"The configured embedder ({embedder.name}) cannot embed {kind}; {instead}."
        )
    return embed


def _embedded(embed, query_input):
    """(query embedding, seconds waited for a web thread and a slot, seconds in the model)."""
    asked = time.perf_counter()
    with model_slots.turn():
        started = time.perf_counter()
        query = embed(query_input)
    return query, queued_seconds() + started - asked, time.perf_counter() - started


def _search(embedded, filters: SearchFilters) -> QueryAnswer:
    query, waited, modelled = embedded
    results = nearest_products(query.vector.tolist(), filters)
    return QueryAnswer(
        results=results, truncated=query.truncated, wait_seconds=waited, model_seconds=modelled
    )


def search_by_words(text: str, filters: SearchFilters) -> QueryAnswer:
    """Products that match these words, best first. Raises ValueError for words the
    embedder finds nothing in, QueryNotSupported when it cannot embed words at all,
    ModelBusy when no slot frees in time, EmbedderUnavailable / VectorStoreError when the
    model or Qdrant cannot be reached."""
    embed = _embedder_method("words", "embed_text", "search by a product or a photo instead")
    return _search(_embedded(embed, text), filters)


PHOTO_INSTEAD = "search by words or a product instead"


def search_by_image(data: bytes, filters: SearchFilters) -> QueryAnswer:
    """Products that look like this photo (its bytes; never stored), best first. Raises
    ValueError naming what is wrong with the image, and as search_by_words otherwise."""
    embed = _embedder_method("a photo", "embed_image", PHOTO_INSTEAD)
    return _search(_embedded(embed, data), filters)


def search_by_image_url(url: str, filters: SearchFilters) -> QueryAnswer:
    """As search_by_image, for a photo at a public address (fetched as products' images
    are, outside the model's slot). Raises ValueError saying why it could not be had."""
    fetch = _embedder_method("a photo", "fetch_image", PHOTO_INSTEAD)
    with fetch_slots.turn():
        data = fetch(url)
    return search_by_image(data, filters)
