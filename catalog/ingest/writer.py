"""Writing one batch of validated products: the fast, idempotent upsert.

Per batch, in one transaction: look up which of the batch's products exist (one indexed
query), then COPY the new ones straight into catalog_product (the fastest way into
PostgreSQL), UPDATE only the ones whose data changed (one statement), and leave unchanged
rows alone, so their updated_at and their change-log silence survive a re-import.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import psycopg
from django.db import DataError, IntegrityError, connection, transaction

from catalog.ingest.records import ProductRow
from config.errors import first_line

COLUMNS = ProductRow._fields  # external_id, title, description, price, currency, URLs
COPY_SQL = f"COPY catalog_product (store_id, {', '.join(COLUMNS)}) FROM STDIN"
LOOKUP_SQL = f"""
    SELECT {", ".join(f"{c}::text" if c == "price" else c for c in COLUMNS)}
    FROM catalog_product
    WHERE store_id = %s AND external_id = ANY(%s)
"""  # noqa: S608 - column names are constants
UPDATE_SQL = f"""
    UPDATE catalog_product AS p
    SET {", ".join(f"{c} = u.{c}" for c in COLUMNS if c != "external_id")},
        updated_at = statement_timestamp()
    FROM unnest(%s::text[], %s::text[], %s::text[], %s::numeric[], %s::text[], %s::text[],
                %s::text[]) AS u({", ".join(COLUMNS)})
    WHERE p.store_id = %s AND p.external_id = u.external_id
"""  # noqa: S608


@dataclass
class BatchResult:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: list[tuple[str, str]] = field(default_factory=list)  # (external_id, reason)

    def add(self, other: BatchResult) -> None:
        self.created += other.created
        self.updated += other.updated
        self.unchanged += other.unchanged
        self.rejected += other.rejected


def store_lock_key(store_id: str) -> str:
    return f"catalog.import:{store_id}"


UNIQUE_ERRORS = (psycopg.errors.UniqueViolation,)
DATA_ERRORS = (IntegrityError, DataError, psycopg.errors.IntegrityError, psycopg.errors.DataError)


def write_batch(
    *,
    store_id: str,
    rows: Mapping[str, ProductRow],
    dry_run: bool,
    assume_new: bool = False,
    copy_data: bytes | None = None,
) -> BatchResult:
    """Upsert one batch (external_id -> row, already de-duplicated) atomically.

    `assume_new` skips the lookup: the caller knows the store had none of these products
    (its first import). Should one exist after all, the batch is redone with the lookup.
    """
    for attempt in range(3):
        try:
            with transaction.atomic():
                return _write(
                    store_id=store_id,
                    rows=rows,
                    dry_run=dry_run,
                    assume_new=assume_new,
                    copy_data=copy_data,
                )
        except UNIQUE_ERRORS:
            # Another writer (the admin, say) inserted one of these products between our
            # lookup and our COPY, or since the import began: look again. Imports of one
            # store are serialised below.
            assume_new = False
            if attempt == 2:
                raise
        except DATA_ERRORS:
            # A row that passed validation but not PostgreSQL: find it, keep the others.
            if len(rows) == 1:
                raise
            return _write_one_by_one(store_id=store_id, rows=rows, dry_run=dry_run)
    raise AssertionError("unreachable")  # pragma: no cover


def _write_one_by_one(
    *, store_id: str, rows: Mapping[str, ProductRow], dry_run: bool
) -> BatchResult:
    total = BatchResult()
    for external_id, row in rows.items():
        try:
            total.add(write_batch(store_id=store_id, rows={external_id: row}, dry_run=dry_run))
        except DATA_ERRORS as exc:
            total.rejected.append((external_id, f"rejected by PostgreSQL: {first_line(exc)}"))
    return total


def store_has_products(store_id: str) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM catalog_product WHERE store_id = %s LIMIT 1", [store_id])
        return cursor.fetchone() is not None


def analyze_products() -> None:
    """Refresh the planner's statistics after a large import: with a store's rows unknown to
    them, the next import's lookups would scan the whole store instead of its index."""
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE catalog_product")


def _write(
    *,
    store_id: str,
    rows: Mapping[str, ProductRow],
    dry_run: bool,
    assume_new: bool,
    copy_data: bytes | None,
) -> BatchResult:
    result = BatchResult()
    with connection.cursor() as cursor:
        # Two imports of the same store take turns batch by batch.
        cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [store_lock_key(store_id)])
        existing = {}
        if not assume_new:
            cursor.execute(LOOKUP_SQL, [store_id, list(rows)])
            existing = {row[0]: row for row in cursor.fetchall()}
        new_rows = []
        changed = []
        for external_id, row in rows.items():
            current = existing.get(external_id)
            if current is None:
                new_rows.append(row)
            elif tuple(current) != row:
                changed.append(row)
        result.created = len(new_rows)
        result.updated = len(changed)
        result.unchanged = len(rows) - len(new_rows) - len(changed)
        if dry_run:
            return result
        if new_rows:
            with cursor.cursor.copy(COPY_SQL) as copy:
                if copy_data is not None and len(new_rows) == len(rows):
                    copy.write(copy_data)  # encoded by the reader process
                else:
                    for row in new_rows:
                        copy.write_row((store_id, *row))
        if changed:
            cursor.execute(UPDATE_SQL, [*map(list, zip(*changed, strict=True)), store_id])
    return result
