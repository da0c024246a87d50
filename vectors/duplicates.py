"""The same product sold by several shops: products whose vectors are near-identical (cosine
at or above the duplicate threshold) are linked, and the products their links reach form one
group, named by the smallest id among them. Searches show each group once, with its offers
(vectors/search.py).

Kept current beside the sync, not in its hot path: the sync queues each product whose vector
it wrote or removed (DuplicateCheck, in the batch's own transaction), and `check_duplicates`
drains that queue a bounded batch at a time: one neighbour query per product, its links
replaced, and the groups of every product those links touch (before and after) worked out
again, so a group splits when the product that held it together goes. `rebuild_duplicates`
does a whole catalog from scratch in bounded memory (pages of points, groups labelled in
PostgreSQL).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from django.conf import settings
from django.db import DatabaseError, connection, transaction

from config.text import counted
from vectors.client import GuardedClient, models
from vectors.conf import QdrantConfig

logger = logging.getLogger(__name__)

# Each embedder's threshold. The hashing stand-in's, chosen on a test catalog with known
# groups (bench/duplicates.py; figures in bench/RESULTS.md): the highest precision that still
# groups re-encoded photos. FashionSigLIP's cannot be measured here (no weights): a starting
# point, to calibrate on a shop's own data as the README says.
DEFAULT_THRESHOLDS = {"hashing": 0.85, "fashion-siglip": 0.95}
# Neighbours one product's query may link it to: a product sold by more shops than this
# still forms one group, through its duplicates' own links. With DUPLICATE_EF, what a
# whole rebuild costs (bench/RESULTS.md).
MAX_LINKS = 8
# Products one group may hold. A threshold too low for a catalog chains everything into one
# group, which would collapse every search into a result or two: a chain that reaches this
# size is left ungrouped instead, and the report says how many were (bench/RESULTS.md: a
# stand-in catalog once chained nearly everything into a handful of groups).
MAX_GROUP = 500
# Products checked in one transaction.
CHECK_BATCH = 256
# sync_vectors checks at most this many queued products after its writes; more (a first
# import) it leaves to group_duplicates, and says so.
CHECKS_INLINE_MAX = 50_000
# The neighbour query's graph walk: near-identical vectors are found with a narrow one. On a
# 200,000-product catalog with 10 % relisted, 16 (and 8 links) found 99.5 % of the links 64
# (and 32) found, in 0.38x the time, and 12 found 99.4 % in 0.87x the time of 16; at a million,
# 12 took 0.81x the time of 16 (bench/RESULTS.md): a rebuild is one query a product, and a
# million of them is what bounds it.
DUPLICATE_EF = 12
# Label passes of a whole rebuild: a group's longest chain of links (a duplicate's
# duplicate's ...); more than this and the rest are labelled by the queue's checks.
MAX_LABEL_PASSES = 64


def duplicate_threshold() -> float | None:
    """The cosine from which two products are one, or None when grouping is off."""
    configured = settings.VECTORS_DUPLICATE_THRESHOLD
    if configured is None:
        return DEFAULT_THRESHOLDS.get(settings.VECTORS_EMBEDDER)
    return configured if configured > 0 else None


QUEUE = """
INSERT INTO vectors_duplicatecheck (product_id)
SELECT unnest(%s::uuid[]) ON CONFLICT (product_id) DO NOTHING
"""


def queue_checks(product_ids: Iterable[str | UUID]) -> None:
    """Look for these products' duplicates again (their vectors changed or went)."""
    ids = [str(pid) for pid in product_ids]
    if ids and duplicate_threshold() is not None:
        with connection.cursor() as cursor:
            cursor.execute(QUEUE, [ids])


@dataclass
class GroupingReport:
    checked: int = 0
    links: int = 0  # written by these checks
    regrouped: int = 0  # products whose group was worked out again
    capped: int = 0  # chains that reached MAX_GROUP products, left ungrouped

    def add(self, other: GroupingReport) -> None:
        self.checked += other.checked
        self.links += other.links
        self.regrouped += other.regrouped
        self.capped += other.capped

    def summary(self) -> str:
        capped = (
            f"; {counted(self.capped, 'chain')} of {MAX_GROUP:,} or more products left "
            "ungrouped (VECTORS_DUPLICATE_THRESHOLD is too low for this catalog)"
            if self.capped
            else ""
        )
        return (
            f"Checked {counted(self.checked, 'product')} for duplicates: "
            f"{counted(self.links, 'link')}, {self.regrouped:,} regrouped{capped}."
        )


