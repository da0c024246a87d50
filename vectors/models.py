from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex
from django.db import models
from django.db.models.functions import Now

from catalog.models import Product
from vectors import change_log


class ProductChange(models.Model):
    """Products written since the vector index last caught up: the sync's work queue, filled
    by database triggers (vectors/change_log.py) and drained by vectors/sync.py.

    One row per SQL statement, holding the ids it touched, at most MAX_IDS of them: an import
    batch of 2,000 new products logs two rows, not 2,000, which keeps the log nearly free for
    bulk writes, and bounds what the sync claims and what the admin's status lookup reads.
    The triggers see every write (save(), queryset update() and delete(), bulk imports, raw
    SQL), in the writer's own transaction.
    """

    MAX_IDS = change_log.MAX_IDS

    # False when only payload columns (price, currency, store, created_at) changed.
    needs_embedding = models.BooleanField()
    product_ids = ArrayField(models.UUIDField())
    # When the statement was logged: the sync's lag (/healthz) and how far a restored
    # collection must be caught up (vectors/fill.py).
    changed_at = models.DateTimeField(db_default=Now())
    # Set by the vector sync when it could not deliver these products (an image that would
    # not load, say): it tries again after not_before, with a growing delay.
    attempts = models.PositiveSmallIntegerField(default=0, db_default=0)
    not_before = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True, default="", db_default="")
    # Set when the sync gave up after repeated failures that were not an outage: no longer
    # claimed, kept for an operator (admin status, reconcile_vectors, sync_vectors' summary;
    # `sync_vectors --retry-set-aside` queues it again).
    set_aside_at = models.DateTimeField(null=True, blank=True)
    # Set while a sync worker works on the row outside any transaction: the worker's token,
    # and until when the row is its own unless it renews the lease.
    lease = models.UUIDField(null=True, blank=True)
    leased_until = models.DateTimeField(null=True, blank=True)
    # Which process holds the lease (host, pid and start time): a worker on the same host
    # that sees the holder gone takes the rows at once instead of waiting out the lease.
    leased_by = models.CharField(max_length=300, blank=True, default="", db_default="")

    class Meta:
        ordering = ["id"]
        indexes = [
            # "Is this product waiting for the vector sync?" for the admin's status column.
            GinIndex(fields=["product_ids"], name="vectors_change_products_gin"),
        ]

    def __str__(self) -> str:
        return f"{len(self.product_ids)} product(s) at {self.changed_at}"


class WatchedProduct(Product):
    """The product table as the change log's triggers see it. A proxy, so that the triggers,
    which are the vector index's business, are declared and migrated in this app."""

    class Meta:
        proxy = True
        triggers = change_log.TRIGGERS


class FilledCollection(models.Model):
    """A Qdrant collection the catalog has queued in full, by the generation written into
    its metadata when it was created (vectors/fill.py). A collection whose generation is
    not here is new to the catalog: a new QDRANT_PATH, a new server, a recreated one."""

    generation = models.UUIDField(primary_key=True)
    collection = models.CharField(max_length=255, help_text="Its physical name, for reading.")
    queued = models.PositiveBigIntegerField(help_text="Products queued to fill it.")
    queued_at = models.DateTimeField(db_default=Now())
    # Every product change committed before this time is in the collection: the newest time
    # the sync wrote into its metadata too. A collection whose metadata says less was
    # restored from an older copy, and the sync catches it up (vectors/fill.py).
    synced_through = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.collection} ({self.generation})"


class SyncTotals(models.Model):
    """What every sync so far delivered and failed, in one row that every worker adds to
    with the batch's own transaction: /metrics' counters, the same whichever process is
    scraped (vectors/metrics.py)."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    delivered = models.PositiveBigIntegerField(default=0)
    failed = models.PositiveBigIntegerField(default=0)
    set_aside = models.PositiveBigIntegerField(default=0)

    class Meta:
        verbose_name_plural = "sync totals"

    def __str__(self) -> str:
        return f"{self.delivered:,} delivered, {self.failed:,} failed"


ADD_TO_TOTALS = """
INSERT INTO vectors_synctotals (id, delivered, failed, set_aside) VALUES (1, %s, %s, %s)
ON CONFLICT (id) DO UPDATE SET
    delivered = vectors_synctotals.delivered + EXCLUDED.delivered,
    failed = vectors_synctotals.failed + EXCLUDED.failed,
    set_aside = vectors_synctotals.set_aside + EXCLUDED.set_aside
"""


class DuplicateLink(models.Model):
    """Two products whose vectors are near-identical (cosine at or above
    VECTORS_DUPLICATE_THRESHOLD): the same product sold by two shops, as its neighbour query
    found them (vectors/duplicates.py). `product_id` < `other_id`.

    Plain ids, not foreign keys: a deleted product's links are what tell the next check which
    group it held together (a group splits when its link product goes)."""

    pk = models.CompositePrimaryKey("product_id", "other_id")
    product_id = models.UUIDField()
    other_id = models.UUIDField(db_index=True)
    score = models.FloatField()

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(product_id__lt=models.F("other_id")),
                name="duplicate_link_ordered",
            )
        ]

    def __str__(self) -> str:
        return f"{self.product_id} ~ {self.other_id} ({self.score:.3f})"


class DuplicateGroup(models.Model):
    """A product's group of duplicates: the products its links reach, named by the smallest
    id among them. Only products with at least one duplicate have a row."""

    product_id = models.UUIDField(primary_key=True)
    group_id = models.UUIDField(db_index=True)

    def __str__(self) -> str:
        return f"{self.product_id} in {self.group_id}"


class DuplicateCheck(models.Model):
    """A product whose vector was written or removed since its duplicates were last looked
    for: the grouping's work queue, filled by the sync in the batch's own transaction and
    drained beside it, a bounded number at a time (vectors/duplicates.py)."""

    product_id = models.UUIDField(primary_key=True)
    queued_at = models.DateTimeField(db_default=Now())

    class Meta:
        indexes = [
            # Checks are claimed oldest first, a batch at a time: without it each claim
            # sorted the whole queue, a million rows after a reindex (bench/RESULTS.md).
            models.Index(fields=["queued_at", "product_id"], name="duplicatecheck_queue_order")
        ]

    def __str__(self) -> str:
        return str(self.product_id)
