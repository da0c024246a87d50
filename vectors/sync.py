"""Keeping Qdrant in step with PostgreSQL by draining the product change log.

The log (vectors.ProductChange, a work queue: vectors/sync_queue.py) is filled by database
triggers in the writer's transaction. `sync_batch()` works in three steps:

1. Claim, in a short transaction: the oldest due rows (FOR UPDATE SKIP LOCKED, so several
   workers share the work) up to `batch_size` products, reading only the slice of each row it
   takes (a row bigger than what is left of the batch is split: the rest stays queued, the
   part taken becomes a row of its own), so a batch's memory is bounded whatever one
   statement touched. The rows get this worker's lease, and the transaction commits.
2. Work, with no transaction or row lock open (fetching images and running the model can
   take minutes): read those products' current state and write Qdrant
   (vectors/point_writer.py). A heartbeat renews the lease meanwhile; a worker that dies
   lets it run out, and another worker takes the rows.
3. Finish, in a short transaction: failures go back into the log, and the leased rows are
   deleted, if the lease is still ours (if not, the worker that took over delivers them again:
   writes are idempotent). In a long sync a second process claims, reads and embeds
   ahead and finishes behind, and this one only writes (`_Ahead`, vectors/preparer.py).

Failures are the products', never the queue's. Qdrant or PostgreSQL being unavailable is an
outage: the lease is released, the rows stay queued, and the caller waits. Anything else (an
image that will not load, a product Qdrant refuses, a bug) is narrowed down to the products
that cause it (the batch is halved until the failing ones are alone), which go back into the
log with their reason and a growing delay; after sync_queue.MAX_ATTEMPTS they are set aside
(`set_aside_at`), out of the way of everything behind them, for an operator to see and retry.
A product the embedder cannot embed until it changes (no image) is not retried on a timer.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import suppress
from dataclasses import dataclass
from functools import cached_property, partial
from typing import Any
from uuid import UUID

import numpy as np
from django.db import connection, transaction

from config.errors import describe
from config.processes import this_process
from vectors import sync_queue
from vectors.client import GuardedClient
from vectors.conf import QdrantConfig
from vectors.duplicates import queue_checks
from vectors.embedders import Embedder, needs_image
from vectors.exceptions import DATABASE_AWAY, CollectionNotFound, VectorStoreUnavailable
from vectors.fill import fill_if_new, record_synced_through
from vectors.models import ADD_TO_TOTALS, ProductChange
from vectors.point_writer import SyncReport, embed_rows, read_rows, write_products
from vectors.points import payload_of
from vectors.preparer import Preparer
from vectors.preparer import available as can_prepare_ahead

logger = logging.getLogger(__name__)

# Embedded Qdrant Edge builds its vector index only when asked. A long sync asks after every
# INDEX_EVERY points it writes, so that each build covers one segment of about that size
# (vectors/edge.py's MAX_SEGMENT_KB keeps such segments from being merged into larger ones):
# no build grows with the whole store, in time or memory, and searches walk a graph while the
# rest is delivered. Measured at a million points: bench/million.py, README "Embedded engine".
INDEX_EVERY = 200_000
# Waiting, not failing: the batch stays queued and the caller retries later.
OUTAGES = (VectorStoreUnavailable, CollectionNotFound, *DATABASE_AWAY)


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
    its products' rows, the vectors computed for them and their payloads."""

    lease: UUID
    claims: list[sync_queue.Claim]
    claimed_at: float  # time.monotonic(), the same clock in a forked child
    rows: dict[UUID, dict] | None = None
    vectors: dict[UUID, Any] | None = None
    payloads: dict[UUID, dict] | None = None

    # Pickled through the preparer's pipe: its vectors as one matrix rather than an array
    # each, and without the cached id lists (computed again on arrival). The writing process
    # is the sync's narrow part; this halves what it spends taking a batch in.
    def __getstate__(self) -> dict:
        state = {k: v for k, v in vars(self).items() if k not in ("ids", "to_embed")}
        if self.vectors:
            arrays = [pid for pid, v in self.vectors.items() if isinstance(v, np.ndarray)]
            others = {pid: v for pid, v in self.vectors.items() if not isinstance(v, np.ndarray)}
            matrix = np.stack([self.vectors[pid] for pid in arrays]) if arrays else None
            state["vectors"] = _Stacked(arrays, matrix, others)
        return state

    def __setstate__(self, state: dict) -> None:
        vectors = state.get("vectors")
        if isinstance(vectors, _Stacked):
            state["vectors"] = vectors.unstacked()
        vars(self).update(state)

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