def pending_checks() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM vectors_duplicatecheck")
        return cursor.fetchone()[0]


CLAIM = """
SELECT product_id FROM vectors_duplicatecheck
ORDER BY queued_at, product_id LIMIT %s FOR UPDATE SKIP LOCKED
"""


def check_duplicates(
    *, client: GuardedClient, config: QdrantConfig, limit: int = CHECK_BATCH
) -> GroupingReport:
    """Check up to `limit` queued products: their links replaced by what a neighbour query
    finds now, and the groups they touch worked out again. One transaction: a failure
    (Qdrant down) leaves them queued."""
    threshold = duplicate_threshold()
    if threshold is None:
        return GroupingReport()
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(CLAIM, [limit])
            ids = [row[0] for row in cursor.fetchall()]
        if not ids:
            return GroupingReport()
        found = _neighbours(client, config, ids, threshold)
        old = _links_of(ids)
        with connection.cursor() as cursor:
            cursor.execute(
                "DELETE FROM vectors_duplicatelink "
                "WHERE product_id = ANY(%s::uuid[]) OR other_id = ANY(%s::uuid[])",
                [ids, ids],
            )
        links = _write_links(found)
        touched = set(ids) | {node for pair in old for node in pair}
        touched |= {other for pairs in found.values() for other, _ in pairs}
        report = _regroup(touched)
        with connection.cursor() as cursor:
            cursor.execute(
                "DELETE FROM vectors_duplicatecheck WHERE product_id = ANY(%s::uuid[])", [ids]
            )
    report.checked, report.links = len(ids), links
    return report


def check_queued_duplicates(
    *,
    client: GuardedClient,
    config: QdrantConfig,
    batch_size: int = CHECK_BATCH,
    max_batches: int | None = None,
    should_stop: Callable[[], bool] = lambda: False,
    on_batch: Callable[[GroupingReport], None] | None = None,
) -> GroupingReport:
    """check_duplicates until the queue is empty (or `max_batches`, or `should_stop`)."""
    total = GroupingReport()
    batches = 0
    while not should_stop() and (max_batches is None or batches < max_batches):
        report = check_duplicates(client=client, config=config, limit=batch_size)
        if not report.checked:
            break
        total.add(report)
        batches += 1
        if on_batch is not None:
            on_batch(total)
    return total


def _neighbours(
    client: GuardedClient, config: QdrantConfig, ids: list[UUID], threshold: float
) -> dict[UUID, list[tuple[UUID, float]]]:
    """Each product's near-identical neighbours; none for a product without a point."""
    points = client.retrieve(
        collection_name=config.collection,
        ids=[str(pid) for pid in ids],
        with_payload=False,
        with_vectors=True,
    )
    found: dict[UUID, list[tuple[UUID, float]]] = {pid: [] for pid in ids}
    found.update(_near(client, config, points, threshold))
    return found


def _near(client, config, points, threshold: float) -> dict[UUID, list[tuple[UUID, float]]]:
    """The near-identical neighbours of these points (each with its vector)."""
    return {
        UUID(str(point.id)): [(UUID(str(hit.id)), hit.score) for hit in hits]
        for point, hits in _near_answers(client, config, points, threshold)
    }


def _near_answers(client, config, points, threshold: float) -> list[tuple[Any, list[Any]]]:
    """Each point with its near-identical neighbours (itself left out), the queries in one
    batch. No filter keeps the point out of its own answer: one more result, dropped here,
    costs less than a filter built and checked for every query."""
    if not points:
        return []
    params = models.SearchParams(hnsw_ef=DUPLICATE_EF)
    answers = client.query_batch_points(
        collection_name=config.collection,
        requests=[
            # Built without validation: 768 floats a query would cost more than the search.
            models.QueryRequest.model_construct(
                query=point.vector,
                params=params,
                score_threshold=threshold,
                limit=MAX_LINKS + 1,
                with_payload=False,
            )
            for point in points
        ],
    )
    return [
        (point, [hit for hit in answer.points if hit.id != point.id][:MAX_LINKS])
        for point, answer in zip(points, answers, strict=True)
    ]


