"""Qdrant's part of the health endpoint."""

from typing import Any

from vectors.conf import parse_qdrant_settings


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
        "mode": "embedded" if config.is_local else "server",
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
    if problems or config.engine != "edge":
        return None
    status = {"free_mb": free_bytes(config.path) // MB, "min_free_mb": config.min_free_mb}
    problem = low_disk(config)
    return {"ok": problem is None, **status, **({"error": problem} if problem else {})}
