import json

import pytest
from django.db import connection

from catalog.ingest import service
from catalog.models import Product, ProductChange
from tests.catalog.ingest.conftest import product

pytestmark = pytest.mark.django_db


def stored(store="shop-a"):
    return {
        p.external_id: (p.title, str(p.price), p.currency, p.image_url)
        for p in Product.objects.filter(store_id=store)
    }


def test_import_creates_products_and_reports(feed, run_import):
    result = run_import(feed([product(i) for i in range(5)]))
    assert result.error is None
    assert result.out.startswith("5 created, 0 updated, 0 unchanged, 0 rejected — 5 records in")
    assert stored()["sku-3"] == ("Product 3", "3.50", "EUR", "https://cdn.shop.example/3.jpg")


def test_unchanged_reimport_rewrites_nothing(feed, run_import):
    path = feed([product(i) for i in range(5)])
    run_import(path)
    before = {p.pk: p.updated_at for p in Product.objects.all()}
    changes = ProductChange.objects.count()
    result = run_import(path)
    assert result.out.startswith("0 created, 0 updated, 5 unchanged, 0 rejected")
    assert {p.pk: p.updated_at for p in Product.objects.all()} == before
    assert ProductChange.objects.count() == changes


def test_changed_records_are_updated_and_logged_for_the_vector_sync(feed, run_import):
    run_import(feed([product(i) for i in range(3)]))
    ProductChange.objects.all().delete()
    result = run_import(
        feed(
            [
                product(0, price="9.99"),
                product(1, image_url="https://cdn.example/new.jpg"),
                product(2),
                product(3),
            ]
        )
    )
    assert result.out.startswith("1 created, 2 updated, 1 unchanged, 0 rejected")
    logged = {(c.kind, c.needs_embedding): len(c.product_ids) for c in ProductChange.objects.all()}
    assert logged == {("insert", True): 1, ("update", False): 1, ("update", True): 1}


def test_duplicate_ids_last_one_wins(feed, run_import):
    records = [product(1, title="first"), product(2), product(1, title="second")]
    result = run_import(feed(records), "--batch-size", "1")
    assert "1 duplicate ids (last one kept)" in result.out
    assert stored()["sku-1"][0] == "second"
    records = [product(3, title="first"), product(3, title="second")]
    run_import(feed(records, name="same-batch.jsonl"))
    assert stored()["sku-3"][0] == "second"


def test_bad_records_are_named_good_ones_saved(feed, run_import, tmp_path):
    errors = tmp_path / "errors.jsonl"
    records = [
        product(1),
        product(2, price="-5"),
        "{broken json",
        product(3, product_url="javascript:alert(1)"),
        product(4, currency="euro"),
        product(5),
    ]
    result = run_import(feed(records), "--errors", str(errors))
    assert str(result.error) == f"4 record(s) rejected (see {errors})."
    assert set(stored()) == {"sku-1", "sku-5"}
    assert "rejected line 2 (external_id sku-2): price: must be >= 0, not -5" in result.err
    rejects = [json.loads(line) for line in errors.read_text().splitlines()]
    assert [(r["line"], r["external_id"], r["field"]) for r in rejects] == [
        (2, "sku-2", "price"),
        (3, None, "record"),
        (4, "sku-3", "product_url"),
        (5, "sku-4", "currency"),
    ]
    assert rejects[3]["reason"] == "must be three letters (ISO 4217), not 'euro'"


def test_csv_and_json_formats(tmp_path, run_import):
    csv_path = tmp_path / "feed.csv"
    csv_path.write_text(
        "external_id,title,price,currency,image_url,product_url\n"
        "c1,Scarf,12.5,gbp,,https://shop.example/c1\n"
    )
    json_path = tmp_path / "feed.data"
    json_path.write_text(json.dumps([product(7)]))
    assert run_import(csv_path).error is None
    assert run_import(json_path, "--format", "json").error is None
    assert stored() == {
        "c1": ("Scarf", "12.50", "GBP", ""),
        "sku-7": ("Product 7", "7.50", "EUR", "https://cdn.shop.example/7.jpg"),
    }


def test_unknown_extension_asks_for_format(tmp_path, run_import):
    path = tmp_path / "feed.txt"
    path.write_text("")
    assert "pass --format" in str(run_import(path).error)


