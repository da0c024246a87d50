"""A collection that does not hold the catalog fills itself.

The change log only says what changed; a collection that is new to the catalog (a new
QDRANT_PATH after `make clean`, a move to a Qdrant server, a collection recreated or lost)
has nothing in it, and no change would ever bring the unchanged products into it. So every
collection carries a generation in its metadata, written when it is created, and
PostgreSQL remembers which generations it has filled (FilledCollection). Each sync starts
by comparing the two: a generation the catalog has not filled gets every product queued
(the embedder decides which it can embed: the hashing stand-in needs no image), in the
change log's own rows of at most MAX_IDS ids, by one SQL statement, so that the normal
sync delivers them in bounded batches. Products already in the log are left to their
entries (a fresh import queues them itself).

A collection made before generations existed is tagged when first seen; it is counted as
filled when it holds at least as many points as the catalog has products that should have
one (with an image, unless the embedder needs none), less those queued, and filled
otherwise.
"""

from __future__ import annotations

import uuid

from django.db import IntegrityError, connection, transaction

from catalog.models import Product, ProductChange
from vectors.client import GuardedClient
from vectors.conf import QdrantConfig
from vectors.models import FilledCollection
from vectors.points import PAYLOAD_INDEXES, PAYLOAD_VERSION

GENERATION = "catalog_generation"
PAYLOAD = "catalog_payload_version"  # PAYLOAD_VERSION of the payloads its points hold

# Generations this process has seen filled: a sync loop polls every few seconds.
_known_filled: set[str] = set()


def new_generation() -> dict[str, str | int]:
    """The metadata a new collection is created with."""
    return {GENERATION: str(uuid.uuid4()), PAYLOAD: PAYLOAD_VERSION}


def fill_if_new(*, client: GuardedClient, config: QdrantConfig, needs_image: bool = True) -> int:
    """Queue every product not queued already when the collection behind the alias is new
    to the catalog; returns how many were queued (0 when it is not new). `needs_image`:
    the embedder gives no point to a product without an image (for collections from before
    generations, whose points are counted against the products that should have one)."""
    from vectors.collection import resolve_collection

    info = client.get_collection(config.collection)
    metadata = info.config.metadata or {}
    generation = metadata.get(GENERATION)
    if generation is not None and generation in _known_filled:
        return 0
    physical = resolve_collection(client=client, name=config.collection) or config.collection
    points = info.points_count or 0
    complete_untagged = False
    if generation is None:
        generation = new_generation()[GENERATION]
        client.update_collection_metadata(physical, {GENERATION: generation})
        complete_untagged = points >= _products_with_points(needs_image) - _queued()
    try:
        with transaction.atomic():
            FilledCollection.objects.create(generation=generation, collection=physical, queued=0)
            # An empty collection needs every vector: queued as such, the sync embeds them
            # ahead of its writes. Otherwise the sync embeds only the missing ones.
            queued = 0 if complete_untagged else _queue_unqueued_products(embed=points == 0)
            if queued:
                FilledCollection.objects.filter(generation=generation).update(queued=queued)
    except IntegrityError:
        queued = 0  # filled already, by this process earlier or by another one
    if metadata.get(PAYLOAD, 1) < PAYLOAD_VERSION:
        queued += _upgrade_payloads(client=client, physical=physical, info=info, queued=queued)
    _known_filled.add(generation)
    return queued


def _upgrade_payloads(*, client: GuardedClient, physical: str, info, queued: int) -> int:
    """Points written before PAYLOAD gained a field: its payload index added, and every
    product queued as a payload change (unless just queued in full), so that filters on the
    new field find them all. Returns how many were queued."""
    from vectors.collection import add_payload_indexes

    missing = [name for name in PAYLOAD_INDEXES if name not in (info.payload_schema or {})]
    if missing and client.engine != "memory":
        add_payload_indexes(client=client, physical=physical, fields=missing)
    rewritten = 0 if queued else _queue_unqueued_products(embed=False)
    client.update_collection_metadata(physical, {PAYLOAD: PAYLOAD_VERSION})
    return rewritten


def mark_filled(*, client: GuardedClient, collection: str) -> None:
    """For a collection filled by other means (reindex_vectors fills its new version)."""
    generation = (client.get_collection(collection).config.metadata or {}).get(GENERATION)
    if generation is not None:
        FilledCollection.objects.get_or_create(
            generation=generation, defaults={"collection": collection, "queued": 0}
        )


def _products_with_points(needs_image: bool) -> int:
    products = Product.objects.all()
    return (products.exclude(image_url="") if needs_image else products).count()


def _queued() -> int:
    from vectors.sync import pending_count

    return pending_count()


# Products that no log row names, MAX_IDS to a row in id order. The log's products are
# gathered once (a hash anti-join): bounded by the server's work_mem, spilled to disk
# beyond it, never held in this process.
QUEUE_UNQUEUED = """
WITH logged AS (
    SELECT DISTINCT unnest(product_ids) AS id FROM catalog_productchange
),
todo AS (
    SELECT p.id, (row_number() OVER (ORDER BY p.id) - 1) / %(step)s AS chunk
    FROM catalog_product p
    WHERE NOT EXISTS (SELECT 1 FROM logged WHERE logged.id = p.id)
)
INSERT INTO catalog_productchange (kind, needs_embedding, product_ids)
SELECT %(kind)s, %(embed)s, array_agg(id ORDER BY id) FROM todo GROUP BY chunk
RETURNING cardinality(product_ids)
"""


def _queue_unqueued_products(*, embed: bool) -> int:
    """Queue them, as needing new vectors (`embed`) or as payload changes: the sync then
    embeds a product whose point is missing and only rewrites the payload of one it finds
    (a restored or partly filled collection)."""
    with connection.cursor() as cursor:
        cursor.execute(
            QUEUE_UNQUEUED,
            {"step": ProductChange.MAX_IDS, "kind": ProductChange.Kind.UPDATE, "embed": embed},
        )
        return sum(row[0] for row in cursor.fetchall())
