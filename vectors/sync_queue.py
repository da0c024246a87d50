"""The change log as the vector sync's work queue: claiming, leasing, giving back, retrying
and setting aside its rows.

The log (vectors.ProductChange) is filled by database triggers in the writer's transaction
(vectors/change_log.py), at most ProductChange.MAX_IDS ids a row. A worker claims the oldest
due rows in a short transaction (FOR UPDATE SKIP LOCKED, so several workers share the work),
up to a batch of products, reading only the slice of each row it takes (a row bigger than
what is left of the batch is split: the rest stays queued, the part taken becomes a row of its
own), so a batch's memory is bounded whatever one statement touched. The rows get the
worker's lease, renewed by a heartbeat while it works with no transaction open; a worker that
dies lets the lease run out (at once when it was on this host: its process is known to be
gone), and another worker takes the rows. Products that failed go back with their reason and
a growing delay; after MAX_ATTEMPTS they are set aside, out of the way of everything behind
them, for an operator to see and retry.
"""

from __future__ import annotations

import logging
import socket
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from uuid import UUID

from django.db import connection, transaction
from django.db.models import F, Func, IntegerField, Sum
from django.utils import timezone

from config.backoff import Backoff
from config.processes import holder_is_gone
from config.text import counted
from vectors.exceptions import DATABASE_AWAY
from vectors.models import ProductChange

logger = logging.getLogger(__name__)

# A product that failed waits 1, 2, 4 ... minutes, at most 6 hours, before its next try.
RETRIES = Backoff(first=60.0, most=6 * 3600.0)
# 1 + 2 + 4 + ... minutes: about 8.5 hours of retries before a change is set aside.
MAX_ATTEMPTS = 10
# A claimed batch is this worker's for LEASE, renewed every LEASE / 3 while it works.
LEASE = timedelta(seconds=90)


def queue_for_embedding(product_ids: list, **fields) -> None:
    """Log these products as needing a new embedding, MAX_IDS to a row as the triggers do."""
    step = ProductChange.MAX_IDS
    ProductChange.objects.bulk_create(
        ProductChange(
            needs_embedding=True,
            product_ids=product_ids[start : start + step],
            **fields,
        )
        for start in range(0, len(product_ids), step)
    )


def request_resync(*, product_ids: list[UUID]) -> int:
    """Queue products for re-embedding (the admin's action; after a model change)."""
    queue_for_embedding(product_ids)
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
    FROM vectors_productchange
    WHERE id > %s AND set_aside_at IS NULL AND (not_before IS NULL OR not_before <= now())
      AND (leased_until IS NULL OR leased_until < now())
    ORDER BY id
    LIMIT {CLAIM_ROWS}
    FOR UPDATE SKIP LOCKED
"""  # noqa: S608 - CLAIM_ROWS is a constant
IDS_SQL = """
    SELECT change.id, change.product_ids[1:taken.n]
    FROM unnest(%s::bigint[], %s::int[]) AS taken(id, n)
    JOIN vectors_productchange AS change ON change.id = taken.id
"""
SPLIT_SQL = """
    WITH rest AS (
        UPDATE vectors_productchange SET product_ids = product_ids[%(taken)s + 1:]
        WHERE id = %(id)s
        RETURNING needs_embedding, changed_at, attempts, not_before, last_error
    )
    INSERT INTO vectors_productchange
        (needs_embedding, product_ids, changed_at, attempts, not_before, last_error)
    SELECT needs_embedding, %(ids)s::uuid[], changed_at, attempts, not_before, last_error
    FROM rest
    RETURNING id
"""


def claim(batch_size: int, lease: UUID, holder: str) -> list[Claim]:
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
            "UPDATE vectors_productchange SET lease = %s, leased_until = now() + %s, "
            "leased_by = %s WHERE id = ANY(%s)",
            [lease, LEASE, holder, [claim.pk for claim in claims]],
        )
    return claims


def renew(lease: UUID) -> None:
    ProductChange.objects.filter(lease=lease).update(leased_until=timezone.now() + LEASE)


def release(lease: UUID) -> None:
    """Give the rows back at once (an outage): another try need not wait for the lease."""
    ProductChange.objects.filter(lease=lease).update(lease=None, leased_until=None, leased_by="")


def take_over_dead_leases() -> int:
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
def heartbeat(lease: UUID):
    """Renew the lease every LEASE / 3 from a thread of its own (with its own database
    connection) while the work runs."""
    stop = threading.Event()

    def beat() -> None:
        try:
            while not stop.wait(LEASE.total_seconds() / 3):
                try:
                    renew(lease)
                except DATABASE_AWAY:
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


def requeue(failed: dict[str, str], attempts: int) -> int:
    """Put failed products back in the log with their reasons, to be tried again after a
    growing delay, or set aside once they have failed MAX_ATTEMPTS times. Returns how many
    were set aside."""
    now = timezone.now()
    give_up = attempts >= MAX_ATTEMPTS
    delay = timedelta(seconds=RETRIES.delay(attempts))
    reasons = "; ".join(f"{pid}: {reason}" for pid, reason in list(failed.items())[:20])
    queue_for_embedding(
        list(failed),
        attempts=attempts,
        not_before=now + delay,
        last_error=reasons[:2000],
        set_aside_at=now if give_up else None,
    )
    return len(failed) if give_up else 0
