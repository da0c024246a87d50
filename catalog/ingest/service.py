"""product_import: the whole import of one store's feed, batch by batch."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from django.db import connection, transaction

from catalog.ingest.batches import PreparedBatch, prepare_batches
from catalog.ingest.prefetch import in_background
from catalog.ingest.records import ProductRow, Rejection, SourceRecord
from catalog.ingest.writer import (
    BatchResult,
    analyze_products,
    store_has_products,
    write_batch,
)
from config.text import counted

DEFAULT_BATCH_SIZE = 2000
# Imports that add or remove this many rows refresh the planner's statistics afterwards.
ANALYZE_AFTER_ROWS = 10_000
FEED_IDS_TABLE = "catalog_import_feed_ids"


@dataclass
class ImportSummary:
    store_id: str
    dry_run: bool = False
    records: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    duplicates: int = 0
    rejected: int = 0
    skipped: Counter = field(default_factory=Counter)  # reason -> records (records.SKIP_*)
    without_image: int = 0
    pruned: int | None = None
    prune_skipped: str | None = None
    error: str | None = None  # the feed broke off: what was read is saved, nothing pruned
    seconds: float = 0.0
    rejections_sample: list[Rejection] = field(default_factory=list)

    @property
    def rows_per_second(self) -> float:
        return self.records / self.seconds if self.seconds else 0.0


class _FeedIdsTable:
    """The external ids a feed contained, kept in a temporary table for --prune: a million
    ids stay in PostgreSQL, not in this process."""

    def __init__(self) -> None:
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TABLE IF EXISTS {FEED_IDS_TABLE}")
            cursor.execute(f"CREATE TEMPORARY TABLE {FEED_IDS_TABLE} (external_id text NOT NULL)")

    def add(self, external_ids: Iterable[str]) -> None:
        with (
            connection.cursor() as cursor,
            cursor.cursor.copy(f"COPY {FEED_IDS_TABLE} (external_id) FROM STDIN") as copy,
        ):
            for external_id in external_ids:
                copy.write_row((external_id,))

    def prune(self, *, store_id: str, dry_run: bool) -> int:
        verb = "SELECT count(*)" if dry_run else "DELETE"
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(f"ANALYZE {FEED_IDS_TABLE}")
            cursor.execute(
                f"""{verb} FROM catalog_product p WHERE p.store_id = %s AND NOT EXISTS (
                        SELECT 1 FROM {FEED_IDS_TABLE} s WHERE s.external_id = p.external_id)""",  # noqa: S608
                [store_id],
            )
            return cursor.fetchone()[0] if dry_run else cursor.rowcount

    def drop(self) -> None:
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TABLE IF EXISTS {FEED_IDS_TABLE}")


def product_import(
    *,
    store_id: str,
    records: Iterable[SourceRecord],
    batch_size: int = DEFAULT_BATCH_SIZE,
    dry_run: bool = False,
    prune: bool = False,
    default_currency: str | None = None,
    feed_incomplete: Callable[[], str | None] = lambda: None,
    progress: Callable[[], float | None] = lambda: None,
    on_reject: Callable[[Rejection], None] = lambda rejection: None,
    on_batch: Callable[[ImportSummary, float | None], None] = lambda summary, progress: None,
) -> ImportSummary:
    """Validate and upsert a feed into one store's products.

    Each batch commits on its own, so an interrupted import keeps whole batches only and a
    re-run finishes the job (unchanged rows are skipped). Duplicate external ids: the last
    record wins. Records the source marks as skipped (a grouped product...) are counted by
    reason; with `prune`, a stored product that is now skipped is removed like a missing one.
    `feed_incomplete()` is asked once the feed is read and returns why it cannot be trusted
    to be complete (None when it can); `progress()` says how far the feed is read.
    Both, like reading the records, run in the reader process (see prefetch.py).
    """
    summary = ImportSummary(store_id=store_id, dry_run=dry_run)
    started = time.perf_counter()
    unnamed_rejects = 0
    feed_ids = _FeedIdsTable() if prune else None
    # A store's first import: nothing to look up, every product is new (until proven wrong).
    first_import = not store_has_products(store_id)

    def reject(rejection: Rejection) -> None:
        summary.rejected += 1
        if len(summary.rejections_sample) < 20:
            summary.rejections_sample.append(rejection)
        on_reject(rejection)

    def read() -> Iterator[PreparedBatch]:
        # Runs in the reader process: the feed's progress travels with each batch.
        for batch in prepare_batches(
            records,
            store_id=store_id,
            batch_size=batch_size,
            encode=first_import,
            default_currency=default_currency,
        ):
            batch.progress = progress()
            yield batch
        # The last word on completeness is the reader's: it alone saw the whole feed.
        yield PreparedBatch(progress=progress(), incomplete=feed_incomplete(), last=True)

    incomplete = None
    for batch in in_background(read):
        if batch.last:
            incomplete = batch.incomplete
            continue
        summary.records += batch.records
        summary.duplicates += batch.duplicates
        summary.skipped.update(batch.skipped)
        kept_ids = []
        for record, field_name, reason in batch.rejections:
            rejection = _rejection(record, field_name, reason)
            reject(rejection)
            if rejection.external_id is None:
                unnamed_rejects += 1
            else:
                kept_ids.append(rejection.external_id)  # still in the feed: never prune it
        if batch.rows:
            result = write_batch(
                store_id=store_id,
                rows=batch.rows,
                copy_data=batch.copy_data,
                dry_run=dry_run,
                assume_new=first_import and not batch.repeats_earlier_batch,
            )
            _count(summary, result, batch.rows, reject)
        if feed_ids is not None:
            feed_ids.add([*batch.rows, *kept_ids])
        if batch.error:
            summary.error = batch.error  # what was read is saved; a re-run fetches the rest
        on_batch(summary, batch.progress)

    if prune:
        summary.prune_skipped = _why_not_prune(summary, incomplete, unnamed_rejects)
        if summary.prune_skipped is None:
            summary.pruned = feed_ids.prune(store_id=store_id, dry_run=dry_run)
        feed_ids.drop()
    if not dry_run and summary.created + (summary.pruned or 0) >= ANALYZE_AFTER_ROWS:
        analyze_products()
    summary.seconds = time.perf_counter() - started
    return summary


def _rejection(record: SourceRecord, field_name: str, reason: str) -> Rejection:
    external_id = record.data.get("external_id") if isinstance(record.data, dict) else None
    external_id = str(external_id).strip() if external_id not in (None, "") else None
    return Rejection(record.ref, field_name, reason, external_id, record.line)


def _count(
    summary: ImportSummary,
    result: BatchResult,
    rows: dict[str, ProductRow],
    reject: Callable[[Rejection], None],
) -> None:
    summary.created += result.created
    summary.updated += result.updated
    summary.unchanged += result.unchanged
    summary.without_image += sum(1 for row in rows.values() if not row.image_url)
    for external_id, reason in result.rejected:
        summary.without_image -= not rows[external_id].image_url
        reject(Rejection(f"external_id {external_id}", "record", reason, external_id))


def _why_not_prune(summary: ImportSummary, incomplete: str | None, unnamed: int) -> str | None:
    if summary.error:
        return "the feed broke off"
    if incomplete:
        return incomplete
    if unnamed:
        return (
            f"{counted(unnamed, 'rejected record')} {'has' if unnamed == 1 else 'have'} no "
            "external_id, so they cannot be kept"
        )
    if summary.created + summary.updated + summary.unchanged == 0:
        return "the feed has no valid product; refusing to empty the store"
    return None