def _links_of(ids: list[UUID]) -> list[tuple[UUID, UUID]]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT product_id, other_id FROM vectors_duplicatelink "
            "WHERE product_id = ANY(%s::uuid[]) OR other_id = ANY(%s::uuid[])",
            [ids, ids],
        )
        return cursor.fetchall()


INSERT_LINKS = """
INSERT INTO vectors_duplicatelink (product_id, other_id, score)
SELECT * FROM unnest(%s::uuid[], %s::uuid[], %s::float8[])
ON CONFLICT (product_id, other_id) DO UPDATE SET score = EXCLUDED.score
"""


def _write_links(found: dict[UUID, list[tuple[UUID, float]]]) -> int:
    pairs = {}
    for product, neighbours in found.items():
        for other, score in neighbours:
            if other != product:
                pairs[(min(product, other), max(product, other))] = score
    if pairs:
        firsts, seconds = zip(*pairs, strict=True)
        with connection.cursor() as cursor:
            cursor.execute(
                INSERT_LINKS,
                [list(map(str, firsts)), list(map(str, seconds)), list(pairs.values())],
            )
    return len(pairs)


def _regroup(touched: set[UUID]) -> GroupingReport:
    """Work out again the groups of these products: every product their links reach (at
    most MAX_GROUP a group), each group named by its smallest id."""
    adjacency: dict[UUID, set[UUID]] = {node: set() for node in touched}
    frontier = list(touched)
    budget = MAX_GROUP * len(touched)
    while frontier and len(adjacency) < budget:
        reached = []
        for a, b in _links_of(frontier):
            for node, other in ((a, b), (b, a)):
                if node not in adjacency:
                    adjacency[node] = set()
                    reached.append(node)
                adjacency[node].add(other)
        frontier = reached
    groups, capped = _components(adjacency)
    ungrouped = [str(node) for node in adjacency if node not in groups]
    with connection.cursor() as cursor:
        if ungrouped:
            cursor.execute(
                "DELETE FROM vectors_duplicategroup WHERE product_id = ANY(%s::uuid[])",
                [ungrouped],
            )
        if groups:
            cursor.execute(
                REGROUP, [[str(node) for node in groups], [str(g) for g in groups.values()]]
            )
    return GroupingReport(regrouped=len(adjacency), capped=capped)


# Only the rows whose group changed are written: a check rewrote every member of the groups
# it touched, and a catalog whose groups are large left 61 dead rows for each live one
# (700,347 for 11,473 after bench/serve.py's 50,000 products were checked).
REGROUP = """
INSERT INTO vectors_duplicategroup (product_id, group_id)
SELECT * FROM unnest(%s::uuid[], %s::uuid[])
ON CONFLICT (product_id) DO UPDATE SET group_id = EXCLUDED.group_id
WHERE vectors_duplicategroup.group_id <> EXCLUDED.group_id
"""


def _components(adjacency: dict[UUID, set[UUID]]) -> tuple[dict[UUID, UUID], int]:
    """Each product in a group of two or more, with its group's id; and how many chains
    reached MAX_GROUP (left ungrouped)."""
    groups: dict[UUID, UUID] = {}
    seen: set[UUID] = set()
    capped = 0
    for start in adjacency:
        if start in seen:
            continue
        component, stack = {start}, [start]
        while stack:
            for other in adjacency.get(stack.pop(), ()):
                if other not in component and len(component) < MAX_GROUP:
                    component.add(other)
                    stack.append(other)
        seen |= component
        if len(component) >= MAX_GROUP:
            capped += 1
        elif len(component) > 1:
            name = min(component)
            groups.update(dict.fromkeys(component, name))
    return groups, capped


# --- A whole catalog, from scratch ---------------------------------------------------------

