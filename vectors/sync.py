"""Keeping Qdrant in step with PostgreSQL by draining the product change log.

The log (catalog.ProductChange) is filled by database triggers in the writer's transaction.
`sync_pending()` takes the oldest entries (FOR UPDATE SKIP LOCKED, so several workers can
share the work), reads those products' current state, and writes Qdrant: a product that
exists is upserted (embedded again only when its image or text changed, or its point is
missing; otherwise only its payload is set), one that does not is deleted. The entries are
deleted in the same transaction once Qdrant has accepted the writes: a crash or an outage
leaves them for the next run, and running twice is harmless (writes are idempotent).
Products the embedder cannot handle (an image that will not load) go back into the log
with a growing delay and their reason, never dropped.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from uuid import UUID

from django.db import transaction
from django.db.models import F, Func, IntegerField, Q, Sum
from django.utils import timezone

from catalog.models import Product, ProductChange
from vectors.client import GuardedClient, models
from vectors.conf import QdrantConfig
from vectors.embedders import Embedder, EmbedFailure
from vectors.points import PRODUCT_FIELDS, embedder_input, payload_of

logger = logging.getLogger(__name__)

RETRY_BASE = timedelta(minutes=1)
RETRY_MAX = timedelta(hours=6)


@dataclass
class SyncReport:
    embedded: int = 0
    payload_updated: int = 0
    deleted: int = 0
    failed: dict[str, str] = field(default_factory=dict)  # product id -> reason
    batches: int = 0

    @property
    def products(self) -> int:
        return self.embedded + self.payload_updated + self.deleted + len(self.failed)

    def add(self, other: SyncReport) -> None:
        self.embedded += other.embedded
        self.payload_updated += other.payload_updated
        self.deleted += other.deleted
        self.failed |= other.failed
        self.batches += other.batches


def request_resync(*, product_ids: list[UUID]) -> int:
    """Queue products for re-embedding (the admin's action; after a model change)."""
    if product_ids:
        ProductChange.objects.create(
            kind=ProductChange.Kind.UPDATE, needs_embedding=True, product_ids=product_ids
        )
    return len(product_ids)


def pending_changes() -> Q:
    return Q(not_before__isnull=True) | Q(not_before__lte=timezone.now())


def pending_count() -> int:
    """Products waiting (an estimate: one product may be in several entries)."""
    cardinality = Func(F("product_ids"), function="cardinality", output_field=IntegerField())
    return ProductChange.objects.aggregate(n=Sum(cardinality))["n"] or 0


def _claim(batch_size: int) -> list[ProductChange]:
    """The oldest due entries, up to about batch_size products, locked for this worker."""
    claimed, products = [], 0
    query = (
        ProductChange.objects.select_for_update(skip_locked=True)
        .filter(pending_changes())
        .order_by("id")
    )
    for change in query[: max(1, batch_size)].iterator(chunk_size=100):
        claimed.append(change)
        products += len(change.product_ids)
        if products >= batch_size:
            break
    return claimed


def write_products(
    *,
    client: GuardedClient,
    collection: str,
    embedder: Embedder,
    product_ids: Iterable[UUID],
    embed: set[UUID],
) -> SyncReport:
    """Bring these products' points up to date in `collection`; `embed` are those whose
    vectors must be recomputed (the others get their payload refreshed, if they exist)."""
    report = SyncReport()
    ids = list(dict.fromkeys(product_ids))
    rows = {row["id"]: row for row in Product.objects.filter(pk__in=ids).values(*PRODUCT_FIELDS)}
    gone = [str(pid) for pid in ids if pid not in rows]
    if gone:
        client.delete(collection_name=collection, points_selector=models.PointIdsList(points=gone))
        report.deleted = len(gone)

    payload_only = [pid for pid in rows if pid not in embed]
    if payload_only:
        existing = {
            UUID(str(point.id))
            for point in client.retrieve(
                collection_name=collection,
                ids=[str(pid) for pid in payload_only],
                with_payload=False,
                with_vectors=False,
            )
        }
        embed = embed | {pid for pid in payload_only if pid not in existing}
        refresh = [pid for pid in payload_only if pid in existing]
        if refresh:
            client.batch_update_points(
                collection_name=collection,
                update_operations=[
                    models.SetPayloadOperation(
                        set_payload=models.SetPayload(
                            payload=payload_of(rows[pid]), points=[str(pid)]
                        )
                    )
                    for pid in refresh
                ],
            )
            report.payload_updated = len(refresh)

    to_embed = [rows[pid] for pid in rows if pid in embed]
    if to_embed:
        vectors = embedder.embed([embedder_input(row) for row in to_embed])
        points = []
        for row, vector in zip(to_embed, vectors, strict=True):
            if isinstance(vector, EmbedFailure):
                report.failed[str(row["id"])] = vector.reason
                continue
            points.append(
                models.PointStruct(
                    id=str(row["id"]), vector=vector.tolist(), payload=payload_of(row)
                )
            )
        if points:
            client.upsert(collection_name=collection, points=points)
            report.embedded = len(points)
    return report


def _requeue_failures(failed: dict[str, str], changes: list[ProductChange]) -> None:
    attempts = 1 + max((change.attempts for change in changes), default=0)
    delay = min(RETRY_MAX, RETRY_BASE * 2 ** (attempts - 1))
    reasons = "; ".join(f"{pid}: {reason}" for pid, reason in list(failed.items())[:20])
    ProductChange.objects.create(
        kind=ProductChange.Kind.UPDATE,
        needs_embedding=True,
        product_ids=list(failed),
        attempts=attempts,
        not_before=timezone.now() + delay,
        last_error=reasons[:2000],
    )


def sync_batch(
    *, client: GuardedClient, config: QdrantConfig, embedder: Embedder, batch_size: int
) -> SyncReport | None:
    """Deliver one batch of pending changes; None when nothing is due."""
    with transaction.atomic():
        changes = _claim(batch_size)
        if not changes:
            return None
        embed: set[UUID] = set()
        for change in changes:
            if change.needs_embedding or change.attempts:
                embed.update(change.product_ids)
        report = write_products(
            client=client,
            collection=config.collection,
            embedder=embedder,
            product_ids=(pid for change in changes for pid in change.product_ids),
            embed=embed,
        )
        if report.failed:
            _requeue_failures(report.failed, changes)
        ProductChange.objects.filter(pk__in=[change.pk for change in changes]).delete()
        report.batches = 1
        return report


def sync_pending(
    *,
    client: GuardedClient,
    config: QdrantConfig,
    embedder: Embedder,
    batch_size: int = 256,
    on_batch: Callable[[SyncReport], None] = lambda report: None,
) -> SyncReport:
    """Deliver every due change; raises VectorStoreError (leaving the rest queued) when
    Qdrant fails."""
    total = SyncReport()
    while (
        report := sync_batch(client=client, config=config, embedder=embedder, batch_size=batch_size)
    ) is not None:
        total.add(report)
        on_batch(total)
    return total
