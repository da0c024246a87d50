"""Keeping Qdrant in step with PostgreSQL by draining the product change log.

The log (catalog.ProductChange) is filled by database triggers in the writer's transaction,
at most ProductChange.MAX_IDS ids a row. `sync_batch()` works in three steps:

1. Claim, in a short transaction: the oldest due rows (FOR UPDATE SKIP LOCKED, so several
   workers share the work) up to `batch_size` products, reading only the slice of each row it
   takes (a row bigger than what is left of the batch is split: the rest stays queued, the
   part taken becomes a row of its own), so a batch's memory is bounded whatever one
   statement touched. The rows get this worker's lease, and the transaction commits.
2. Work, with no transaction or row lock open (fetching images and running the model can
   take minutes): read those products' current state and write Qdrant. A product that exists
   is upserted (embedded again only when its image or text changed, or its point is missing;
   otherwise only its payload is set), one that does not is deleted. A heartbeat renews the
   lease meanwhile; a worker that dies lets it run out, and another worker takes the rows.
3. Finish, in a short transaction: failures go back into the log, and the leased rows are
   deleted, if the lease is still ours (if not, the worker that took over delivers them again:
   writes are idempotent).

Failures are the products', never the queue's. Qdrant or PostgreSQL being unavailable is an
outage: the lease is released, the rows stay queued, and the caller waits. Anything else (an
image that will not load, a product Qdrant refuses, a bug) is narrowed down to the products
that cause it (the batch is halved until the failing ones are alone), which go back into the
log with their reason and a growing delay; after MAX_ATTEMPTS they are set aside
(`set_aside_at`), out of the way of everything behind them, for an operator to see and retry.
A product the embedder cannot embed until it changes (no image) is not retried on a timer.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import timedelta
from functools import cached_property
from typing import Any
from uuid import UUID

from django.db import InterfaceError, OperationalError, connection, transaction
from django.db.models import F, Func, IntegerField, Sum
from django.utils import timezone

from catalog.models import Product, ProductChange
from config.errors import describe
from config.processes import holder_is_gone, this_process
from config.text import counted
from vectors.client import GuardedClient, models
from vectors.conf import QdrantConfig
from vectors.duplicates import queue_checks
from vectors.embedders import Embedder, EmbedFailure, needs_image
from vectors.exceptions import CollectionNotFound, VectorStoreUnavailable
from vectors.fill import fill_if_new, record_synced_through
from vectors.metrics import EMBED_SECONDS
from vectors.models import ADD_TO_TOTALS
from vectors.points import PRODUCT_FIELDS, embedder_input, payload_of
from vectors.preparer import Preparer
from vectors.preparer import available as can_prepare_ahead

logger = logging.getLogger(__name__)

RETRY_BASE = timedelta(minutes=1)
RETRY_MAX = timedelta(hours=6)
# 1 + 2 + 4 + ... minutes: about 8.5 hours of retries before a change is set aside.
MAX_ATTEMPTS = 10
# A claimed batch is this worker's for LEASE, renewed every LEASE / 3 while it works.
LEASE = timedelta(seconds=90)
# Embedded Qdrant Edge builds its vector index only when asked. A long sync asks after every
# INDEX_EVERY points it writes, so that each build covers one segment of about that size
# (vectors/edge.py's MAX_SEGMENT_KB keeps such segments from being merged into larger ones):
# no build grows with the whole store, in time or memory, and searches walk a graph while the
# rest is delivered. Measured at a million points: bench/million.py, README "Embedded engine".
INDEX_EVERY = 200_000
# Waiting, not failing: the batch stays queued and the caller retries later.
OUTAGES = (VectorStoreUnavailable, CollectionNotFound, OperationalError, InterfaceError)


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


def _queue_for_embedding(product_ids: list, **fields) -> None:
    """Log these products as needing a new embedding, MAX_IDS to a row as the triggers do."""
    step = ProductChange.MAX_IDS
    ProductChange.objects.bulk_create(
        ProductChange(
            kind=ProductChange.Kind.UPDATE,
            needs_embedding=True,
            product_ids=product_ids[start : start + step],
            **fields,
        )
        for start in range(0, len(product_ids), step)
    )


def request_resync(*, product_ids: list[UUID]) -> int:
    """Queue products for re-embedding (the admin's action; after a model change)."""
    _queue_for_embedding(product_ids)
    return len(product_ids)


def _products_in(queryset) -> int:
    cardinality = Func(F("product_ids"), function="cardinality", output_field=IntegerField())
    return queryset.aggregate(n=Sum(cardinality))["n"] or 0


def pending_count() -> int:
    """Products waiting (an estimate: one product may be in several entries)."""
    return _products_in(ProductChange.objects.filter(set_aside_at__isnull=True))


def set_aside_count() -> int:
    """Products the sync gave up on after repeated failures."""
    return _products_in(ProductChange.objects.filter(set_aside_at__isnull=False))


def set_aside_notice() -> str | None:
    """One paragraph for an operator about the changes set aside, or None when there are
    none: how many products, a few reasons, what to do."""
    count = set_aside_count()
    if not count:
        return None
    reasons = ProductChange.objects.filter(set_aside_at__isnull=False).values_list(
        "last_error", flat=True
    )[:3]
    shown = "".join(f"\n  {reason[:300]}" for reason in reasons)
    return (
        f"{counted(count, 'product')} set aside after {MAX_ATTEMPTS} failed sync attempts; once "
        f"the cause is fixed, run manage.py sync_vectors --retry-set-aside. Reasons:{shown}"
    )


def retry_set_aside() -> int:
    """Queue every set-aside change again, from its first attempt (after fixing the cause)."""
    return ProductChange.objects.filter(set_aside_at__isnull=False).update(
        set_aside_at=None, attempts=0, not_before=None
    )


@dataclass
class Claim:
    """One change-log row leased by this worker."""

    pk: int
    needs_embedding: bool
    attempts: int
    product_ids: list[UUID]


CLAIM_ROWS = 16  # log rows looked at per query while filling a batch
# Sizes first: ids are read (and parsed) only from the rows taken, and only the part taken.
CLAIM_SQL = f"""
    SELECT id, needs_embedding, attempts, cardinality(product_ids)
    FROM catalog_productchange
    WHERE id > %s AND set_aside_at IS NULL AND (not_before IS NULL OR not_before <= now())
      AND (leased_until IS NULL OR leased_until < now())
    ORDER BY id
    LIMIT {CLAIM_ROWS}
    FOR UPDATE SKIP LOCKED
"""  # noqa: S608 - CLAIM_ROWS is a constant
IDS_SQL = """
    SELECT change.id, change.product_ids[1:taken.n]
    FROM unnest(%s::bigint[], %s::int[]) AS taken(id, n)
    JOIN catalog_productchange AS change ON change.id = taken.id
"""
SPLIT_SQL = """
    WITH rest AS (
        UPDATE catalog_productchange SET product_ids = product_ids[%(taken)s + 1:]
        WHERE id = %(id)s
        RETURNING kind, needs_embedding, changed_at, attempts, not_before, last_error
    )
    INSERT INTO catalog_productchange
        (kind, needs_embedding, product_ids, changed_at, attempts, not_before, last_error)
    SELECT kind, needs_embedding, %(ids)s::uuid[], changed_at, attempts, not_before, last_error
    FROM rest
    RETURNING id
"""


def _claim(batch_size: int, lease: UUID, holder: str) -> list[Claim]:
    """Lease the oldest due rows, up to batch_size products, in one short transaction. Only
    the ids taken are read; a row with more than what is left of the batch keeps the rest
    queued and gives the ids taken a row of their own."""
    taken: list[tuple[int, bool, int, int, int]] = []  # pk, embedding, attempts, count, size
    room, after = max(1, batch_size), 0
    with transaction.atomic(), connection.cursor() as cursor:
        while room:
            cursor.execute(CLAIM_SQL, [after])
            rows = cursor.fetchall()
            for pk, needs_embedding, attempts, size in rows:
                after = pk
                count = min(size, room)
                taken.append((pk, needs_embedding, attempts, count, size))
                room -= count
                if not room:
                    break
            if len(rows) < CLAIM_ROWS:
                break
        if not taken:
            return []
        cursor.execute(IDS_SQL, [[row[0] for row in taken], [row[3] for row in taken]])
        ids_of = dict(cursor.fetchall())
        claims: list[Claim] = []
        for pk, needs_embedding, attempts, count, size in taken:
            ids = ids_of[pk]
            if size > count:
                cursor.execute(SPLIT_SQL, {"taken": count, "id": pk, "ids": ids})
                pk = cursor.fetchone()[0]
            claims.append(Claim(pk, needs_embedding, attempts, ids))
        cursor.execute(
            "UPDATE catalog_productchange SET lease = %s, leased_until = now() + %s, "
            "leased_by = %s WHERE id = ANY(%s)",
            [lease, LEASE, holder, [claim.pk for claim in claims]],
        )
    return claims


def _renew(lease: UUID) -> None:
    ProductChange.objects.filter(lease=lease).update(leased_until=timezone.now() + LEASE)


def _release(lease: UUID) -> None:
    """Give the rows back at once (an outage): another try need not wait for the lease."""
    ProductChange.objects.filter(lease=lease).update(lease=None, leased_until=None, leased_by="")


def _take_over_dead_leases() -> int:
    """Give back at once the rows leased by processes of this host that have ended (a sync
    killed mid-batch, restarted): waiting out their lease would hold the last batch back for
    LEASE. Holders on other hosts cannot be told dead from here; their leases run out."""
    held = (
        ProductChange.objects.filter(
            lease__isnull=False,
            leased_until__gte=timezone.now(),
            leased_by__startswith=f"{socket.gethostname()}:",
        )
        .values_list("leased_by", flat=True)
        .distinct()
    )
    dead = [holder for holder in held if holder_is_gone(holder)]
    if not dead:
        return 0
    return ProductChange.objects.filter(leased_by__in=dead).update(
        lease=None, leased_until=None, leased_by=""
    )


@contextmanager
def _heartbeat(lease: UUID):
    """Renew the lease every LEASE / 3 from a thread of its own (with its own database
    connection) while the work runs."""
    stop = threading.Event()

    def beat() -> None:
        try:
            while not stop.wait(LEASE.total_seconds() / 3):
                try:
                    _renew(lease)
                except (OperationalError, InterfaceError):
                    logger.warning("could not renew the sync lease; will try again")
        finally:
            connection.close()

    thread = threading.Thread(target=beat, name="sync-lease", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def write_products(
    *,
    client: GuardedClient,
    collection: str,
    embedder: Embedder,
    product_ids: Iterable[UUID],
    embed: set[UUID],
    rows: dict[UUID, dict] | None = None,
    vectors: dict[UUID, Any] | None = None,
) -> SyncReport:
    """Bring these products' points up to date in `collection`; `embed` are those whose
    vectors must be recomputed (the others get their payload refreshed, if they exist).
    `rows` and `vectors`: what was read and embedded ahead (a product not in `rows` is gone;
    one not in `vectors` is embedded here)."""
    report = SyncReport()
    ids = list(dict.fromkeys(product_ids))
    rows = _read_rows(ids) if rows is None else {pid: rows[pid] for pid in ids if pid in rows}
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
        computed = dict(vectors or {})
        missing = [row for row in to_embed if row["id"] not in computed]
        if missing:
            computed.update(_embed(embedder, missing))
        points, unembeddable = [], []
        for row in to_embed:
            vector = computed[row["id"]]
            if isinstance(vector, EmbedFailure):
                if vector.retry:
                    report.failed[str(row["id"])] = vector.reason
                else:
                    unembeddable.append(str(row["id"]))
                continue
            # Built from values already of the right types: validating 768 floats a point
            # would cost as much as Qdrant Edge's whole upsert.
            points.append(
                models.PointStruct.model_construct(
                    id=str(row["id"]), vector=vector.tolist(), payload=payload_of(row)
                )
            )
        if points:
            client.upsert(collection_name=collection, points=points)
            report.embedded = len(points)
            report.revectored += [point.id for point in points]
        if unembeddable:  # an image removed: its old vector no longer stands for the product
            client.delete(
                collection_name=collection,
                points_selector=models.PointIdsList(points=unembeddable),
            )
            report.without_image = len(unembeddable)
            report.revectored += unembeddable
    return report


def _read_rows(ids: list[UUID]) -> dict[UUID, dict]:
    return {row["id"]: row for row in Product.objects.filter(pk__in=ids).values(*PRODUCT_FIELDS)}


def _embed(embedder: Embedder, rows: list[dict]) -> dict[UUID, Any]:
    with EMBED_SECONDS.labels(getattr(embedder, "name", "?")).time():
        vectors = embedder.embed([embedder_input(row) for row in rows])
    return {row["id"]: vector for row, vector in zip(rows, vectors, strict=True)}


def _requeue(failed: dict[str, str], attempts: int) -> int:
    """Put failed products back in the log with their reasons, to be tried again after a
    growing delay, or set aside once they have failed MAX_ATTEMPTS times. Returns how many
    were set aside."""
    now = timezone.now()
    give_up = attempts >= MAX_ATTEMPTS
    delay = min(RETRY_MAX, RETRY_BASE * 2 ** (attempts - 1))
    reasons = "; ".join(f"{pid}: {reason}" for pid, reason in list(failed.items())[:20])
    _queue_for_embedding(
        list(failed),
        attempts=attempts,
        not_before=now + delay,
        last_error=reasons[:2000],
        set_aside_at=now if give_up else None,
    )
    return len(failed) if give_up else 0


def _deliver(ids: list[UUID], write: Callable[[list[UUID]], SyncReport]) -> SyncReport:
    """write(ids), narrowing an unexpected failure down to the products causing it:
    halves are tried on their own until the failing ones are alone. Outages are not
    narrowed: they propagate and leave the whole batch queued."""
    try:
        return write(ids)
    except OUTAGES:
        raise
    except Exception as exc:
        if len(ids) == 1:
            reason = describe(exc)
            logger.warning("sync of product %s failed: %s", ids[0], reason)
            return SyncReport(failed={str(ids[0]): reason})
        middle = len(ids) // 2
        report = _deliver(ids[:middle], write)
        report.add(_deliver(ids[middle:], write))
        return report


@dataclass
class Batch:
    """A claimed batch: its lease and log rows, and (when prepared ahead by vectors.preparer)
    its products' rows and the vectors computed for them."""

    lease: UUID
    claims: list[Claim]
    claimed_at: float  # time.monotonic(), the same clock in a forked child
    rows: dict[UUID, dict] | None = None
    vectors: dict[UUID, Any] | None = None

    @cached_property
    def ids(self) -> list[UUID]:
        return list(dict.fromkeys(pid for claim in self.claims for pid in claim.product_ids))

    @cached_property
    def to_embed(self) -> set[UUID]:
        """Those whose vectors must be computed again (the rest: payload, if they exist)."""
        return {
            pid
            for claim in self.claims
            if claim.needs_embedding or claim.attempts
            for pid in claim.product_ids
        }


def _claim_batch(batch_size: int, holder: str) -> Batch | None:
    lease = uuid.uuid4()
    claims = _claim(batch_size, lease, holder)
    return Batch(lease, claims, time.monotonic()) if claims else None


def _prepare_batch(batch_size: int, embedder: Embedder, holder: str) -> Batch | None:
    """Claim a batch and do what needs no Qdrant: read its products, embed those that need
    it. Run by the preparing process, for `holder`, the writing process that finishes the
    batch; an embedder that raises leaves the embedding to the writing side, which narrows
    the failure down to its products."""
    batch = _claim_batch(batch_size, holder)
    if batch is None:
        return None
    try:
        batch.rows = _read_rows(batch.ids)
        wanted = [row for pid, row in batch.rows.items() if pid in batch.to_embed]
        try:
            batch.vectors = _embed(embedder, wanted) if wanted else {}
        except OUTAGES:
            raise
        except Exception:
            batch.vectors = None
    except BaseException:
        _release(batch.lease)
        raise
    return batch


def _deliver_batch(
    batch: Batch, *, client: GuardedClient, config: QdrantConfig, embedder: Embedder
) -> SyncReport:
    embed = batch.to_embed

    def write(some: list[UUID]) -> SyncReport:
        return write_products(
            client=client,
            collection=config.collection,
            embedder=embedder,
            product_ids=some,
            embed=embed,  # only the ones among `some` count
            rows=batch.rows,
            vectors=batch.vectors,
        )

    if time.monotonic() - batch.claimed_at > LEASE.total_seconds() / 3:
        _renew(batch.lease)  # waited while the batch before it was written
    try:
        with _heartbeat(batch.lease):
            report = _deliver(batch.ids, write)
    except OUTAGES:
        _release(batch.lease)
        raise
    with transaction.atomic():
        if report.failed:
            attempts = 1 + max(claim.attempts for claim in batch.claims)
            report.set_aside = _requeue(report.failed, attempts)
        ProductChange.objects.filter(lease=batch.lease).delete()
        queue_checks(report.revectored)
        report.revectored = []
        with connection.cursor() as cursor:  # /metrics' counters, every worker's
            delivered = report.products - len(report.failed)
            cursor.execute(ADD_TO_TOTALS, [delivered, len(report.failed), report.set_aside])
    report.batches = 1
    return report


def sync_batch(
    *, client: GuardedClient, config: QdrantConfig, embedder: Embedder, batch_size: int
) -> SyncReport | None:
    """Deliver one batch of pending changes; None when nothing is due."""
    batch = _claim_batch(batch_size, this_process())
    if batch is None:
        return None
    return _deliver_batch(batch, client=client, config=config, embedder=embedder)


# Worth a second process: a sync of at least this many batches (sync_vectors asks).
AHEAD_MIN_BATCHES = 8


def _batches_inline(
    batch_size: int, holder: str, should_stop: Callable[[], bool]
) -> Iterator[Batch]:
    while not should_stop() and (batch := _claim_batch(batch_size, holder)) is not None:
        yield batch


def _give_back(batch: Batch) -> None:
    # PostgreSQL down: the lease runs out by itself.
    with suppress(OperationalError, InterfaceError):
        _release(batch.lease)


def _batches_ahead(
    batch_size: int, holder: str, embedder: Embedder, should_stop: Callable[[], bool]
) -> Iterator[Batch]:
    """Batches prepared by a second process, one ahead of the one being written."""
    prepare = lambda: _prepare_batch(batch_size, embedder, holder)  # noqa: E731
    with Preparer(prepare, discard=_give_back) as ahead:
        ahead.request()
        while (batch := ahead.receive()) is not None:
            if should_stop():
                _give_back(batch)
                return
            ahead.request()
            yield batch


def sync_pending(
    *,
    client: GuardedClient,
    config: QdrantConfig,
    embedder: Embedder,
    batch_size: int = 256,
    on_batch: Callable[[SyncReport], None] = lambda report: None,
    should_stop: Callable[[], bool] = lambda: False,
    index_every: int = 0,
    on_index: Callable[[float], None] = lambda seconds: None,
    ahead: bool = False,
) -> SyncReport:
    """Deliver every due change, batch by batch, until none is left or `should_stop()`
    (asked between batches); raises an outage (leaving the rest queued) when Qdrant or
    PostgreSQL fails. `index_every`: build the embedded store's index after every so many
    points written (INDEX_EVERY; 0 = never here), reporting each build's seconds to
    `on_index` (a server indexes by itself: nothing is done). `ahead`: claim, read and
    embed the next batch in a second process while this one writes (vectors.preparer),
    where fork is available and the embedder survives one (`fork_safe`), and outside a
    transaction (whose writes a second session could not see)."""
    total = SyncReport()
    unindexed = 0
    total.filled = fill_if_new(
        client=client, config=config, needs_image=needs_image(getattr(embedder, "name", ""))
    )
    _take_over_dead_leases()
    holder = this_process()
    if (
        ahead
        and can_prepare_ahead()
        and getattr(embedder, "fork_safe", False)
        and not connection.in_atomic_block
    ):
        batches = _batches_ahead(batch_size, holder, embedder, should_stop)
    else:
        batches = _batches_inline(batch_size, holder, should_stop)
    for batch in batches:
        report = _deliver_batch(batch, client=client, config=config, embedder=embedder)
        total.add(report)
        on_batch(total)
        unindexed += report.embedded + report.payload_updated
        if index_every and unindexed >= index_every:
            started = time.monotonic()
            if client.optimize(config.collection):
                on_index(time.monotonic() - started)
            unindexed = 0
    if total.products:
        record_synced_through(client=client, config=config)
    return total