# Built in tables of this session's own, page by page (no long transaction), then put in
# place in one short one, so that searches keep the old groups meanwhile and never wait.
STAGE = (
    "DROP TABLE IF EXISTS new_pairs, new_links, new_groups",
    # Each link as either end's query found it (twice, mostly), copied in as found.
    "CREATE TEMPORARY TABLE new_pairs (product_id uuid, other_id uuid, score float8)",
    "CREATE TEMPORARY TABLE new_links (LIKE vectors_duplicatelink INCLUDING ALL)",
    "CREATE TEMPORARY TABLE new_groups (LIKE vectors_duplicategroup INCLUDING ALL)",
)
LINK_PAIRS = """
INSERT INTO new_links (product_id, other_id, score)
SELECT product_id, other_id, max(score) FROM new_pairs GROUP BY product_id, other_id
"""
SEED_LABELS = """
INSERT INTO new_groups (product_id, group_id)
SELECT node, node FROM (
    SELECT product_id AS node FROM new_links UNION SELECT other_id FROM new_links
) AS linked
"""
# One pass: every product takes the smallest label among its neighbours' (and its own).
# Passes until none changes: each product then holds its group's smallest id. (PostgreSQL has
# no min(uuid); canonical text compared bytewise orders as uuids do, and as Python's UUIDs.)
LABELLING = """
UPDATE new_groups AS g SET group_id = m.label
FROM (
    SELECT e.node, min(n.group_id::text COLLATE "C")::uuid AS label
    FROM (
        SELECT product_id AS node, other_id AS neighbour FROM new_links
        UNION ALL SELECT other_id, product_id FROM new_links
    ) AS e
    JOIN new_groups AS n ON n.product_id = e.neighbour
    GROUP BY e.node
) AS m
WHERE g.product_id = m.node AND m.label < g.group_id
"""
# Chains of MAX_GROUP or more products are left ungrouped, as the checks leave them.
UNGROUP_OVERSIZED = """
WITH oversized AS (
    DELETE FROM new_groups WHERE group_id IN (
        SELECT group_id FROM new_groups GROUP BY group_id HAVING count(*) >= %s
    ) RETURNING group_id
)
SELECT DISTINCT group_id FROM oversized
"""
PUT_IN_PLACE = (
    "DELETE FROM vectors_duplicatelink",
    "INSERT INTO vectors_duplicatelink SELECT * FROM new_links",
    "DELETE FROM vectors_duplicategroup",
    "INSERT INTO vectors_duplicategroup SELECT * FROM new_groups",
)


def rebuild_duplicates(
    *,
    client: GuardedClient,
    config: QdrantConfig,
    page: int = CHECK_BATCH,
    progress: Callable[[int], None] | None = None,
) -> GroupingReport:
    """Every product's duplicates looked for again and every group worked out from the
    links, in pages of `page` points (memory does not grow with the catalog); the old links
    and groups replaced at the end, at once. Checks the sync queued meanwhile stay queued."""
    threshold = duplicate_threshold()
    if threshold is None:
        return GroupingReport()
    report = GroupingReport()
    with connection.cursor() as cursor:
        cursor.execute("SELECT clock_timestamp()")
        (started,) = cursor.fetchone()
        for statement in STAGE:
            cursor.execute(statement)
    try:
        offset = None
        while True:
            points, offset = client.scroll(
                collection_name=config.collection,
                limit=page,
                offset=offset,
                with_payload=False,
                with_vectors=True,
            )
            _copy_pairs(_near_answers(client, config, points, threshold))
            report.checked += len(points)
            if progress is not None:
                progress(len(points))
            if offset is None:
                break
        with connection.cursor() as cursor:
            cursor.execute(LINK_PAIRS)
            report.links = cursor.rowcount
            cursor.execute(SEED_LABELS)
            report.regrouped = cursor.rowcount
            # Autovacuum never analyses temporary tables: the labelling passes' joins are
            # planned on what this finds.
            cursor.execute("ANALYZE new_links, new_groups")
            for _ in range(MAX_LABEL_PASSES):
                cursor.execute(LABELLING)
                if not cursor.rowcount:
                    break
            else:
                logger.warning(
                    "Duplicate groups: links chain further than %s passes; the rest are "
                    "labelled as their products are checked again.",
                    MAX_LABEL_PASSES,
                )
            cursor.execute(UNGROUP_OVERSIZED, [MAX_GROUP])
            report.capped = cursor.rowcount
        with transaction.atomic(), connection.cursor() as cursor:
            for statement in PUT_IN_PLACE:
                cursor.execute(statement)
            # Checks the sync queued before the rebuild began are done; later ones stay.
            cursor.execute("DELETE FROM vectors_duplicatecheck WHERE queued_at < %s", [started])
        with connection.cursor() as cursor:
            # Every row is new: without fresh statistics PostgreSQL planned the searches'
            # offers query (group_id = ANY) for thousands of rows, in parallel, 6-15 ms
            # instead of 0.1 (bench/RESULTS.md). Autovacuum would, later, where it runs.
            cursor.execute("ANALYZE vectors_duplicatelink, vectors_duplicategroup")
    finally:
        # Temporary tables go with the session anyway; a failed statement above must not be
        # hidden behind this one's failure in an aborted transaction.
        with contextlib.suppress(DatabaseError), connection.cursor() as cursor:
            cursor.execute("DROP TABLE IF EXISTS new_pairs, new_links, new_groups")
    return report


