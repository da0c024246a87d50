"""Qdrant's part of the health endpoint."""

from typing import Any

from vectors.conf import Engine, parse_qdrant_settings


def qdrant_status() -> dict[str, Any]:
    """Reachable, collection present and fitting, point count. Never raises, never
    includes the API key; `ok` is False whenever search would not work."""
    from django.conf import settings

    from vectors.client import get_qdrant_client
    from vectors.collection import collection_inspect
    from vectors.exceptions import CollectionNotFound, VectorStoreError, VectorStoreUnavailable

    config, problems = parse_qdrant_settings(getattr(settings, "QDRANT", {}))
    if problems:
        return {"ok": False, "error": "invalid Qdrant settings (see manage.py check)"}
    status: dict[str, Any] = {
        "ok": False,
        "engine": str(config.engine),
        "collection": config.collection,
    }
    try:
        state = collection_inspect(client=get_qdrant_client(probe=True), config=config)
    except VectorStoreUnavailable as exc:
        return status | {"reachable": False, "error": str(exc)}
    except CollectionNotFound:
        return status | {"reachable": True, "collection_ok": False, "error": "collection missing"}
    except VectorStoreError as exc:
        return status | {"reachable": True, "error": str(exc)}
    collection_ok = not state.blocking
    status |= {
        "ok": collection_ok,
        "reachable": True,
        "collection_ok": collection_ok,
        "points": state.points_count,
    }
    if not collection_ok:
        status["error"] = "; ".join(str(d) for d in state.blocking)
    return status


def disk_status() -> dict[str, Any] | None:
    """Room on an embedded store's disk (None for a server): not ok while writes are refused
    (vectors/disk.py). Searches still work then, so this degrades health, it does not fail it."""
    from django.conf import settings

    from vectors.disk import MB, free_bytes, low_disk

    config, problems = parse_qdrant_settings(getattr(settings, "QDRANT", {}))
    if problems or config.engine is not Engine.EDGE:
        return None
    status = {"free_mb": free_bytes(config.path) // MB, "min_free_mb": config.min_free_mb}
    problem = low_disk(config)
    return {"ok": problem is None, **status, **({"error": problem} if problem else {})}


# More log rows than this are not summed for the queue's size (a million single edits would
# make every poll read them all): the queue is then "at least" that big.
LOG_ROWS_READ = 10_000

# Shared with /metrics (vectors/metrics.py), so that health and alerts agree on them: the
# catalog's products (the per-store counts), and the age of the oldest change due for the
# sync (not one waiting out a retry delay, nor one set aside).
PRODUCTS_SQL = "(SELECT coalesce(sum(product_count), 0)::bigint FROM catalog_store)"
OLDEST_DUE_SQL = """(
    SELECT extract(epoch FROM now() - changed_at) FROM vectors_productchange
    WHERE set_aside_at IS NULL AND attempts = 0 ORDER BY id LIMIT 1
)"""

SYNC_STATE = f"""
SELECT
    {PRODUCTS_SQL},
    (SELECT count(*) FROM catalog_product WHERE image_url = ''),
    {OLDEST_DUE_SQL},
    head.queued,
    head.log_rows
FROM (
    SELECT coalesce(sum(cardinality(product_ids)), 0)::bigint AS queued, count(*) AS log_rows
    FROM (SELECT product_ids FROM vectors_productchange ORDER BY id LIMIT %s) AS log
) AS head
"""  # noqa: S608 - constants only


def sync_status(points: int) -> dict[str, Any]:
    """Is the sync keeping up? Not ok when the oldest change waiting (not a retry waiting
    out its delay) is older than VECTORS_HEALTH_MAX_LAG seconds, or when Qdrant holds fewer
    points than the catalog's products less those queued (and, with an image model, those
    without an image): a hole the queue will not fill (reconcile_vectors --fix does). One
    query on small tables and indexes: cheap enough to poll every few seconds."""
    from django.conf import settings
    from django.db import connection

    from vectors.embedders import needs_image

    with connection.cursor() as cursor:
        cursor.execute(SYNC_STATE, [LOG_ROWS_READ + 1])
        products, without_image, lag, queued, log_rows = cursor.fetchone()
    status: dict[str, Any] = {"ok": True, "points": points, "products": products}
    problems = []
    if lag is not None:
        status["oldest_pending_seconds"] = round(float(lag))
        if lag > settings.VECTORS_HEALTH_MAX_LAG:
            problems.append(
                f"the oldest change has waited {float(lag):,.0f}s for the sync "
                f"(VECTORS_HEALTH_MAX_LAG={settings.VECTORS_HEALTH_MAX_LAG:,}): is a "
                "sync_vectors worker running?"
            )
    if log_rows > LOG_ROWS_READ:
        status["queued_at_least"] = queued
    else:
        status["queued"] = queued
        expected = (
            products - queued - (without_image if needs_image(settings.VECTORS_EMBEDDER) else 0)
        )
        if points < expected:
            problems.append(
                f"Qdrant holds {points:,} points for {expected:,} products that should have "
                "one (queued ones left out): run manage.py reconcile_vectors --fix"
            )
    if problems:
        status |= {"ok": False, "error": "; ".join(problems)}
    return status