def test_dry_run_writes_nothing(feed, run_import):
    result = run_import(feed([product(i) for i in range(3)]), "--dry-run")
    assert result.out.startswith("Dry run, would have: 3 created")
    assert not Product.objects.exists()


def test_products_without_image_are_kept_and_counted(feed, run_import):
    result = run_import(feed([product(1, image_url=""), product(2)]))
    assert "1 without image" in result.out
    assert stored()["sku-1"][3] == ""


def test_an_import_interrupted_between_batches_keeps_whole_batches(feed, run_import, monkeypatch):
    path = feed([product(i) for i in range(10)])
    real_write = service.write_batch
    calls = []

    def crash_on_third(**kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real_write(**kwargs)

    monkeypatch.setattr(service, "write_batch", crash_on_third)
    interrupted = run_import(path, "--batch-size", "3")
    assert str(interrupted.error).startswith("Interrupted. Every completed batch is saved")
    assert sorted(stored()) == sorted(f"sku-{i}" for i in range(6))
    monkeypatch.setattr(service, "write_batch", real_write)
    result = run_import(path, "--batch-size", "3")
    assert result.out.startswith("4 created, 0 updated, 6 unchanged")
    assert len(stored()) == 10


def test_a_failing_batch_leaves_no_partial_rows(feed, run_import, monkeypatch):
    from catalog.ingest import writer

    def copy_then_fail(*, store_id, rows, dry_run, assume_new, copy_data):
        real(
            store_id=store_id,
            rows=rows,
            dry_run=dry_run,
            assume_new=assume_new,
            copy_data=copy_data,
        )
        raise RuntimeError("connection lost mid-batch")

    real = writer._write
    monkeypatch.setattr(writer, "_write", copy_then_fail)
    with pytest.raises(RuntimeError):
        run_import(feed([product(i) for i in range(4)]))
    assert stored() == {}


def test_prune_removes_products_missing_from_a_complete_feed(feed, run_import):
    run_import(feed([product(i) for i in range(4)]))
    run_import(feed([product(9)]), store="shop-b")
    result = run_import(feed([product(0), product(1, price="-1"), product(2)]), "--prune")
    assert "1 pruned" in result.out
    # sku-1 was rejected but is in the feed, so it stays; sku-3 is gone; shop-b untouched.
    assert set(stored()) == {"sku-0", "sku-1", "sku-2"}
    assert set(stored("shop-b")) == {"sku-9"}


def test_prune_is_skipped_when_a_rejected_record_has_no_id(feed, run_import):
    run_import(feed([product(i) for i in range(3)]))
    result = run_import(feed([product(0), "{not json"]), "--prune")
    assert "Not pruned: 1 rejected record(s) have no external_id" in result.out
    assert len(stored()) == 3


def test_prune_refuses_an_empty_feed(feed, run_import):
    run_import(feed([product(i) for i in range(3)]))
    result = run_import(feed([product(0, price="x")]), "--prune")
    assert "Not pruned: the feed has no valid product; refusing to empty the store" in result.out
    assert len(stored()) == 3


def test_dry_run_prune_counts_only(feed, run_import):
    run_import(feed([product(i) for i in range(3)]))
    result = run_import(feed([product(0)]), "--prune", "--dry-run")
    assert "2 pruned" in result.out
    assert len(stored()) == 3


def planner_row_estimate() -> float:
    with connection.cursor() as cursor:
        cursor.execute("SELECT reltuples FROM pg_class WHERE relname = 'catalog_product'")
        return cursor.fetchone()[0]


# ANALYZE updates pg_class in place, outside the test's transaction: each case imports a
# different number of rows so that neither can see the other's estimate.
@pytest.mark.parametrize(("threshold", "rows", "analyzed"), [(2, 3, True), (1000, 4, False)])
def test_a_large_import_refreshes_planner_statistics(
    feed, run_import, monkeypatch, threshold, rows, analyzed
):
    monkeypatch.setattr(service, "ANALYZE_AFTER_ROWS", threshold)
    run_import(feed([product(i) for i in range(rows)]))
    assert (planner_row_estimate() == rows) is analyzed