def _copy_pairs(answers) -> None:
    """Each found pair (smaller id first, as links hold them) into new_pairs, by COPY: a page
    of a catalog full of duplicates finds thousands. Ids stay text: canonical UUID text
    orders as the UUIDs do."""
    lines = []
    for point, hits in answers:
        product = str(point.id)
        for hit in hits:
            other = str(hit.id)
            first, second = (product, other) if product < other else (other, product)
            lines.append(f"{first}\t{second}\t{hit.score!r}\n")
    if lines:
        with (
            connection.cursor() as cursor,
            cursor.copy("COPY new_pairs (product_id, other_id, score) FROM STDIN") as copy,
        ):
            copy.write("".join(lines))


# --- Repairs (reconcile_vectors) -------------------------------------------------------------

# Products whose links or group do not hold, and which no queued check will put right: a
# linked product PostgreSQL no longer has, a group row without links, two linked products in
# different groups (or one of them in none). Set-based: one statement each, whatever the size.
OUT_OF_STEP = """
SELECT node FROM (
SELECT node FROM (
    SELECT product_id AS node FROM vectors_duplicatelink
    UNION SELECT other_id FROM vectors_duplicatelink
) AS linked
WHERE NOT EXISTS (SELECT 1 FROM catalog_product AS p WHERE p.id = linked.node)
UNION
SELECT g.product_id FROM vectors_duplicategroup AS g
WHERE NOT EXISTS (SELECT 1 FROM vectors_duplicatelink AS l WHERE l.product_id = g.product_id)
  AND NOT EXISTS (SELECT 1 FROM vectors_duplicatelink AS l WHERE l.other_id = g.product_id)
UNION
SELECT unnest(ARRAY[l.product_id, l.other_id]) FROM vectors_duplicatelink AS l
LEFT JOIN vectors_duplicategroup AS a ON a.product_id = l.product_id
LEFT JOIN vectors_duplicategroup AS b ON b.product_id = l.other_id
WHERE a.group_id IS DISTINCT FROM b.group_id OR a.group_id IS NULL
) AS drift (node)
WHERE NOT EXISTS (SELECT 1 FROM vectors_duplicatecheck AS c WHERE c.product_id = drift.node)
"""


def out_of_step() -> list[UUID]:
    """Products whose duplicates must be looked for again (none already queued)."""
    with connection.cursor() as cursor:
        cursor.execute(OUT_OF_STEP)
        return [row[0] for row in cursor.fetchall()]


# --- What a catalog holds --------------------------------------------------------------------


@dataclass(frozen=True)
class DuplicationSummary:
    groups: int
    products: int  # in a group
    largest: int
    catalog: int

    def summary(self) -> str:
        share = self.products / self.catalog if self.catalog else 0.0
        return (
            f"Duplicates: {counted(self.groups, 'group')} holding {self.products:,} of "
            f"{counted(self.catalog, 'product')} ({share:.1%}); the largest holds {self.largest:,}."
        )


def duplication_summary() -> DuplicationSummary:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*), coalesce(sum(size), 0), coalesce(max(size), 0) FROM ("
            "SELECT count(*) AS size FROM vectors_duplicategroup GROUP BY group_id) AS g"
        )
        groups, products, largest = cursor.fetchone()
        cursor.execute("SELECT count(*) FROM catalog_product")
        (catalog,) = cursor.fetchone()
    return DuplicationSummary(groups, int(products), largest, catalog)
