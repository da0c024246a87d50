"""More like these: products near several liked products (and away from disliked ones), with
the same filters, collapse and caps as every search (vectors/search.py).

Qdrant's recommendation strategies: `average_vector` (Qdrant's default: one nearest query of
2 x the liked products' average minus the disliked ones' average, computed here so that every
engine runs it alike), and `best_score` and `sum_scores` (each candidate scored against every
example, by Qdrant: the server and Qdrant Edge both offer them).
"""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

import numpy as np

from catalog.models import Product
from vectors.client import GuardedClient, get_qdrant_client, models
from vectors.conf import QdrantConfig, qdrant_config
from vectors.search import SearchFilters, SimilarProduct, nearest_products

MAX_EXAMPLES = 20
STRATEGIES = ("average_vector", "best_score", "sum_scores")


@dataclass
class ExamplesNotFound(ValueError):
    """Examples the search cannot use: unknown to the catalog, or without a vector yet."""

    unknown: list[UUID]
    unsynced: list[UUID]

    def __str__(self) -> str:
        parts = []
        if self.unknown:
            parts.append(f"no such products: {', '.join(map(str, self.unknown))}")
        if self.unsynced:
            parts.append(f"not indexed yet: {', '.join(map(str, self.unsynced))}")
        return "; ".join(parts)


def recommend_products(
    positive: list[UUID],
    negative: list[UUID] = (),
    filters: SearchFilters | None = None,
    *,
    strategy: str = "average_vector",
    client: GuardedClient | None = None,
    config: QdrantConfig | None = None,
) -> list[SimilarProduct]:
    """Products like `positive` (and unlike `negative`), best first, the examples themselves
    (and, collapsed, their copies in other shops) left out. Raises ExamplesNotFound naming
    the examples it cannot use, ValueError for a strategy it does not know."""
    if strategy not in STRATEGIES:
        raise ValueError(f"Unknown strategy {strategy!r}; use one of {', '.join(STRATEGIES)}.")
    client = client or get_qdrant_client()
    config = config or qdrant_config()
    examples = list(dict.fromkeys([*positive, *negative]))
    found = client.retrieve(
        collection_name=config.collection,
        ids=[str(pid) for pid in examples],
        with_payload=False,
        with_vectors=True,
    )
    vectors = {UUID(str(point.id)): point.vector for point in found}
    missing = [pid for pid in examples if pid not in vectors]
    if missing:
        known = set(Product.objects.filter(pk__in=missing).values_list("pk", flat=True))
        raise ExamplesNotFound(
            unknown=[pid for pid in missing if pid not in known],
            unsynced=[pid for pid in missing if pid in known],
        )
    liked = [vectors[pid] for pid in positive]
    disliked = [vectors[pid] for pid in negative]
    if strategy == "average_vector":
        query = np.mean(liked, axis=0)
        if disliked:
            query = 2 * query - np.mean(disliked, axis=0)
        query = query.tolist()
    else:
        query = models.RecommendQuery(
            recommend=models.RecommendInput(
                positive=liked, negative=disliked, strategy=models.RecommendStrategy(strategy)
            )
        )
    return nearest_products(
        query,
        filters or SearchFilters(),
        exclude=[str(pid) for pid in examples],
        also=list(positive),
        client=client,
        config=config,
    )
