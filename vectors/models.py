from django.db import models
from django.db.models.functions import Now


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

    def __str__(self) -> str:
        return str(self.product_id)
