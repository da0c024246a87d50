"""Zero-downtime re-index: build the next version of the collection beside the live one,
then swap the alias.

1. Create `<name>_v<N+1>` with the current settings (a new model, a new vector size...).
2. Fill it from PostgreSQL, page by page in id order, with the configured embedder, while
   the alias still points at the old version: searches and the sync worker carry on there.
3. Replay what changed meanwhile: every product written since the fill began (updated_at,
   kept current by a trigger for every kind of write) is rewritten, and points whose
   product was deleted are removed. Repeated until a pass finds (almost) nothing.
4. Swap the alias in one atomic operation, then replay once more, for changes the worker
   delivered to the old version between the last replay and the swap.
5. Drop the old version, unless asked to keep it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from uuid import UUID

from django.db import connection

from catalog.models import Product
from vectors.client import GuardedClient, models
from vectors.collection import create_physical, resolve_collection
from vectors.conf import QdrantConfig
from vectors.embedders import Embedder
from vectors.exceptions import AliasAlreadySwapped, VectorStoreError
from vectors.fill import mark_filled
from vectors.point_writer import SyncReport, write_products
from vectors.reconcile import reconcile
from vectors.sync_queue import request_resync

# Django's auto_now uses the application's clock, the trigger PostgreSQL's: allow for skew.
CLOCK_MARGIN = timedelta(minutes=1)
MAX_REPLAYS = 5


@dataclass
class ReindexReport:
    old: str | None
    new: str
    filled: SyncReport = field(default_factory=SyncReport)
    replayed: int = 0
    dropped_old: bool = False
    removed_legacy_store: bool = False


def next_version_name(*, client: GuardedClient, name: str) -> str:
    pattern = re.compile(rf"{re.escape(name)}_v(\d+)")
    versions = [
        int(match.group(1))
        for collection in client.get_collections().collections
        if (match := pattern.fullmatch(collection.name))
    ]
    return f"{name}_v{max(versions, default=0) + 1}"


def _database_now() -> datetime:
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement_timestamp()")
        return cursor.fetchone()[0]


def _fill(*, client, collection, embedder, page_size, report, on_page) -> None:
    last_id = None
    while True:
        query = Product.objects.order_by("pk").values_list("pk", flat=True)
        if last_id is not None:
            query = query.filter(pk__gt=last_id)
        ids = list(query[:page_size])
        if not ids:
            return
        last_id = ids[-1]
        page = write_products(
            client=client,
            collection=collection,
            embedder=embedder,
            product_ids=ids,
            embed=set(ids),
        )
        report.filled.add(page)
        on_page(report)


def _replay(*, client, collection, embedder, since: datetime, page_size: int) -> int:
    """Rewrite products written since `since`; delete points of deleted products."""
    changed = list(
        Product.objects.filter(updated_at__gte=since - CLOCK_MARGIN).values_list("pk", flat=True)
    )
    for start in range(0, len(changed), page_size):
        ids = changed[start : start + page_size]
        write_products(
            client=client,
            collection=collection,
            embedder=embedder,
            product_ids=ids,
            embed=set(ids),
        )
    orphans = reconcile(client=client, collection=collection, embedder=embedder, fix=True).orphans
    return len(changed) + orphans


def reindex(
    *,
    client: GuardedClient,
    config: QdrantConfig,
    embedder: Embedder,
    keep_old: bool = False,
    page_size: int = 256,
    on_page: Callable[[ReindexReport], None] = lambda report: None,
) -> ReindexReport:
    old = resolve_collection(client=client, name=config.collection)
    new = next_version_name(client=client, name=config.collection)
    report = ReindexReport(old=old, new=new)
    create_physical(client=client, config=config, name=new)
    # This fills the new version itself: the sync must not queue the catalog for it.
    mark_filled(client=client, collection=new)

    since = _database_now()
    _fill(
        client=client,
        collection=new,
        embedder=embedder,
        page_size=page_size,
        report=report,
        on_page=on_page,
    )
    for _ in range(MAX_REPLAYS):
        pass_started = _database_now()
        replayed = _replay(
            client=client, collection=new, embedder=embedder, since=since, page_size=page_size
        )
        report.replayed += replayed
        since = pass_started
        if replayed <= page_size:
            break

    # The new version serves searches from the moment the alias moves: build its HNSW index
    # first (embedded Qdrant Edge; a server indexes by itself).
    client.optimize(new)

    operations: list = []
    if old is not None and old != config.collection:
        operations.append(
            models.DeleteAliasOperation(
                delete_alias=models.DeleteAlias(alias_name=config.collection)
            )
        )
    elif old == config.collection:
        # A plain collection under the alias's name must go first: the one moment without it.
        client.delete_collection(old)
    operations.append(
        models.CreateAliasOperation(
            create_alias=models.CreateAlias(collection_name=new, alias_name=config.collection)
        )
    )
    client.update_collection_aliases(change_aliases_operations=operations)
    try:
        report.replayed += _replay(
            client=client, collection=new, embedder=embedder, since=since, page_size=page_size
        )
        if report.filled.failed:
            # Products whose image would not load: the sync worker retries them.
            request_resync(product_ids=[UUID(pid) for pid in report.filled.failed])
        if old is not None and old != config.collection and not keep_old:
            client.delete_collection(old)
            report.dropped_old = True
        if client.legacy_store():  # rebuilt from PostgreSQL: the old format's files can go
            client.remove_legacy_store()
            report.removed_legacy_store = True
    except VectorStoreError as exc:
        raise AliasAlreadySwapped(
            f"{exc} '{config.collection}' already points at '{new}'; run manage.py "
            "reconcile_vectors --fix to bring it up to date"
            + (f" and drop '{old}' by hand." if old and old != config.collection else ".")
        ) from exc
    return report
