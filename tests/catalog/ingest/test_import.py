import json
from pathlib import Path

import pytest
from django.db import connection
from django.urls import reverse

from catalog.ingest import service
from catalog.models import Product
from tests.catalog.ingest.conftest import product
from tests.factories import ProductFactory
from vectors.models import ProductChange

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
    logged = sorted((c.needs_embedding, len(c.product_ids)) for c in ProductChange.objects.all())
    assert logged == [(False, 1), (True, 1), (True, 1)]  # a price; a new product, an image


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
    assert str(result.error) == f"4 records rejected (see {errors})."
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
    assert "Not pruned: 1 rejected record has no external_id" in result.out
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


# --- No record stops the others; no source is misread ---------------------------


def test_one_huge_price_in_a_5000_row_feed_is_rejected_and_the_rest_saved(feed, run_import):
    # Once: decimal.InvalidOperation at record 2,501, only the first batch saved, re-runs
    # stopping at the same record.
    records = [product(i) for i in range(5000)]
    records[2500] = product(2500, price="1e30")
    path = feed(records)
    result = run_import(path)
    assert str(result.error) == "1 record rejected."
    assert (
        "rejected line 2501 (external_id sku-2500): price: must be a plain decimal number "
        "such as 19.90, not '1e30'" in result.err
    )
    assert len(stored()) == 4999
    again = run_import(path)
    assert again.out.startswith("0 created, 0 updated, 4,999 unchanged, 1 rejected")


def test_json_numbers_of_any_size_and_depth_are_rejections(tmp_path, run_import):
    path = tmp_path / "feed.json"
    path.write_text(
        "[\n"
        + json.dumps(product(1))
        + ",\n"
        + json.dumps(product(3)).replace('"3.50"', "1e308")  # a JSON number, not a string
        + ",\n"
        + '{"external_id": "long", "price": '
        + "9" * 5000
        + "},\n"
        + '{"external_id": "deep", "x": '
        + "[" * 3000
        + "]" * 3000
        + "},\n"
        + json.dumps(product(2))
        + "\n]"
    )
    result = run_import(path)
    assert str(result.error) == "3 records rejected."
    assert set(stored()) == {"sku-1", "sku-2"}
    assert (
        "rejected line 3 (external_id sku-3): price: must be a plain decimal number such as "
        "19.90, not '1e+308'" in result.err
    )
    assert "rejected line 4: record: has a number too long to read" in result.err
    assert "rejected line 5: record: is nested too deeply" in result.err


def test_invalid_utf8_in_a_csv_rejects_that_record_only(tmp_path, run_import):
    path = tmp_path / "feed.csv"
    path.write_bytes(
        b"external_id,title,price,product_url\n"
        b"c1,Scarf,12.5,https://shop.example/c1\n"
        b"c2,Caf\xe9 cr\xe8me,3,https://shop.example/c2\n"
        b"c3,Hat,4,https://shop.example/c3\n"
    )
    result = run_import(path)
    assert str(result.error) == "1 record rejected."
    assert "rejected line 3 (external_id c2): title: is not valid UTF-8 text" in result.err
    assert set(stored()) == {"c1", "c3"}


def test_a_store_id_that_cannot_be_stored_is_refused_before_reading(feed, run_import):
    result = run_import(feed([product(1)]), store="s" * 101)
    assert str(result.error) == "--store is longer than 100 characters."
    assert result.err == "" and result.out == ""
    assert not Product.objects.exists()


def test_records_without_currency_take_the_currency_option(feed, run_import):
    records = [product(1, currency=""), product(2, currency="GBP")]
    run_import(feed(records), "--currency", "jpy")
    assert {p.external_id: p.currency for p in Product.objects.all()} == {
        "sku-1": "JPY",
        "sku-2": "GBP",
    }


FIXTURES = Path(__file__).parent / "fixtures"


def test_a_saved_rest_api_answer_imports_with_its_currency(run_import):
    path = FIXTURES / "rest_v3_products.json"
    refused = run_import(path, "--format", "woocommerce-rest")
    assert "pass --currency CODE with the shop's currency" in str(refused.error)
    result = run_import(path, "--format", "woocommerce-rest", "--currency", "COP")
    assert result.error is None, result.err
    assert result.out.startswith("2 created, 0 updated, 0 unchanged, 0 rejected, 1 skipped")
    assert {p.external_id: (str(p.price), p.currency) for p in Product.objects.all()} == {
        "60": ("2.00", "COP"),
        "59": ("18.00", "COP"),
    }


@pytest.mark.parametrize(
    ("name", "hint"),
    [
        ("store_api_products.json", "pass --format woocommerce-store."),
        ("rest_v3_products.json", "pass --format woocommerce-rest --currency CODE."),
    ],
)
def test_woocommerce_data_without_format_gets_a_hint(run_import, name, hint):
    result = run_import(FIXTURES / name)
    assert str(result.error).endswith("data (products with an id, not an external_id); " + hint)
    assert not Product.objects.exists()


def test_each_rejection_is_printed_once_at_verbosity_2(feed, run_import):
    result = run_import(feed([product(1, price="x"), product(2)]), "-v", "2")
    assert result.err.count("rejected line 1 (external_id sku-1)") == 1


# Hosts and shapes browsers open that Django's own URLValidator refuses or its form rewrites.
URLS_SHOPS_PUBLISH = [
    "https://cdn_1.shop.example/a.jpg",  # an underscore, as some CDNs name hosts
    "http://2130706433/a.jpg",  # a browser's numeric IPv4 host
    "http://b\u00fccher.example/a.jpg",  # internationalised
    "https://shop.example/p/1?",  # an empty query, which urlsplit and back would drop
]


@pytest.mark.parametrize("url", URLS_SHOPS_PUBLISH)
def test_an_imported_product_saves_unchanged_through_the_admin(feed, run_import, admin_client, url):
    """One URL rule: what the import accepted, the admin form accepts and keeps as it is."""
    assert run_import(feed([product(1, image_url=url, product_url=url)])).error is None
    imported = Product.objects.get(external_id="sku-1")
    form = {
        field: getattr(imported, field)
        for field in (
            "store_id", "external_id", "title", "description", "price", "currency",
            "image_url", "product_url",
        )
    }  # fmt: skip
    response = admin_client.post(reverse("admin:catalog_product_change", args=[imported.pk]), form)
    assert response.status_code == 302, response.context["adminform"].form.errors
    saved = Product.objects.get(pk=imported.pk)
    assert (saved.image_url, saved.product_url) == (url, url)


@pytest.mark.parametrize(
    "url", ["http://a..b/x.png", "http://user:pw@shop.example/x", "ftp://x.example/a"]
)
def test_the_admin_refuses_what_the_import_refuses(feed, run_import, admin_client, url):
    result = run_import(feed([product(1, product_url=url)]))
    assert "1 rejected" in result.out
    saved = ProductFactory(store_id="shop-a", external_id="sku-2")
    form = {"store_id": "shop-a", "external_id": "sku-2", "title": "T", "description": "",
            "price": "1.00", "currency": "EUR", "image_url": "", "product_url": url}  # fmt: skip
    response = admin_client.post(reverse("admin:catalog_product_change", args=[saved.pk]), form)
    assert response.status_code == 200
    assert list(response.context["adminform"].form.errors) == ["product_url"]
