"""Selectors: "products that look like this one"."""

from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import Decimal
from uuid import UUID

from django.db import connection
from django.db.models import OuterRef, Subquery

from catalog.exchange_rates import RateTable
from catalog.models import Product
from catalog.money import rounded
from vectors.client import GuardedClient, get_qdrant_client, models
from vectors.conf import QdrantConfig, qdrant_config
from vectors.exceptions import ProductNotIndexed
from vectors.models import DuplicateGroup
from vectors.points import PRICE_SPAN, currency_span


@dataclass(frozen=True)
class SimilarProduct:
    """What a shop front shows of a similar product (plain values: building twenty model
    instances cost a third of the endpoint's time)."""

    id: UUID
    title: str
    store_id: str
    price: Decimal
    currency: str
    image_url: str
    product_url: str
    score: float
    # The price in the asked currency, where the price filter converted it (PRICE_CONVERSION).
    converted_price: Decimal | None = None
    converted_currency: str | None = None
    # Where the same product is sold (its group of duplicates, itself included): the
    # cheapest OFFERS_SHOWN, cheapest first; empty when duplicates are not collapsed.
    offers: tuple[Offer, ...] = ()
    # How many copies its group holds in all (itself included); 0 when not collapsed.
    offers_total: int = 0


@dataclass(frozen=True)
class Offer:
    id: UUID
    store_id: str
    price: Decimal
    currency: str
    product_url: str


SHOWN_FIELDS = ("id", "title", "store_id", "price", "currency", "image_url", "product_url")


@dataclass(frozen=True)
class SearchFilters:
    """How many products, and which: one store's, a price range in `currency` (converted
    with `rates` into the other currencies they cover, PRICE_CONVERSION)."""

    limit: int = 10
    store_id: str | None = None
    price_min: Decimal | None = None
    price_max: Decimal | None = None
    currency: str | None = None
    rates: RateTable | None = None
    # Each group of duplicates (the same product in several shops) once, with its offers.
    collapse: bool = True
    # At most this many results from one store (None: no cap).
    per_store: int | None = None
    # 0: the nearest; up to 1: traded for variety with MMR (Qdrant's, on every engine).
    diversity: float = 0.0

    @property
    def price_filtered(self) -> bool:
        return self.price_min is not None or self.price_max is not None


def similar_filter(
    *,
    exclude: str | list[str] | None,
    store_id: str | None = None,
    price_min: Decimal | None = None,
    price_max: Decimal | None = None,
    currency: str | None = None,
    rates: RateTable | None = None,
) -> models.Filter:
    """Other products than `exclude`, of this store, in this price range of `currency`
    (a price range always means one currency: 100-300 USD is not 100-300 JPY). With `rates`
    covering `currency`, the range is converted into each currency the rates cover (one
    clause each, ~30 for the ECB's table); prices in other currencies are left out."""
    must: list[models.Condition] = []
    if store_id:
        must.append(models.FieldCondition(key="store_id", match=models.MatchValue(value=store_id)))
    if price_min is not None or price_max is not None:
        if not currency:
            raise ValueError("A price range needs its currency.")
        if rates is not None and rates.covers(currency):
            ranges = list(rates.ranges(price_min, price_max, currency))
        else:
            ranges = [(currency, price_min, price_max)]
        clauses = [_price_range(*each) for each in ranges]
        must.append(clauses[0] if len(clauses) == 1 else models.Filter(should=clauses))
    excluded = [exclude] if isinstance(exclude, str) else exclude
    must_not = [models.HasIdCondition(has_id=list(excluded))] if excluded else None
    return models.Filter(must=must or None, must_not=must_not)


def _price_range(currency: str, low: Decimal | None, high: Decimal | None) -> models.Condition:
    """Prices of `currency` from `low` to `high`: one range on the price key (vectors/points.py),
    open ends kept within the currency's span."""
    start = currency_span(currency)
    return models.FieldCondition(
        key="price_key",
        range=models.Range(
            gte=float(start + max(low, Decimal(0))) if low is not None else float(start),
            lte=float(start + min(high, PRICE_SPAN))
            if high is not None
            else float(start + PRICE_SPAN),
        ),
    )


# How many candidates the graph walk keeps (VECTORS_SEARCH_EF; Qdrant's default is the
# index's ef_construct, 100): recall against latency, measured by bench/million.py and
# bench/search.py (README, "Similar products").