@dataclass
class _Stacked:
    ids: list[UUID]
    matrix: np.ndarray | None
    others: dict[UUID, Any]  # what is not a vector (an EmbedFailure)

    def unstacked(self) -> dict[UUID, Any]:
        vectors = dict(zip(self.ids, self.matrix, strict=True)) if self.ids else {}
        return vectors | self.others


def _claim_batch(batch_size: int, holder: str) -> Batch | None:
    lease = uuid.uuid4()
    claims = sync_queue.claim(batch_size, lease, holder)
    return Batch(lease, claims, time.monotonic()) if claims else None


def _prepare_batch(batch_size: int, embedder: Embedder, holder: str) -> Batch | None:
    """Claim a batch and do what needs no Qdrant: read its products, build their payloads,
    embed those that need it. Run by the preparing process, for `holder`, the writing
    process that finishes the batch; an embedder that raises leaves the embedding to the
    writing side, which narrows the failure down to its products."""
    batch = _claim_batch(batch_size, holder)
    if batch is None:
        return None
    try:
        batch.rows = read_rows(batch.ids)
        batch.payloads = {pid: payload_of(row) for pid, row in batch.rows.items()}
        wanted = [row for pid, row in batch.rows.items() if pid in batch.to_embed]
        try:
            batch.vectors = embed_rows(embedder, wanted) if wanted else {}
        except OUTAGES:
            raise
        except Exception:
            batch.vectors = None
    except BaseException:
        sync_queue.release(batch.lease)
        raise
    return batch


def _write_batch(
    batch: Batch, *, client: GuardedClient, config: QdrantConfig, embedder: Embedder
) -> SyncReport:
    """Write the batch's products to Qdrant; an outage gives the batch back and raises."""
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
            payloads=batch.payloads,
        )

    if time.monotonic() - batch.claimed_at > sync_queue.LEASE.total_seconds() / 3:
        sync_queue.renew(batch.lease)  # waited while the batch before it was written
    try:
        with sync_queue.heartbeat(batch.lease):
            report = _deliver(batch.ids, write)
    except OUTAGES:
        sync_queue.release(batch.lease)
        raise
    report.batches = 1
    return report


@dataclass
class Written:
    """What is left to do once a batch is in Qdrant, in PostgreSQL only: small enough to
    hand to the preparing process (vectors.preparer), which does it beside the next write."""

    lease: UUID
    attempts: int  # the failures' count of attempts: one more than their rows had
    failed: dict[str, str]
    revectored: list[str]
    delivered: int

    @classmethod
    def of(cls, batch: Batch, report: SyncReport) -> Written:
        written = cls(
            lease=batch.lease,
            attempts=1 + max(claim.attempts for claim in batch.claims),
            failed=dict(report.failed),
            revectored=report.revectored,
            delivered=report.products - len(report.failed),
        )
        report.revectored = []  # a whole sync's report does not grow with the catalog
        return written


def _finish(written: Written) -> int:
    """In one transaction: the batch's failures go back into the log, its log rows go,
    its products' duplicate checks are queued and /metrics' totals counted. Returns how
    many failures were set aside."""
    with transaction.atomic():
        set_aside = sync_queue.requeue(written.failed, written.attempts) if written.failed else 0
        ProductChange.objects.filter(lease=written.lease).delete()
        queue_checks(written.revectored)
        with connection.cursor() as cursor:  # every worker's
            cursor.execute(ADD_TO_TOTALS, [written.delivered, len(written.failed), set_aside])
    return set_aside


def _deliver_batch(
    batch: Batch, *, client: GuardedClient, config: QdrantConfig, embedder: Embedder
) -> SyncReport:
    report = _write_batch(batch, client=client, config=config, embedder=embedder)
    report.set_aside = _finish(Written.of(batch, report))
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
# Batches the second process prepares ahead of the one being written: with one, either
# process waited for the other about a fifth of the time (their batches' costs vary).
PREPARED_AHEAD = 2


class _Inline:
    """Batches claimed, written and finished by this process, in turn."""

    def __init__(self, batch_size: int, holder: str, should_stop: Callable[[], bool]):
        self._batch_size, self._holder, self._should_stop = batch_size, holder, should_stop

    def __enter__(self) -> _Inline:
        return self

    def __exit__(self, *exc_info: object) -> None:
        pass

    def batches(self) -> Iterator[Batch]:
        while (
            not self._should_stop()
            and (batch := _claim_batch(self._batch_size, self._holder)) is not None
        ):
            yield batch

    def finish(self, batch: Batch, report: SyncReport) -> None:
        report.set_aside = _finish(Written.of(batch, report))

    def settle(self) -> int:
        """Finish what is left to finish; returns how many failures were set aside since
        the last call (none: each batch was finished at once)."""
        return 0


