"""Selectors: "products that look like this one"."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from uuid import UUID

from catalog.models import Product
from vectors.client import GuardedClient, get_qdrant_client, models
from vectors.conf import QdrantConfig, qdrant_config
from vectors.exceptions import ProductNotIndexed


@dataclass(frozen=True)
class SimilarProduct:
    product: Product
    score: float


def similar_filter(
    *,
    exclude: str,
    store_id: str | None = None,
    price_min: Decimal | None = None,
    price_max: Decimal | None = None,
) -> models.Filter:
    """Other products than `exclude`, of this store, in this price range."""
    must: list[models.Condition] = []
    if store_id:
        must.append(models.FieldCondition(key="store_id", match=models.MatchValue(value=store_id)))
    if price_min is not None or price_max is not None:
        must.append(
            models.FieldCondition(
                key="price",
                range=models.Range(
                    gte=float(price_min) if price_min is not None else None,
                    lte=float(price_max) if price_max is not None else None,
                ),
            )
        )
    return models.Filter(must=must, must_not=[models.HasIdCondition(has_id=[exclude])])


# Filters that keep at most this share of the points walk the graph with ACORN. Measured at a
# million points on 2 cores (bench/million.py's store, engine alone): a store within +-15 % of
# a price (0.85 % of the points) kept recall@10 0.913 by plain HNSW, 1.000 with ACORN; a
# +-15 % price band alone (17.6 %) kept 0.964 by plain HNSW at p95 3.5 ms, against 25 ms
# with ACORN for 0.998. Qdrant's own default (0.4) would pay ACORN's cost for the latter.
ACORN_MAX_SELECTIVITY = 0.1


def search_params(*, price_filtered: bool) -> models.SearchParams | None:
    """A price range cuts the HNSW graph into pieces that a plain walk cannot cross, and
    recall falls where the filter is selective: ACORN also explores neighbours' neighbours
    there. Filtered sets under the engine's full-scan threshold are scored exactly anyway."""
    if not price_filtered:
        return None
    return models.SearchParams(
        acorn=models.AcornSearchParams(enable=True, max_selectivity=ACORN_MAX_SELECTIVITY)
    )


def similar_products(
    product: Product,
    *,
    limit: int = 10,
    store_id: str | None = None,
    price_min: Decimal | None = None,
    price_max: Decimal | None = None,
    client: GuardedClient | None = None,
    config: QdrantConfig | None = None,
) -> list[SimilarProduct]:
    """The products whose vectors are nearest to this one's, best first, the product itself
    excluded. Points whose product was deleted meanwhile (not yet synced) are skipped."""
    client = client or get_qdrant_client()
    config = config or qdrant_config()
    point_id = str(product.pk)
    found = client.retrieve(collection_name=config.collection, ids=[point_id], with_vectors=True)
    if not found:
        raise ProductNotIndexed(f"Product {point_id} has no vector yet; run sync_vectors.")
    hits = client.query_points(
        collection_name=config.collection,
        query=found[0].vector,
        query_filter=similar_filter(
            exclude=point_id, store_id=store_id, price_min=price_min, price_max=price_max
        ),
        search_params=search_params(price_filtered=price_min is not None or price_max is not None),
        # A few spare: a point may outlive its product until the next sync.
        limit=limit + min(limit, 10),
        with_payload=False,
    ).points
    products = Product.objects.in_bulk([UUID(str(hit.id)) for hit in hits])
    results = []
    for hit in hits:
        match = products.get(UUID(str(hit.id)))
        if match is not None:
            results.append(SimilarProduct(product=match, score=hit.score))
    return results[:limit]
