"""Comparing PostgreSQL with Qdrant, in bounded memory, and repairing the drift.

One scroll over every point, a page at a time: each page's products are read by id — a point
without a product is an orphan, a payload that differs is stale — and the ids that matched
go into a temporary table. Then the products that table lacks, in keyset pages, are the
missing points. Neither side is ever held in this process's memory; Qdrant is read once.
With `fix`, each page is repaired as it is found (orphans deleted, stale payloads rewritten,
missing points embedded).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from uuid import UUID

from django.db import connection

from vectors.client import GuardedClient, models
from vectors.embedders import Embedder, needs_image
from vectors.point_writer import write_products
from vectors.points import PAYLOAD_COLUMNS, payload_of

SAMPLE = 10


@dataclass
class ReconcileReport:
    products: int = 0
    points: int = 0
    missing: int = 0
    stale: int = 0
    orphans: int = 0
    # Products whose duplicate links or group do not hold (vectors/duplicates.py).
    misgrouped: int = 0
    samples: dict[str, list[str]] = field(
        default_factory=lambda: {"missing": [], "stale": [], "orphans": [], "misgrouped": []}
    )
    fixed: bool = False

    @property
    def drift(self) -> int:
        return self.missing + self.stale + self.orphans + self.misgrouped

    def note(self, kind: str, ids: list) -> None:
        setattr(self, kind, getattr(self, kind) + len(ids))
        room = SAMPLE - len(self.samples[kind])
        self.samples[kind] += [str(i) for i in ids[:room]]


MATCHED_TABLE = "vectors_reconcile_matched"  # ids of points that have a product


def reconcile(
    *,
    client: GuardedClient,
    collection: str,
    embedder: Embedder,
    fix: bool = False,
    page_size: int = 1000,
    on_page: Callable[[ReconcileReport], None] = lambda report: None,
) -> ReconcileReport:
    report = ReconcileReport(fixed=fix)
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {MATCHED_TABLE}")
        cursor.execute(f"CREATE TEMPORARY TABLE {MATCHED_TABLE} (id uuid NOT NULL)")
    try:
        _check_points(client, collection, embedder, fix, page_size, report, on_page)
        _check_products(client, collection, embedder, fix, page_size, report, on_page)
        _check_groups(client, collection, fix, report)
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TABLE IF EXISTS {MATCHED_TABLE}")
    return report


def _check_points(client, collection, embedder, fix, page_size, report, on_page) -> None:
    """One scroll over Qdrant: orphans and stale payloads; the ids that belong to a product
    are noted in PostgreSQL (a temporary table) for the second pass."""
    offset = None
    while True:
        page, offset = client.scroll(
            collection_name=collection,
            limit=page_size,
            offset=offset,
            with_payload=True,
            with_vectors=False,
        )
        report.points += len(page)
        rows = _note_and_fetch([point.id for point in page])
        orphans, stale = [], []
        for point in page:
            row = rows.get(point.id)
            if row is None:
                orphans.append(point.id)
            elif point.payload != payload_of(row):
                stale.append(UUID(str(point.id)))
        report.note("orphans", orphans)
        report.note("stale", stale)
        if fix and orphans:
            client.delete(
                collection_name=collection, points_selector=models.PointIdsList(points=orphans)
            )
        if fix and stale:
            write_products(
                client=client,
                collection=collection,
                embedder=embedder,
                product_ids=stale,
                embed=set(),
            )
        on_page(report)
        if offset is None:
            return


def _note_and_fetch(point_ids: list) -> dict[str, dict]:
    """The payload columns of the products behind these point ids (not the long texts),
    noting their ids for the missing-points pass: one round trip a page."""
    # Our point ids are UUID strings; an integer id cannot be a product's.
    ids = [point_id for point_id in point_ids if isinstance(point_id, str)]
    columns = ", ".join(PAYLOAD_COLUMNS)
    with connection.cursor() as cursor:
        cursor.execute(
            f"""WITH found AS (
                    SELECT {columns} FROM catalog_product WHERE id = ANY(%s::uuid[])
                ), noted AS (INSERT INTO {MATCHED_TABLE} (id) SELECT id FROM found)
                SELECT {columns} FROM found""",  # noqa: S608 - constant names
            [ids],
        )
        rows = [dict(zip(PAYLOAD_COLUMNS, row, strict=True)) for row in cursor.fetchall()]
    return {str(row["id"]): row for row in rows}


def _check_products(client, collection, embedder, fix, page_size, report, on_page) -> None:
    """Products whose id the scroll never met have no point: keyset pages of them. With an
    image embedder, a product without an image has none by design and is not missing."""
    with_image = "AND p.image_url <> ''" if needs_image(embedder.name) else ""
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {MATCHED_TABLE}")
        cursor.execute("SELECT count(*) FROM catalog_product")
        report.products = cursor.fetchone()[0]
    last_id = None
    while True:
        with connection.cursor() as cursor:
            cursor.execute(
                f"""SELECT p.id FROM catalog_product p
                    WHERE (%s::uuid IS NULL OR p.id > %s::uuid) {with_image}
                      AND NOT EXISTS (SELECT 1 FROM {MATCHED_TABLE} s WHERE s.id = p.id)
                    ORDER BY p.id LIMIT %s""",  # noqa: S608 - a constant table name
                [last_id, last_id, page_size],
            )
            missing = [row[0] for row in cursor.fetchall()]
        if not missing:
            return
        last_id = missing[-1]
        report.note("missing", missing)
        if fix:
            write_products(
                client=client,
                collection=collection,
                embedder=embedder,
                product_ids=missing,
                embed=set(missing),
            )
        on_page(report)


def _check_groups(client, collection, fix, report) -> None:
    """Duplicate groups out of step with their links or the catalog: with `fix`, those
    products are checked again (the points are right by now)."""
    from vectors.conf import qdrant_config
    from vectors.duplicates import check_queued_duplicates, out_of_step, queue_checks

    drifted = out_of_step()
    report.note("misgrouped", drifted)
    if fix and drifted:
        queue_checks(drifted)
        config = qdrant_config()
        if collection != config.collection:
            config = replace(config, collection=collection)
        check_queued_duplicates(client=client, config=config)


def remove_orphans(*, client: GuardedClient, collection: str, page_size: int = 1000) -> int:
    """Delete the points whose product is gone, in one scroll of bounded pages (a restored
    collection's products deleted since its copy); returns how many."""
    from catalog.models import Product

    removed, offset = 0, None
    while True:
        page, offset = client.scroll(
            collection_name=collection,
            limit=page_size,
            offset=offset,
            with_payload=False,
            with_vectors=False,
        )
        # Our point ids are UUID strings; an integer id cannot be a product's.
        ids = [point.id for point in page if isinstance(point.id, str)]
        known = {str(pk) for pk in Product.objects.filter(pk__in=ids).values_list("pk", flat=True)}
        orphans = [point.id for point in page if str(point.id) not in known]
        if orphans:
            client.delete(
                collection_name=collection, points_selector=models.PointIdsList(points=orphans)
            )
            removed += len(orphans)
        if offset is None:
            return removed