def _give_back(batch: Batch) -> None:
    # PostgreSQL down: the lease runs out by itself.
    with suppress(*DATABASE_AWAY):
        sync_queue.release(batch.lease)


def _finish_and_prepare(
    batch_size: int, embedder: Embedder, holder: str, written: Written | None
) -> tuple[int, Batch | None]:
    """Run by the preparing process: finish a batch written before the one being written
    now, then prepare the next."""
    set_aside = _finish(written) if written is not None else 0
    return set_aside, _prepare_batch(batch_size, embedder, holder)


class _Ahead:
    """Batches prepared by a second process, PREPARED_AHEAD ahead of the one being written;
    and each written batch finished there (its PostgreSQL statements, `_finish`), handed
    over with the next request, so that the writing process, the sync's narrow part, only
    writes."""

    def __init__(
        self, batch_size: int, holder: str, embedder: Embedder, should_stop: Callable[[], bool]
    ):
        self._should_stop = should_stop
        self._preparer = Preparer(
            partial(_finish_and_prepare, batch_size, embedder, holder), discard=self._discard
        )
        self._written: Written | None = None  # not yet handed over
        self._set_aside = 0  # reported by the preparing process since the last settle()

    def __enter__(self) -> _Ahead:
        self._preparer.__enter__()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._preparer.__exit__(*exc_info)
        # An error between a write and the next request; if PostgreSQL is away too, the
        # batch's lease runs out and it is delivered again.
        with suppress(*DATABASE_AWAY):
            self._finish_here()

    def _finish_here(self) -> None:
        """Finish the written batch not yet handed over, if any, in this process."""
        if self._written is not None:
            written, self._written = self._written, None
            self._set_aside += _finish(written)

    def _discard(self, answer: tuple[int, Batch | None]) -> None:
        set_aside, batch = answer
        self._set_aside += set_aside
        if batch is not None:
            _give_back(batch)

    def batches(self) -> Iterator[Batch]:
        for _ in range(PREPARED_AHEAD):
            self._preparer.request(None)
        while True:
            set_aside, batch = self._preparer.receive()
            self._set_aside += set_aside
            if batch is None:
                return
            if self._should_stop():
                _give_back(batch)
                return
            self._preparer.request(self._written)
            self._written = None
            yield batch

    def finish(self, batch: Batch, report: SyncReport) -> None:
        self._written = Written.of(batch, report)  # finished with the next request

    def settle(self) -> int:
        """Finish here what was not handed over (before an index build, whose minutes the
        lease would not outlast, and at the end); returns how many failures were set aside
        since the last call."""
        self._finish_here()
        set_aside, self._set_aside = self._set_aside, 0
        return set_aside


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
    ahead_from: int | None = None,
) -> SyncReport:
    """Deliver every due change, batch by batch, until none is left or `should_stop()`
    (asked between batches); raises an outage (leaving the rest queued) when Qdrant or
    PostgreSQL fails. `index_every`: build the embedded store's index after every so many
    points written (INDEX_EVERY; 0 = never here), reporting each build's seconds to
    `on_index` (a server indexes by itself: nothing is done). `ahead_from`: when at least
    this many products are waiting (counted after a new collection's products are queued;
    None: never), claim, read and embed the next batch in a second process while this one
    writes (vectors.preparer), where fork is available and the embedder survives one
    (`fork_safe`), and outside a transaction (whose writes a second session could not
    see)."""
    total = SyncReport()
    unindexed = 0
    total.filled = fill_if_new(
        client=client, config=config, needs_image=needs_image(getattr(embedder, "name", ""))
    )
    sync_queue.take_over_dead_leases()
    holder = this_process()
    if (
        ahead_from is not None
        and can_prepare_ahead()
        and getattr(embedder, "fork_safe", False)
        and not connection.in_atomic_block
        and (ahead_from <= 0 or sync_queue.pending_count() >= ahead_from)
    ):
        pipeline = _Ahead(batch_size, holder, embedder, should_stop)
    else:
        pipeline = _Inline(batch_size, holder, should_stop)
    with pipeline:
        for batch in pipeline.batches():
            report = _write_batch(batch, client=client, config=config, embedder=embedder)
            pipeline.finish(batch, report)
            total.add(report)
            on_batch(total)
            unindexed += report.embedded + report.payload_updated
            if index_every and unindexed >= index_every:
                total.set_aside += pipeline.settle()
                started = time.monotonic()
                if client.optimize(config.collection):
                    on_index(time.monotonic() - started)
                unindexed = 0
        total.set_aside += pipeline.settle()
    total.set_aside += pipeline.settle()  # reported by the preparing process as it stopped
    if total.products:
        record_synced_through(client=client, config=config)
    return total