# Range filters that keep at most this share of a segment's points walk the graph with ACORN
# (neighbours' neighbours too), where a plain walk would lose the pieces the filter cuts the
# graph into. A wider ACORN cost the price band's searches time for no recall at a million
# points (bench/RESULTS.md): Qdrant builds payload-aware links for the price index. Smaller
# sets (under the shard's full-scan threshold) are scored exactly; 1 % is left for larger segments
# (a server's), where a very narrow range would otherwise cut the graph.
ACORN_MAX_SELECTIVITY = 0.01
RESCORE_OVERSAMPLING = 2.0


def search_params(*, price_filtered: bool) -> models.SearchParams:
    """The graph walk's width, and ACORN for a selective price range."""
    acorn = None
    if price_filtered:
        acorn = models.AcornSearchParams(enable=True, max_selectivity=ACORN_MAX_SELECTIVITY)
    from django.conf import settings

    return models.SearchParams(
        hnsw_ef=settings.VECTORS_SEARCH_EF,
        acorn=acorn,
        # A quantized collection (QDRANT_QUANTIZATION=int8) walks the graph on its int8 copies
        # and scores the best RESCORE_OVERSAMPLING x limit again on the originals; ignored
        # where nothing is quantized.
        quantization=models.QuantizationSearchParams(
            rescore=True, oversampling=RESCORE_OVERSAMPLING
        ),
    )


def similar_products(
    product_id: UUID | str,
    *,
    limit: int = 10,
    store_id: str | None = None,
    price_min: Decimal | None = None,
    price_max: Decimal | None = None,
    currency: str | None = None,
    rates: RateTable | None = None,
    collapse: bool = True,
    per_store: int | None = None,
    diversity: float = 0.0,
    client: GuardedClient | None = None,
    config: QdrantConfig | None = None,
) -> list[SimilarProduct]:
    """The products whose vectors are nearest to this one's, best first, the product itself
    (and, with `collapse`, its duplicates in other shops) excluded. Points whose product was
    deleted meanwhile (not yet synced) are skipped. A price range compares prices in
    `currency`, by default the product's own, and with `rates` (PRICE_CONVERSION) prices in
    the other currencies they cover too. Raises
    Product.DoesNotExist for a product PostgreSQL does not have, ProductNotIndexed for one
    without a point yet.

    One query to PostgreSQL when the product is indexed (the results and the product itself,
    unordered: the similar-products endpoint is the API's hot path), and one more for the
    offers when a result has duplicates."""
    filters = SearchFilters(
        limit, store_id, price_min, price_max, currency, rates, collapse, per_store, diversity
    )
    return similar_to(product_id, filters, client=client, config=config)


def similar_to(
    product_id: UUID | str,
    filters: SearchFilters,
    *,
    client: GuardedClient | None = None,
    config: QdrantConfig | None = None,
) -> list[SimilarProduct]:
    """similar_products, its filters in one bundle (as the API builds them)."""
    client = client or get_qdrant_client()
    config = config or qdrant_config()
    point_id = str(product_id)
    found = client.retrieve(collection_name=config.collection, ids=[point_id], with_vectors=True)
    if not found:
        if not Product.objects.filter(pk=point_id).exists():
            raise Product.DoesNotExist(f"No product {point_id}.")
        raise ProductNotIndexed(f"Product {point_id} has no vector yet; run sync_vectors.")
    if filters.price_filtered and not filters.currency:
        currency = (found[0].payload or {}).get("currency") or _currency_of(point_id)
        filters = replace(filters, currency=currency)
    itself = UUID(point_id)
    results, shown = _nearest(
        found[0].vector, filters, exclude=point_id, also=[itself], client=client, config=config
    )
    if itself not in shown:  # deleted; its point goes with the next sync
        raise Product.DoesNotExist(f"No product {point_id}.")
    return results


def nearest_products(
    query,
    filters: SearchFilters = SearchFilters(),
    *,
    exclude: list[str] | None = None,
    also: list[UUID] = (),
    client: GuardedClient | None = None,
    config: QdrantConfig | None = None,
) -> list[SimilarProduct]:
    """The products nearest to a query (a vector: words or a photo embedded in the
    collection's space; or a Qdrant recommendation query), best first, with the same filters
    as similar_products; a price range needs its `currency` (there is no product to take it
    from). `exclude`: product ids left out; `also`: products whose copies in other shops are
    left out too when collapsing."""
    results, _ = _nearest(
        query,
        filters,
        exclude=exclude,
        also=list(also),
        client=client or get_qdrant_client(),
        config=config or qdrant_config(),
    )
    return results


