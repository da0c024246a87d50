"""The product changelist at a million products: ours against a default ModelAdmin.

    python bench/admin.py [--n 1000000] [--runs 15]

Loads N products with INSERT ... SELECT into a scratch database `catalog_bench_admin` (indexes
built after the load, then VACUUM ANALYZE, as a production table would be), then renders
six changelist views through the project's ModelAdmin and through a default ModelAdmin with
the same columns, filters and search fields, with Django's test client (the two sides'
requests interleaved), and prints each view's median time and the ratio (plus a seventh
view, sort by store, for information).

Twice: with the change log drained, and with all N products waiting for the
vector sync as one statement leaves them (one UPDATE of every product's price: the rows the
change-log triggers write for it, N/1,000 rows of 1,000 ids, are written directly;
updating a million rows for real would take minutes and double the table). The log is
emptied again at the end. The last line is the figure for both states. Goals, in both: each
of the first five views <= 50 ms and >= 10x faster than the default; page 2000 <= 150 ms.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import types

from _common import setup_django

BENCH_DB = "catalog_bench_admin"  # its own: the other benchmarks empty theirs
WORDS = [
    "linen",
    "wool",
    "silk",
    "denim",
    "leather",
    "cotton",
    "cashmere",
    "velvet",
    "suede",
    "shirt",
    "coat",
    "scarf",
    "jacket",
    "boots",
    "dress",
    "skirt",
    "trousers",
    "sneakers",
    "black",
    "white",
    "navy",
    "olive",
    "sand",
    "burgundy",
    "teal",
    "grey",
    "cream",
    "rust",
]


def load(n: int) -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM catalog_product")
        if cursor.fetchone()[0] == n:
            print(f"{n:,} products already loaded")
            return
        started = time.perf_counter()
        cursor.execute("TRUNCATE catalog_product, vectors_productchange")
        cursor.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'catalog_product' "
            "AND indexname LIKE 'catalog_prod\\_%'"
        )
        indexes = cursor.fetchall()
        # Built once after the load rather than row by row; rebuilt even if the load fails.
        for name, _ in indexes:
            cursor.execute(f"DROP INDEX {name}")
        try:
            _insert(cursor, n)
        finally:
            for _, definition in indexes:
                cursor.execute(definition)
        cursor.execute("VACUUM ANALYZE catalog_product")
    print(f"loaded {n:,} products in {time.perf_counter() - started:.0f}s")


def _insert(cursor, n: int) -> None:
    # The change log would hold a million ids nobody will sync here: its triggers are off
    # for the load. Only those: catalog_store's counts, which the changelist shows and pages
    # by, are kept by triggers of their own.
    from vectors.change_log import TRIGGERS
    from vectors.models import WatchedProduct

    log_triggers = [trigger.get_pgid(WatchedProduct) for trigger in TRIGGERS]
    for name in log_triggers:
        cursor.execute(f"ALTER TABLE catalog_product DISABLE TRIGGER {name}")
    try:
        cursor.execute(
            """
            INSERT INTO catalog_product
                (id, external_id, store_id, title, description, price, currency,
                 image_url, product_url, created_at, updated_at)
            SELECT uuid_generate_v4(),
                   'sku-' || lpad(g::text, 7, '0'),
                   'store-' || lpad(mod(g, 50)::text, 2, '0'),
                   initcap(w[1 + mod(g, 28)] || ' ' || w[1 + mod(g / 28, 28)] || ' '
                           || w[1 + mod(g / 784, 28)]) || ' no. ' || g,
                   'A fine piece in ' || w[1 + mod(g * 7, 28)],
                   mod(g::bigint * 7919, 50000) / 100.0,
                   (ARRAY['EUR', 'USD', 'GBP'])[1 + mod(g, 3)],
                   'https://cdn.shop.example/img/' || g || '.jpg',
                   'https://shop.example/p/' || g,
                   now() - make_interval(secs => g * 30),
                   now() - make_interval(secs => g * 30)
            FROM generate_series(1, %s) AS g, (SELECT %s::text[] AS w) words
            """,
            [n, WORDS],
        )
    finally:
        for name in log_triggers:
            cursor.execute(f"ALTER TABLE catalog_product ENABLE TRIGGER {name}")


def default_site():
    """What the product admin would be without its own paging and rows: a plain ModelAdmin with
    the same columns (the same display methods), filters and search fields."""
    from django.contrib import admin

    from catalog.models import Product
    from vectors.admin import PENDING_ATTEMPTS
    from vectors.admin import ProductWithVectorsAdmin as Ours

    site = admin.AdminSite(name="default_admin")

    class DefaultProductAdmin(admin.ModelAdmin):
        list_display = Ours.list_display
        list_display_links = Ours.list_display_links
        list_filter = ["store_id", "currency", "created_at"]
        search_fields = Ours.search_fields
        thumbnail = Ours.thumbnail
        price_with_currency = Ours.price_with_currency
        vector_status = Ours.vector_status

        def get_queryset(self, request):
            return super().get_queryset(request).annotate(pending_attempts=PENDING_ATTEMPTS)

    site.register(Product, DefaultProductAdmin)
    return site


def median_ms_pair(client, ours: str, default: str, runs: int) -> tuple[float, float]:
    """Median times of two pages, their requests interleaved so that a noisy spell on the
    machine falls on both alike rather than on one side's whole series."""
    for url in (ours, default):
        for _ in range(2):  # warm caches and connections
            response = client.get(url)
            assert response.status_code == 200, (url, response.status_code)
    timings = {ours: [], default: []}
    for _ in range(runs):
        for url in (ours, default):
            started = time.perf_counter()
            response = client.get(url)
            timings[url].append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200
    return statistics.median(timings[ours]), statistics.median(timings[default])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    setup_django(BENCH_DB, production=True)

    from django.contrib import admin
    from django.contrib.auth import get_user_model
    from django.test import Client
    from django.test.utils import override_settings
    from django.urls import path

    load(args.n)
    urls = types.ModuleType("bench_admin_urls")
    urls.urlpatterns = [
        path("admin/", admin.site.urls),
        path("default/", default_site().urls),
    ]
    sys.modules["bench_admin_urls"] = urls
    user, _ = get_user_model().objects.get_or_create(
        username="bench", defaults={"is_staff": True, "is_superuser": True}
    )
    client = Client()
    client.force_login(user)
    views = [
        ("first page", "", ""),
        ("store filter", "?store_id=store-17", "?store_id__exact=store-17"),
        ("title search", "?q=burgundy", "?q=burgundy"),
        ("external id search", "?q=sku-0421337", "?q=sku-0421337"),
        ("sort by price", "?o=4", "?o=4"),
        ("page 2000", "?p=2000", "?p=2000"),
        # Not among the six; shown because a store sort is one click away.
        ("sort by store", "?o=3", "?o=3"),
    ]
    figures = []
    with override_settings(ROOT_URLCONF="bench_admin_urls", ALLOWED_HOSTS=["testserver"]):
        set_pending(False)
        print("change log drained:")
        figures.append(("drained", measure(client, views, args.runs)))
        pending = set_pending(True)
        print(f"{pending:,} products pending from one statement:")
        try:
            figures.append((f"{pending:,} pending", measure(client, views, args.runs)))
        finally:
            set_pending(False)
    print(
        "admin: "
        + "; ".join(
            f"{state}: first five <= {max(ms for _, ms, _ in rows[:5]):.0f} ms, "
            f">= {min(d / o for _, o, d in rows[:5]):.1f}x, page 2000 {rows[5][1]:.0f} ms"
            for state, rows in figures
        )
        + " (goals 50 ms, 10x, 150 ms)"
    )


