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

A collection restored from an older copy (the embedded store's backup, a server snapshot)
has a generation the catalog knows, but lacks what was delivered after the copy was taken,
and the change log no longer holds those changes. So after each sync that delivered
something, the time through which the collection holds every change (the oldest change
still queued, or now) is written into its metadata and into FilledCollection. A collection
whose time is older than the catalog's was restored: the products changed since its time
(less RESTORE_SLACK) are queued for new vectors, and the points of products deleted since
are removed (one scroll), so that it converges with no command typed.
"""

from __future__ import annotations

import datetime
import logging
import uuid

from django.db import IntegrityError, connection, transaction

from catalog.models import Product
from config.text import counted
from vectors.client import GuardedClient
from vectors.conf import Engine, QdrantConfig
from vectors.models import FilledCollection, ProductChange
from vectors.points import PAYLOAD_INDEXES, PAYLOAD_VERSION

logger = logging.getLogger(__name__)

GENERATION = "catalog_generation"
PAYLOAD = "catalog_payload_version"  # PAYLOAD_VERSION of the payloads its points hold
SYNCED_THROUGH = "catalog_synced_through"  # ISO time: every change before it is in here
# A restored collection gets the products changed since its time less this: a transaction
# that ran longer, or a web host's clock (auto_now) this far off PostgreSQL's, could
# otherwise slip between the copy and its time.
RESTORE_SLACK = datetime.timedelta(hours=1)

# Generations this process has seen filled: a sync loop polls every few seconds.
_known_filled: set[str] = set()
# The time through which a collection holds every change: the oldest change still queued.
SYNCED_THROUGH_NOW = (
    "SELECT least(clock_timestamp(), (SELECT min(changed_at) FROM vectors_productchange))"
)
# The newest synced-through time this process knows for each generation.
_synced_through: dict[str, datetime.datetime] = {}


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
        return _catch_up_if_restored(client=client, config=config, info=info)
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
    if not queued:
        queued = _catch_up_if_restored(client=client, config=config, info=info)
    return queued


def record_synced_through(*, client: GuardedClient, config: QdrantConfig) -> None:
    """After a sync that delivered something: every change not in the log any more is in
    the collection, so it holds everything before the oldest queued change (or now).

    Under the generation's row lock, so that two workers never write it out of order (an
    older time over a newer one would look like a restore); never moved back (a long
    transaction's change committed late is in the log, not lost); written to the collection
    before PostgreSQL, so that a crash in between leaves the collection ahead, not behind."""
    from vectors.collection import resolve_collection

    metadata = client.get_collection(config.collection).config.metadata or {}
    generation = metadata.get(GENERATION)
    if generation is None:
        return
    physical = resolve_collection(client=client, name=config.collection) or config.collection
    with transaction.atomic():
        filled = FilledCollection.objects.select_for_update().filter(generation=generation).first()
        if filled is None:
            return
        with connection.cursor() as cursor:
            cursor.execute(SYNCED_THROUGH_NOW)
            (through,) = cursor.fetchone()
        through = max(through, filled.synced_through or through)
        client.update_collection_metadata(physical, {SYNCED_THROUGH: through.isoformat()})
        filled.synced_through = through
        filled.save(update_fields=["synced_through"])
    _synced_through[generation] = through


def _catch_up_if_restored(*, client: GuardedClient, config: QdrantConfig, info) -> int:
    """When the collection holds less than the catalog delivered to it (restored from an
    older copy): remove the points of products deleted since, then queue what changed since
    its time. Returns how many products were queued (0 when it is not behind).

    In that order, so that a crash anywhere leaves it still behind, and the next sync does
    it again (removing orphans twice is harmless); the queueing re-checks under the
    generation's row lock, so that two workers queue it once."""
    metadata = info.config.metadata or {}
    generation = metadata.get(GENERATION)
    held = _parse_time(metadata.get(SYNCED_THROUGH))
    if generation is None or held is None:
        return 0
    known = _synced_through.get(generation)
    if known is not None and held >= known:
        return 0  # the usual case, with no query: the collection is as new as we know
    # Behind what this process knows, or not known yet: PostgreSQL says (another worker
    # may have caught it up and moved the time back to the collection's).
    known = (
        FilledCollection.objects.filter(generation=generation)
        .values_list("synced_through", flat=True)
        .first()
    )
    _synced_through[generation] = known or held
    if known is None or held >= known:
        return 0
    from vectors.reconcile import remove_orphans

    removed = remove_orphans(client=client, collection=config.collection)
    with transaction.atomic():
        filled = FilledCollection.objects.select_for_update().get(generation=generation)
        if filled.synced_through is None or held >= filled.synced_through:
            _synced_through[generation] = held
            return 0  # another worker caught it up meanwhile
        queued = _queue_changed_since(held - RESTORE_SLACK)
        # Its time is now the collection's: everything after it is queued.
        filled.synced_through = held
        filled.save(update_fields=["synced_through"])
    _synced_through[generation] = held
    logger.warning(
        "The vector collection holds changes only through %s, the catalog delivered more "
        "(restored from an older copy?): removed %s of products deleted since, queued %s "
        "changed since.",
        held.isoformat(timespec="seconds"),
        counted(removed, "point"),
        counted(queued, "product"),
    )
    return queued


def _parse_time(value) -> datetime.datetime | None:
    try:
        parsed = datetime.datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None
    return parsed if parsed is not None and parsed.tzinfo is not None else None


# Products changed since a time, MAX_IDS to a change-log row, as needing new vectors (an
# image may have changed). Products already queued are queued again: harmless, the sync
# delivers each once per batch.
QUEUE_CHANGED_SINCE = """
WITH todo AS (
    SELECT id, (row_number() OVER (ORDER BY id) - 1) / %(step)s AS chunk
    FROM catalog_product WHERE updated_at >= %(since)s
)
INSERT INTO vectors_productchange (needs_embedding, product_ids)
SELECT true, array_agg(id ORDER BY id) FROM todo GROUP BY chunk
RETURNING cardinality(product_ids)
"""


def _queue_changed_since(since: datetime.datetime) -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            QUEUE_CHANGED_SINCE,
            {"step": ProductChange.MAX_IDS, "since": since},
        )
        return sum(row[0] for row in cursor.fetchall())


