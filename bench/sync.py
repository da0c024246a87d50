"""Vector sync and reconcile cost against qdrant-client's own work, measured in one run.

    python bench/sync.py [--n 20000]

In a scratch database `catalog_bench` and an embedded Qdrant in a temporary folder, with the
offline hashing embedder:
- sync: `sync_pending` delivering N freshly imported products (read the change log and the
  products, embed, upsert, clear the log), against a bare `upsert` of the same precomputed
  vectors and payloads, in batches of the same size, into an identical collection;
- reconcile: a full report-only `reconcile`, against a bare `scroll` over every point with
  its payload (what any comparison must read at least).
The last line is the figure: sync throughput / bare upsert throughput (goal >= 0.7) and
reconcile time / bare scroll time (goal <= 2).

    python bench/sync.py --memory [--n 20000]

Peak RSS of `manage.py sync_vectors` (a whole process) delivering one `UPDATE` of all N
products' prices, against delivering the same change written by N/1,000 separate statements
(one big statement used to be claimed whole, 4.4x the memory). Last line: the
ratio (goal <= 1.2).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import PROJECT_DIR, setup_django

BENCH_DB = "catalog_bench"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20_000)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--memory", action="store_true", help="Measure peak RSS instead.")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["QDRANT_PATH"] = str(Path(tmp) / "qdrant")
        os.environ.pop("QDRANT_URL", None)
        os.environ.pop("QDRANT_HOST", None)
        setup_django(BENCH_DB)
        if args.memory:
            memory(args.n, Path(tmp))
        else:
            run(args.n, args.batch_size, Path(tmp))


def manage_peak_rss_mb(*args: str) -> float:
    """Run manage.py as its own process; its peak RSS (that child's alone, from wait4)."""
    child = subprocess.Popen(
        [sys.executable, "manage.py", *args],
        cwd=PROJECT_DIR,
        env=os.environ,
        stdout=subprocess.DEVNULL,
    )
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode:
        raise SystemExit(f"manage.py {' '.join(args)} failed ({child.returncode})")
    return usage.ru_maxrss / 1024


def memory(n: int, tmp: Path) -> None:
    """One statement over N products vs N/1,000 statements: sync_vectors' peak RSS."""
    from django.db import connection

    from vectors.models import ProductChange

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from ingest import generate

    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE catalog_product, vectors_productchange")
    feed = tmp / "feed.jsonl"
    generate(feed, n)
    manage_peak_rss_mb("import_products", str(feed), "--store", "bench", "--verbosity", "0")
    manage_peak_rss_mb("ensure_qdrant_collection")
    manage_peak_rss_mb("sync_vectors")  # every product has its point: only payloads change

    with connection.cursor() as cursor:
        cursor.execute("SELECT id FROM catalog_product ORDER BY id")
        ids = [row[0] for row in cursor.fetchall()]
        step = ProductChange.MAX_IDS  # statements of one log row each
        for start in range(0, n, step):
            cursor.execute(
                "UPDATE catalog_product SET price = price + 1 WHERE id = ANY(%s)",
                [ids[start : start + step]],
            )
    statements = n // step
    many = manage_peak_rss_mb("sync_vectors")
    with connection.cursor() as cursor:
        cursor.execute("UPDATE catalog_product SET price = price + 1")
    one = manage_peak_rss_mb("sync_vectors")
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE catalog_product, vectors_productchange")
    print(f"{n:,} products, embedded Qdrant, hashing embedder")
    print(f"sync_vectors after {statements:,} UPDATEs of 1,000 products: peak RSS {many:.0f} MB")
    print(f"sync_vectors after one UPDATE of all {n:,}:         peak RSS {one:.0f} MB")
    print(
        f"sync memory: one statement over {n:,} products {one / many:.2f}x the peak of "
        f"{statements:,} statements (goal <= 1.2)"
    )


def run(n: int, batch_size: int, tmp: Path) -> None:
    from django.db import connection

    from catalog.ingest.service import product_import
    from catalog.ingest.sources import open_feed
    from catalog.models import Product
    from vectors.client import get_qdrant_client, models
    from vectors.collection import collection_ensure
    from vectors.conf import qdrant_config
    from vectors.embedders import get_embedder
    from vectors.points import PRODUCT_FIELDS, embedder_input, payload_of
    from vectors.reconcile import reconcile
    from vectors.sync import sync_pending

    sys_path_bench = Path(__file__).resolve().parent
    import sys

    sys.path.insert(0, str(sys_path_bench))
    from ingest import generate

    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE catalog_product, vectors_productchange")
    feed = tmp / "feed.jsonl"
    generate(feed, n)
    source = open_feed(str(feed))
    product_import(store_id="bench", records=source.records)
    source.close()

    client, config, embedder = get_qdrant_client(), qdrant_config(), get_embedder()
    collection_ensure(client=client, config=config)

    # Baseline: the same vectors and payloads, computed beforehand, upserted bare.
    rows = list(Product.objects.order_by("pk").values(*PRODUCT_FIELDS))
    vectors = embedder.embed([embedder_input(row) for row in rows])
    bare = "bench_bare"
    client.create_collection(
        bare,
        vectors_config=models.VectorParams(size=config.vector_size, distance=config.distance),
    )
    started = time.perf_counter()
    for i in range(0, len(rows), batch_size):
        client.upsert(
            collection_name=bare,
            points=[
                models.PointStruct(id=str(row["id"]), vector=vec.tolist(), payload=payload_of(row))
                for row, vec in zip(
                    rows[i : i + batch_size], vectors[i : i + batch_size], strict=True
                )
            ],
        )
    bare_upsert = time.perf_counter() - started
    del rows, vectors

    started = time.perf_counter()
    report = sync_pending(client=client, config=config, embedder=embedder, batch_size=batch_size)
    sync_seconds = time.perf_counter() - started
    assert report.embedded == n, report

    started = time.perf_counter()
    offset, seen = None, 0
    while True:
        page, offset = client.scroll(
            collection_name=config.collection,
            limit=1000,
            offset=offset,
            with_payload=True,
            with_vectors=False,
        )
        seen += len(page)
        if offset is None:
            break
    bare_scroll = time.perf_counter() - started

    started = time.perf_counter()
    drift = reconcile(client=client, collection=config.collection, embedder=embedder)
    reconcile_seconds = time.perf_counter() - started
    assert drift.drift == 0 and drift.points == seen == n, drift

    print(f"{n:,} products, embedded Qdrant, hashing embedder, batches of {batch_size}")
    print(f"bare upsert of precomputed vectors: {bare_upsert:.2f}s ({n / bare_upsert:,.0f}/s)")
    print(f"sync_pending (embed + upsert + log): {sync_seconds:.2f}s ({n / sync_seconds:,.0f}/s)")
    print(f"bare scroll of every point+payload:  {bare_scroll:.2f}s")
    print(f"reconcile (both passes):             {reconcile_seconds:.2f}s")
    print(
        f"sync: throughput vs bare upsert {bare_upsert / sync_seconds:.2f} (goal >= 0.7), "
        f"reconcile vs bare scroll {reconcile_seconds / bare_scroll:.2f}x (goal <= 2)"
    )
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE catalog_product, vectors_productchange")


if __name__ == "__main__":
    main()
