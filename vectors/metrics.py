"""Prometheus metrics: GET /metrics, not public (METRICS_TOKEN or METRICS_ALLOWED_IPS).

The pipeline's state is read at scrape time from PostgreSQL and Qdrant (products, points,
the queue, its oldest change, what was set aside, and the sync's running totals kept in
PostgreSQL by every worker), so any process answers the same. Latencies are histograms of
the process that measured them: similar-products requests in the web process, embedder
calls wherever the embedding runs (the web process on an embedded store; the worker,
`sync_vectors --watch --metrics-bind HOST:PORT`, with a server). Several gunicorn workers share
their histograms through prometheus_client's multiprocess mode (PROMETHEUS_MULTIPROC_DIR).
"""

from __future__ import annotations

import contextlib
import functools
import hmac
import ipaddress
import os
from collections.abc import Iterator

from prometheus_client import REGISTRY, CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.multiprocess import MultiProcessCollector

from vectors.health import OLDEST_DUE_SQL, PRODUCTS_SQL

SEARCH_SECONDS = Histogram(
    "catalog_similar_request_seconds",
    "Similar-products API requests, the whole view (PostgreSQL and Qdrant).",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
EMBED_SECONDS = Histogram(
    "catalog_embed_batch_seconds",
    "One embedder call on a batch of products (fetching images included).",
    ["embedder"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)

STATE = f"""
SELECT
    {PRODUCTS_SQL},
    {OLDEST_DUE_SQL},
    (SELECT coalesce(sum(cardinality(product_ids)), 0)::bigint FROM vectors_productchange
      WHERE set_aside_at IS NULL),
    (SELECT coalesce(sum(cardinality(product_ids)), 0)::bigint FROM vectors_productchange
      WHERE set_aside_at IS NOT NULL),
    (SELECT count(*) FROM vectors_productchange WHERE set_aside_at IS NULL
      AND attempts > 0),
    coalesce((SELECT delivered FROM vectors_synctotals WHERE id = 1), 0),
    coalesce((SELECT failed FROM vectors_synctotals WHERE id = 1), 0),
    coalesce((SELECT set_aside FROM vectors_synctotals WHERE id = 1), 0)
"""  # noqa: S608 - constants only


class PipelineCollector:
    """The pipeline as PostgreSQL and Qdrant see it, read at each scrape. A dependency that
    is down makes its metrics absent and catalog_metrics_up{part=...} 0."""

    def describe(self) -> Iterator[Metric]:
        """The names, without reading anything: the registry asks at registration (at
        import, before any database may be open)."""
        for name, kind in DESCRIBED.items():
            yield kind(name, "")

    def collect(self) -> Iterator[Metric]:
        from django.db import DatabaseError, connection

        up = GaugeMetricFamily(
            "catalog_metrics_up", "Whether this part could be read.", labels=["part"]
        )
        try:
            with connection.cursor() as cursor:
                cursor.execute(STATE)
                row = cursor.fetchone()
        except DatabaseError:
            up.add_metric(["postgresql"], 0)
        else:
            up.add_metric(["postgresql"], 1)
            yield from _database_metrics(*row)
        points = _points()
        up.add_metric(["qdrant"], 0 if points is None else 1)
        if points is not None:
            yield GaugeMetricFamily(
                "catalog_vector_points", "Points in the collection behind the alias.", points
            )
        yield up


DESCRIBED = {
    "catalog_metrics_up": GaugeMetricFamily,
    "catalog_vector_points": GaugeMetricFamily,
    "catalog_products": GaugeMetricFamily,
    "catalog_sync_queue_products": GaugeMetricFamily,
    "catalog_sync_oldest_pending_seconds": GaugeMetricFamily,
    "catalog_sync_retrying_changes": GaugeMetricFamily,
    "catalog_sync_set_aside_products": GaugeMetricFamily,
    "catalog_sync_delivered": CounterMetricFamily,
    "catalog_sync_failures": CounterMetricFamily,
    "catalog_sync_set_aside": CounterMetricFamily,
}


def _database_metrics(
    products, oldest, queued, set_aside, retrying, delivered, failed, set_aside_total
) -> Iterator[Metric]:
    yield GaugeMetricFamily("catalog_products", "Products in the catalog.", products)
    yield GaugeMetricFamily(
        "catalog_sync_queue_products",
        "Products waiting for the vector sync (a product queued twice counts twice).",
        queued,
    )
    yield GaugeMetricFamily(
        "catalog_sync_oldest_pending_seconds",
        "Age of the oldest change waiting for the sync (retries waiting out a delay left "
        "out); 0 when none waits.",
        float(oldest or 0),
    )
    yield GaugeMetricFamily(
        "catalog_sync_retrying_changes", "Log entries waiting to be tried again.", retrying
    )
    yield GaugeMetricFamily(
        "catalog_sync_set_aside_products",
        "Products the sync gave up on (sync_vectors --retry-set-aside queues them again).",
        set_aside,
    )
    for name, value, text in (
        ("delivered", delivered, "Products the sync delivered (upserted or deleted)."),
        ("failures", failed, "Product deliveries that failed (each retry counts)."),
        ("set_aside", set_aside_total, "Times a product was set aside."),
    ):
        yield CounterMetricFamily(f"catalog_sync_{name}", text, value=value)


def _points() -> int | None:
    from django.core.exceptions import ImproperlyConfigured

    from vectors.client import get_qdrant_client
    from vectors.conf import qdrant_config
    from vectors.exceptions import VectorStoreError

    try:
        config = qdrant_config()
        return get_qdrant_client(probe=True).get_collection(config.collection).points_count
    except (VectorStoreError, ImproperlyConfigured):
        return None


REGISTRY.register(PipelineCollector())


def exposition() -> tuple[bytes, str]:
    """The text format and its content type, for this process or, in multiprocess mode,
    for every worker's histograms."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
        registry.register(PipelineCollector())
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


def allowed(*, authorization: str, address: str, token: str, networks: list[str]) -> bool:
    """A scrape is allowed with the bearer token, or from an allowed address."""
    presented = authorization.removeprefix("Bearer ").encode()
    if (
        token
        and authorization.startswith("Bearer ")
        and hmac.compare_digest(presented, token.encode())
    ):
        return True
    try:
        client = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(client in network for network in _networks(tuple(networks)))


@functools.lru_cache(maxsize=8)
def _networks(entries: tuple[str, ...]) -> list:
    """METRICS_ALLOWED_IPS, parsed once (an entry that is no address or network is left
    out; the system check names it)."""
    parsed = []
    for entry in entries:
        with contextlib.suppress(ValueError):
            parsed.append(ipaddress.ip_network(entry.strip(), strict=False))
    return parsed