def measure(client, views, runs: int) -> list[tuple[str, float, float]]:
    rows = []
    for label, ours, default in views:
        ours_ms, default_ms = median_ms_pair(
            client,
            f"/admin/catalog/product/{ours}",
            f"/default/catalog/product/{default}",
            runs,
        )
        rows.append((label, ours_ms, default_ms))
        print(
            f"  {label:20} ours {ours_ms:8.1f} ms   default {default_ms:8.1f} ms   "
            f"{default_ms / ours_ms:6.1f}x"
        )
    return rows


def set_pending(pending: bool) -> int:
    """Empty the change log, or fill it as one UPDATE of every product would: returns how
    many products are then pending."""
    from django.db import connection

    from vectors.models import ProductChange

    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE vectors_productchange")
        if pending:
            cursor.execute(
                """INSERT INTO vectors_productchange (needs_embedding, product_ids)
                   SELECT false, array_agg(id)
                   FROM (SELECT id, (row_number() OVER () - 1) / %s AS chunk
                         FROM catalog_product) numbered
                   GROUP BY chunk""",
                [ProductChange.MAX_IDS],
            )
        cursor.execute("VACUUM ANALYZE vectors_productchange")
        cursor.execute(
            "SELECT coalesce(sum(cardinality(product_ids)), 0) FROM vectors_productchange"
        )
        return cursor.fetchone()[0]


if __name__ == "__main__":
    main()