# Pages of hits asked of Qdrant at most when duplicates are collapsed or stores capped: the
# first as large as a plain search's (most answers need no more), each next one twice the
# last (20, 40, 80, 160 hits for 10 results). More copies of one product than that is rare,
# and shown short.
MAX_PAGES = 4
# Candidates MMR chooses a diverse answer among (at least).
MMR_CANDIDATES = 100


def _nearest(
    vector, filters: SearchFilters, *, exclude, also, client, config
) -> tuple[list[SimilarProduct], set[UUID]]:
    """The nearest products as shown, best first, and the ids of every product found in
    PostgreSQL (`also` among them): each page's hits and `also` are read in one query. With
    `collapse`, one product a group of duplicates (the group of `exclude` left out: the
    same product), more pages asked while fewer than `limit` distinct ones came, and each
    result's offers read in one more query."""
    limit, currency, rates = filters.limit, filters.currency, filters.rates
    query_filter = similar_filter(
        exclude=exclude,
        store_id=filters.store_id,
        price_min=filters.price_min,
        price_max=filters.price_max,
        currency=currency,
        rates=rates,
    )
    if not query_filter.must and not query_filter.must_not:
        query_filter = None
    # A few spare: a point may outlive its product until the next sync.
    page = limit + min(limit, 10)
    capped = filters.collapse or filters.per_store is not None
    query = vector
    if filters.diversity > 0 and isinstance(vector, list):
        query = models.NearestQuery(
            nearest=vector,
            mmr=models.Mmr(
                diversity=filters.diversity, candidates_limit=max(MMR_CANDIDATES, 2 * page)
            ),
        )
    per_store: dict[str, int] = {}
    # Prices are converted into `currency` where the filter converted them.
    converting = filters.price_filtered and rates is not None and rates.covers(currency)
    results: list[SimilarProduct] = []
    groups_of: dict[UUID, UUID] = {}
    shown_groups: set[UUID] = set()
    found_ids: set[UUID] = set()
    offset = 0
    for number in range(MAX_PAGES if capped else 1):
        if number:  # duplicates or one store took the slots: ask further, twice as far
            offset, page = offset + page, 2 * page
        hits = client.query_points(
            collection_name=config.collection,
            query=query,
            query_filter=query_filter,
            search_params=search_params(price_filtered=filters.price_filtered),
            limit=page,
            offset=offset or None,
            with_payload=False,
        ).points
        wanted = [*(also if number == 0 else ()), *(UUID(str(hit.id)) for hit in hits)]
        rows = _shown_rows(wanted, with_groups=filters.collapse)
        found_ids |= set(rows)
        if number == 0 and filters.collapse:
            shown_groups |= {rows[pid][1] or pid for pid in also if pid in rows}
        for hit in hits:
            hit_id = UUID(str(hit.id))
            if hit_id not in rows:
                continue
            row, group = rows[hit_id]
            store = row[SHOWN_FIELDS.index("store_id")]
            if filters.per_store is not None and per_store.get(store, 0) >= filters.per_store:
                continue
            if filters.collapse:
                if (group or hit_id) in shown_groups:
                    continue
                shown_groups.add(group or hit_id)
                if group is not None:
                    groups_of[hit_id] = group
            per_store[store] = per_store.get(store, 0) + 1
            found_product = SimilarProduct(*row, score=hit.score)
            if converting and found_product.currency != currency:
                found_product = _converted(found_product, rates, currency)
            results.append(found_product)
            if len(results) == limit:
                break
        if len(results) >= limit or len(hits) < page:
            break
    if filters.collapse:
        results = _with_offers(results, groups_of, rates)
    return results, found_ids


# The copies a result shows of its group, the cheapest: a shop front shows a few prices, and a
# group may hold up to MAX_GROUP (vectors/duplicates.py) copies: every copy made one answer
# 545 offers, 87 KB, most of its time reading and serialising them (bench/RESULTS.md).
OFFERS_SHOWN = 10
# Per group, the OFFERS_SHOWN cheapest of each currency and how many copies in all: the
# cheapest OFFERS_SHOWN across currencies (converted, _cheapness) are among those, and only
# those rows leave PostgreSQL however large the group.
_CHEAPEST_OFFERS = """
SELECT group_id, id, store_id, price, currency, product_url, copies FROM (
    SELECT g.group_id, p.id, p.store_id, p.price, p.currency, p.product_url,
           count(*) OVER (PARTITION BY g.group_id) AS copies,
           row_number() OVER (
               PARTITION BY g.group_id, p.currency ORDER BY p.price, p.store_id, p.id
           ) AS cheapness
    FROM vectors_duplicategroup g
    JOIN catalog_product p ON p.id = g.product_id
    WHERE g.group_id = ANY(%s)
) ranked
WHERE cheapness <= %s
"""

