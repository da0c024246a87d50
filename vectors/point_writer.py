"""Writing products' points: the one place that turns product rows into Qdrant writes, used
by the sync, reindex_vectors and reconcile_vectors.

A product that exists is upserted (embedded again only when asked, or when its point is
missing; otherwise only its payload is set), one that does not is deleted, one the embedder
cannot embed until it changes (no image) loses its point and is counted apart.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from catalog.models import Product
from config.text import counted
from vectors.client import GuardedClient, models
from vectors.embedders import Embedder, EmbedFailure
from vectors.metrics import EMBED_SECONDS
from vectors.points import PRODUCT_FIELDS, embedder_input, payload_of


@dataclass
class SyncReport:
    embedded: int = 0
    payload_updated: int = 0
    deleted: int = 0
    failed: dict[str, str] = field(default_factory=dict)  # product id -> reason
    set_aside: int = 0  # of the failed, those that reached MAX_ATTEMPTS
    # Products the embedder cannot embed until they change (no image URL): no point, no
    # retry on a timer; their next change (a new image_url) brings them back.
    without_image: int = 0
    batches: int = 0
    # Products queued because the collection was new to the catalog (vectors/fill.py).
    filled: int = 0
    # Ids of the products whose vectors this batch wrote or removed: their duplicates are
    # looked for again (vectors/duplicates.py). Emptied once queued, so that a whole sync's
    # report does not grow with the catalog.
    revectored: list[str] = field(default_factory=list)

    @property
    def products(self) -> int:
        return (
            self.embedded
            + self.payload_updated
            + self.deleted
            + len(self.failed)
            + self.without_image
        )

    def summary(self) -> str:
        """One line, as sync_vectors prints it and the web server's sync loop logs it."""
        set_aside = f" ({self.set_aside:,} set aside)" if self.set_aside else ""
        no_image = (
            f", {self.without_image:,} without image (not indexed)" if self.without_image else ""
        )
        new = (
            f"Queued {counted(self.filled, 'product')} the collection lacked (new to this catalog "
            "or restored from an older copy) or held in an older form. "
            if self.filled
            else ""
        )
        return new + (
            f"Synced {counted(self.products, 'product')}: {self.embedded:,} embedded, "
            f"{self.payload_updated:,} payload updates, {self.deleted:,} deleted, "
            f"{len(self.failed):,} failed{set_aside}{no_image}."
        )

    def add(self, other: SyncReport) -> None:
        self.embedded += other.embedded
        self.payload_updated += other.payload_updated
        self.deleted += other.deleted
        self.failed |= other.failed
        self.set_aside += other.set_aside
        self.without_image += other.without_image
        self.batches += other.batches
        self.filled += other.filled
        self.revectored += other.revectored


def write_products(
    *,
    client: GuardedClient,
    collection: str,
    embedder: Embedder,
    product_ids: Iterable[UUID],
    embed: set[UUID],
    rows: dict[UUID, dict] | None = None,
    vectors: dict[UUID, Any] | None = None,
    payloads: dict[UUID, dict] | None = None,
) -> SyncReport:
    """Bring these products' points up to date in `collection`; `embed` are those whose
    vectors must be recomputed (the others get their payload refreshed, if they exist).
    `rows`, `vectors` and `payloads`: what was read, embedded and built ahead (a product not
    in `rows` is gone; one not in `vectors` is embedded here)."""
    report = SyncReport()
    ids = list(dict.fromkeys(product_ids))
    rows = read_rows(ids) if rows is None else {pid: rows[pid] for pid in ids if pid in rows}
    payloads = payloads or {}

    def payload(pid: UUID) -> dict:
        return payloads[pid] if pid in payloads else payload_of(rows[pid])

    gone = [str(pid) for pid in ids if pid not in rows]
    if gone:
        client.delete(collection_name=collection, points_selector=models.PointIdsList(points=gone))
        report.deleted = len(gone)
        report.revectored += gone

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
                        set_payload=models.SetPayload(payload=payload(pid), points=[str(pid)])
                    )
                    for pid in refresh
                ],
            )
            report.payload_updated = len(refresh)

    to_embed = [rows[pid] for pid in rows if pid in embed]
    if to_embed:
        computed = dict(vectors or {})
        missing = [row for row in to_embed if row["id"] not in computed]
        if missing:
            computed.update(embed_rows(embedder, missing))
        ids, written_vectors, written_payloads, unembeddable = [], [], [], []
        for row in to_embed:
            vector = computed[row["id"]]
            if isinstance(vector, EmbedFailure):
                if vector.retry:
                    report.failed[str(row["id"])] = vector.reason
                else:
                    unembeddable.append(str(row["id"]))
                continue
            ids.append(str(row["id"]))
            written_vectors.append(vector.tolist())
            written_payloads.append(payload(row["id"]))
        if ids:
            # In columns and built from values already of the right types: validating 768
            # floats a point would cost as much as Qdrant Edge's whole upsert.
            batch = models.Batch.model_construct(
                ids=ids, vectors=written_vectors, payloads=written_payloads
            )
            client.upsert(collection_name=collection, points=batch)
            report.embedded = len(ids)
            report.revectored += ids
        if unembeddable:  # an image removed: its old vector no longer stands for the product
            client.delete(
                collection_name=collection,
                points_selector=models.PointIdsList(points=unembeddable),
            )
            report.without_image = len(unembeddable)
            report.revectored += unembeddable
    return report


def read_rows(ids: list[UUID]) -> dict[UUID, dict]:
    return {row["id"]: row for row in Product.objects.filter(pk__in=ids).values(*PRODUCT_FIELDS)}


def embed_rows(embedder: Embedder, rows: list[dict]) -> dict[UUID, Any]:
    with EMBED_SECONDS.labels(getattr(embedder, "name", "?")).time():
        vectors = embedder.embed([embedder_input(row) for row in rows])
    return {row["id"]: vector for row, vector in zip(rows, vectors, strict=True)}
