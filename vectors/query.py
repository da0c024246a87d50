"""Searches a shopper starts from a query rather than a product: words (and, to come, a
photo). The query is embedded in the collection's space by the configured embedder, then
searched with the same filters and answer as similar products (vectors/search.py)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from catalog.exchange_rates import RateTable
from vectors.exceptions import QueryNotSupported
from vectors.search import SimilarProduct, nearest_products


@dataclass(frozen=True)
class QueryAnswer:
    results: list[SimilarProduct]
    truncated: bool  # the embedder took only the query's first words


def search_by_words(
    text: str,
    *,
    limit: int = 10,
    store_id: str | None = None,
    price_min: Decimal | None = None,
    price_max: Decimal | None = None,
    currency: str | None = None,
    rates: RateTable | None = None,
) -> QueryAnswer:
    """Products that match these words, best first. Raises ValueError for words the
    embedder finds nothing in, QueryNotSupported when it cannot embed words at all,
    EmbedderUnavailable / VectorStoreError when the model or Qdrant cannot be reached."""
    from vectors.embedders import get_embedder

    embedder = get_embedder()
    embed_text = getattr(embedder, "embed_text", None)
    if embed_text is None:
        raise QueryNotSupported(
            f"The configured embedder ({embedder.name}) cannot embed words; "
            "search by a product or a photo instead."
        )
    query = embed_text(text)
    results = nearest_products(
        query.vector.tolist(),
        limit=limit,
        store_id=store_id,
        price_min=price_min,
        price_max=price_max,
        currency=currency,
        rates=rates,
    )
    return QueryAnswer(results=results, truncated=query.truncated)