# A product's group of duplicates (NULL: alone), read beside its row.
_GROUP_OF_PRODUCT = Subquery(
    DuplicateGroup.objects.filter(product_id=OuterRef("pk")).values("group_id")[:1]
)


def _shown_rows(ids: list[UUID], *, with_groups: bool) -> dict[UUID, tuple[tuple, UUID | None]]:
    """What is shown of these products, and each one's group of duplicates (None: alone)."""
    products = Product.objects.filter(pk__in=ids).order_by()
    if not with_groups:
        return {row[0]: (row, None) for row in products.values_list(*SHOWN_FIELDS)}
    return {
        row[0]: (row[:-1], row[-1])
        for row in products.annotate(duplicate_group=_GROUP_OF_PRODUCT).values_list(
            *SHOWN_FIELDS, "duplicate_group"
        )
    }


def _with_offers(
    results: list[SimilarProduct], groups_of: dict[UUID, UUID], rates: RateTable | None
) -> list[SimilarProduct]:
    """Each result with its group's cheapest OFFERS_SHOWN offers, cheapest first (in its own
    currency; others converted where the rates cover them, else after those), and how many
    its group holds; `groups_of`: the results that have duplicates, with their group."""
    members: dict[UUID, list[Offer]] = {}
    copies: dict[UUID, int] = {}
    if groups_of:
        with connection.cursor() as cursor:
            cursor.execute(_CHEAPEST_OFFERS, [list(set(groups_of.values())), OFFERS_SHOWN])
            for group, *offer, total in cursor.fetchall():
                members.setdefault(group, []).append(Offer(*offer))
                copies[group] = total
    shown = []
    for item in results:
        group = groups_of.get(item.id)
        # A group gone since its hits were read (regrouped meanwhile): the result alone.
        offers = members.get(group) or [
            Offer(item.id, item.store_id, item.price, item.currency, item.product_url)
        ]
        offers.sort(key=lambda offer, item=item: _cheapness(offer, item.currency, rates))
        shown.append(
            replace(
                item,
                offers=tuple(offers[:OFFERS_SHOWN]),
                offers_total=copies.get(group, len(offers)),
            )
        )
    return shown


def _cheapness(offer: Offer, currency: str, rates: RateTable | None) -> tuple:
    if offer.currency == currency:
        return (0, offer.price, offer.store_id)
    if rates is not None and rates.covers(offer.currency) and rates.covers(currency):
        return (0, rates.convert(offer.price, offer.currency, currency), offer.store_id)
    return (1, offer.currency, offer.price, offer.store_id)


def same_product_elsewhere(product_id: UUID | str) -> list[SimilarProduct]:
    """The other copies of this product (its group of duplicates), cheapest first within a
    currency; empty when no other shop sells it. PostgreSQL only."""
    group = DuplicateGroup.objects.filter(product_id=product_id).values("group_id")
    members = DuplicateGroup.objects.filter(group_id__in=group).exclude(product_id=product_id)
    rows = (
        Product.objects.filter(pk__in=members.values("product_id"))
        .order_by("currency", "price", "store_id")
        .values_list(*SHOWN_FIELDS)
    )
    return [SimilarProduct(*row, score=1.0) for row in rows]


def _converted(product: SimilarProduct, rates: RateTable, currency: str) -> SimilarProduct:
    # The filter read the point's currency; PostgreSQL's may have changed since (the sync
    # rewrites the payload soon) to one the rates do not cover: shown, but not converted.
    if not rates.covers(product.currency):
        return product
    price = rounded(rates.convert(product.price, product.currency, currency), currency)
    return replace(product, converted_price=price, converted_currency=currency)


def _currency_of(product_id: str) -> str:
    """A point written before payloads held the currency (its rewrite is queued)."""
    currency = Product.objects.filter(pk=product_id).values_list("currency", flat=True).first()
    if currency is None:
        raise Product.DoesNotExist(f"No product {product_id}.")
    return currency