def _upgrade_payloads(*, client: GuardedClient, physical: str, info, queued: int) -> int:
    """Points written before PAYLOAD gained a field: its payload index added (and indexes no
    filter reads any more dropped), and every product queued as a payload change (unless
    just queued in full), so that filters on the new field find them all. Returns how many
    were queued."""
    from vectors.collection import add_payload_indexes, drop_retired_payload_indexes

    missing = [name for name in PAYLOAD_INDEXES if name not in (info.payload_schema or {})]
    if client.engine is not Engine.MEMORY:
        add_payload_indexes(client=client, physical=physical, fields=missing)
        drop_retired_payload_indexes(client=client, physical=physical, schema=info.payload_schema)
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
    from vectors.sync_queue import pending_count

    return pending_count()


# Products that no log row names, MAX_IDS to a row in id order. The log's products are
# gathered once (a hash anti-join): bounded by the server's work_mem, spilled to disk
# beyond it, never held in this process.
QUEUE_UNQUEUED = """
WITH logged AS (
    SELECT DISTINCT unnest(product_ids) AS id FROM vectors_productchange
),
todo AS (
    SELECT p.id, (row_number() OVER (ORDER BY p.id) - 1) / %(step)s AS chunk
    FROM catalog_product p
    WHERE NOT EXISTS (SELECT 1 FROM logged WHERE logged.id = p.id)
)
INSERT INTO vectors_productchange (needs_embedding, product_ids)
SELECT %(embed)s, array_agg(id ORDER BY id) FROM todo GROUP BY chunk
RETURNING cardinality(product_ids)
"""


def _queue_unqueued_products(*, embed: bool) -> int:
    """Queue them, as needing new vectors (`embed`) or as payload changes: the sync then
    embeds a product whose point is missing and only rewrites the payload of one it finds
    (a restored or partly filled collection)."""
    with connection.cursor() as cursor:
        cursor.execute(
            QUEUE_UNQUEUED,
            {"step": ProductChange.MAX_IDS, "embed": embed},
        )
        return sum(row[0] for row in cursor.fetchall())
