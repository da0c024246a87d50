"""The same product sold by several shops: grouped beside the sync, shown once with its
offers, split when the product that held a group together goes, rebuilt from scratch alike.

The hashing stand-in embeds a product's words, so copies with the same title and description
in other shops have the same vector (the duplicates), and the same garment in another colour
a different one (not a duplicate)."""

import io

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.urls import reverse

from catalog.models import Product
from vectors.collection import collection_ensure
from vectors.duplicates import check_queued_duplicates, duplication_summary, rebuild_duplicates
from vectors.embedders import get_embedder
from vectors.models import DuplicateCheck, DuplicateGroup, DuplicateLink
from vectors.search import OFFERS_SHOWN, similar_products
from vectors.sync import sync_pending

pytestmark = pytest.mark.django_db

TRAINER = {"title": "White leather trainer", "description": "Low-top trainer, white leather"}


@pytest.fixture
def catalog(qdrant, config, make_product):
    """One trainer sold by three shops, the same trainer in black, a coat and a scarf."""
    collection_ensure(client=qdrant, config=config)
    items = {
        "trainer_a": make_product(store_id="shop-a", price="89.00", **TRAINER),
        "trainer_b": make_product(store_id="shop-b", price="79.00", **TRAINER),
        "trainer_c": make_product(store_id="shop-c", price="99.00", **TRAINER),
        "black": make_product(
            store_id="shop-b",
            title="Black leather trainer",
            description="Low-top trainer, black leather",
        ),
        "coat": make_product(title="Wool coat", description="Long wool coat, navy"),
        "scarf": make_product(title="Silk scarf", description="Printed silk scarf"),
    }
    sync_pending(client=qdrant, config=config, embedder=get_embedder())
    return items


def group_of(product: Product):
    return DuplicateGroup.objects.filter(product_id=product.pk).values_list("group_id", flat=True)


def groups() -> set[frozenset]:
    members: dict = {}
    for product_id, group_id in DuplicateGroup.objects.values_list("product_id", "group_id"):
        members.setdefault(group_id, set()).add(product_id)
    return {frozenset(group) for group in members.values()}


def test_the_sync_queues_checks_that_group_the_copies_of_one_product(qdrant, config, catalog):
    assert DuplicateCheck.objects.count() == len(catalog)  # every vector written
    report = check_queued_duplicates(client=qdrant, config=config)
    assert report.checked == len(catalog)
    assert not DuplicateCheck.objects.exists()
    trainers = frozenset(catalog[k].pk for k in ("trainer_a", "trainer_b", "trainer_c"))
    assert groups() == {trainers}
    assert set(group_of(catalog["trainer_b"])) == {min(trainers)}
    assert DuplicateLink.objects.count() == 3  # each pair once
    assert not group_of(catalog["black"])  # the same trainer in black is another product
    summary = duplication_summary()
    assert (summary.groups, summary.products, summary.largest) == (1, 3, 3)


def test_searches_show_each_product_once_with_its_offers_cheapest_first(
    qdrant, config, catalog, client
):
    check_queued_duplicates(client=qdrant, config=config)
    results = similar_products(catalog["black"].pk, limit=3)
    trainers = [r for r in results if r.title == TRAINER["title"]]
    assert len(trainers) == 1
    assert [offer.store_id for offer in trainers[0].offers] == ["shop-b", "shop-a", "shop-c"]
    assert len({r.id for r in results}) == 3

    answer = client.get(f"/api/products/{catalog['black'].pk}/similar", {"limit": 3}).json()
    shown = [r for r in answer["results"] if r["title"] == TRAINER["title"]]
    assert [offer["price"] for offer in shown[0]["offers"]] == ["79.00", "89.00", "99.00"]

    every_copy = client.get(
        f"/api/products/{catalog['black'].pk}/similar", {"limit": 3, "collapse": "none"}
    ).json()["results"]
    assert [r["title"] for r in every_copy] == [TRAINER["title"]] * 3
    assert all("offers" not in r for r in every_copy)


def test_a_products_own_copies_are_not_similar_products_of_it(qdrant, config, catalog):
    check_queued_duplicates(client=qdrant, config=config)
    results = similar_products(catalog["trainer_a"].pk, limit=5)
    assert TRAINER["title"] not in [r.title for r in results]
    copies = similar_products(catalog["trainer_a"].pk, limit=5, collapse=False)
    assert [r.title for r in copies][:2] == [TRAINER["title"]] * 2


def test_still_limit_results_when_one_product_fills_the_first_page(
    qdrant, config, catalog, make_product
):
    for k in range(40):  # one trainer sold by forty more shops
        make_product(store_id=f"reseller-{k}", price=f"{60 + k}.00", **TRAINER)
    sync_pending(client=qdrant, config=config, embedder=get_embedder())
    check_queued_duplicates(client=qdrant, config=config)
    results = similar_products(catalog["black"].pk, limit=3)
    assert len(results) == 3
    assert len({r.title for r in results}) == 3
    trainer = next(r for r in results if r.title == TRAINER["title"])
    # The cheapest OFFERS_SHOWN of its 43 copies (the resellers' 60.00, 61.00, ...).
    assert trainer.offers_total == 43
    assert [str(o.price) for o in trainer.offers] == [f"{60 + k}.00" for k in range(OFFERS_SHOWN)]
    # The API's schema says so in words (it does not import the search module).
    from vectors.api_schemas import ShownProduct

    assert OFFERS_SHOWN == 10
    assert "the cheapest ten" in ShownProduct.model_fields["offers"].description


def test_the_cheapest_offers_are_chosen_across_currencies(
    qdrant, config, catalog, make_product, rates_of_2024_06_28
):
    """At 1.0705 USD per euro, 50 and 60 USD (46.71, 56.05 EUR) are cheaper than any euro
    copy: the cheapest ten are chosen after conversion, whichever copy is the result."""
    from catalog.exchange_rates import latest_rates

    for k in range(12):
        make_product(store_id=f"eu-{k:02}", price=f"{100 + k}.00", **TRAINER)
    for price in ("60.00", "50.00"):
        make_product(store_id=f"us-{price}", price=price, currency="USD", **TRAINER)
    sync_pending(client=qdrant, config=config, embedder=get_embedder())
    check_queued_duplicates(client=qdrant, config=config)

    results = similar_products(catalog["black"].pk, limit=3, rates=latest_rates())
    trainer = next(r for r in results if r.title == TRAINER["title"])

    assert trainer.offers_total == 3 + 12 + 2
    assert [(o.currency, str(o.price)) for o in trainer.offers] == [
        ("USD", "50.00"),
        ("USD", "60.00"),
        *(("EUR", price) for price in ("79.00", "89.00", "99.00")),
        *(("EUR", f"{100 + k}.00") for k in range(5)),
    ]


def test_regrouping_writes_only_the_rows_whose_group_changed(qdrant, config, catalog):
    """Checking a product again whose group stays as it was leaves its group's rows as they
    were (each check rewrote them all: dead rows piled up 61 to 1 on a catalog of large
    groups); one that leaves a group changes only what it must."""
    check_queued_duplicates(client=qdrant, config=config)

    def row_versions():
        with connection.cursor() as cursor:
            cursor.execute("SELECT product_id, group_id, xmin::text FROM vectors_duplicategroup")
            return {row[0]: row[1:] for row in cursor.fetchall()}

    before = row_versions()
    DuplicateCheck.objects.create(product_id=catalog["trainer_b"].pk)
    assert check_queued_duplicates(client=qdrant, config=config).checked == 1
    assert row_versions() == before


def test_a_group_splits_when_the_product_holding_it_together_goes(qdrant, config, catalog):
    """coat ~ trainer_a ~ scarf as links (a chain: coat and scarf are not alike): deleting
    the trainer in the middle leaves the coat and the scarf each alone, and the other two
    trainers a group of their own."""
    check_queued_duplicates(client=qdrant, config=config)
    a, coat, scarf = catalog["trainer_a"].pk, catalog["coat"].pk, catalog["scarf"].pk
    DuplicateLink.objects.create(product_id=min(a, coat), other_id=max(a, coat), score=0.99)
    DuplicateLink.objects.create(product_id=min(a, scarf), other_id=max(a, scarf), score=0.99)
    DuplicateCheck.objects.create(product_id=catalog["black"].pk)  # any check regroups
    with connection.cursor() as cursor:  # as the check would have, from these links
        cursor.execute("DELETE FROM vectors_duplicategroup")
    from vectors.duplicates import _regroup

    _regroup({a})
    assert len(groups()) == 1 and coat in next(iter(groups()))

    Product.objects.filter(pk=a).delete()
    sync_pending(client=qdrant, config=config, embedder=get_embedder())
    check_queued_duplicates(client=qdrant, config=config)
    assert groups() == {frozenset({catalog["trainer_b"].pk, catalog["trainer_c"].pk})}
    assert not DuplicateLink.objects.filter(product_id=a).exists()
    assert not DuplicateLink.objects.filter(other_id=a).exists()


def test_a_rebuild_from_scratch_finds_the_same_groups(qdrant, config, catalog):
    check_queued_duplicates(client=qdrant, config=config)
    incremental = groups()
    DuplicateGroup.objects.all().delete()
    DuplicateLink.objects.all().delete()
    seen = []
    report = rebuild_duplicates(client=qdrant, config=config, page=2, progress=seen.append)
    assert report.checked == len(catalog) and sum(seen) == len(catalog)
    assert groups() == incremental
    assert DuplicateLink.objects.count() == 3


def test_the_command_checks_rebuilds_and_reports(qdrant, config, catalog):
    out = io.StringIO()
    call_command("group_duplicates", stdout=out)
    assert out.getvalue().splitlines() == [
        "Checked 6 products for duplicates: 3 links, 6 regrouped.",
        "Duplicates: 1 group holding 3 of 6 products (50.0%); the largest holds 3.",
    ]
    out = io.StringIO()
    call_command("group_duplicates", "--report", stdout=out)
    assert out.getvalue().splitlines() == [
        "Duplicates: 1 group holding 3 of 6 products (50.0%); the largest holds 3."
    ]
    out = io.StringIO()
    call_command("group_duplicates", "--rebuild", stdout=out)
    assert out.getvalue().splitlines()[-1].startswith("Duplicates: 1 group holding 3")


def test_grouping_off(settings, qdrant, config, catalog):
    settings.VECTORS_DUPLICATE_THRESHOLD = 0
    assert check_queued_duplicates(client=qdrant, config=config).checked == 0
    results = similar_products(catalog["black"].pk, limit=3)
    assert [r.title for r in results].count(TRAINER["title"]) == 3


def test_the_admin_shows_the_same_product_in_other_shops(admin_client, qdrant, config, catalog):
    check_queued_duplicates(client=qdrant, config=config)
    page = admin_client.get(
        reverse("admin:catalog_product_change", args=[catalog["trainer_a"].pk])
    ).content.decode()
    offers = page.split("Same product in other shops")[1].split("Similar products")[0]
    assert "<td>shop-b</td>" in offers and "79.00" in offers and "<td>shop-c</td>" in offers
    assert "<td>shop-a</td>" not in offers  # the product itself
    assert 'href="https://shop-a.example/p/shirt"' in offers  # each copy's shop link
    alone = admin_client.get(
        reverse("admin:catalog_product_change", args=[catalog["coat"].pk])
    ).content.decode()
    assert "No other shop sells it" in alone

    changelist = reverse("admin:catalog_product_changelist")
    sold_elsewhere = admin_client.get(changelist, {"duplicates": "yes"}).context["cl"]
    assert {p.pk for p in sold_elsewhere.result_list} == {
        catalog[k].pk for k in ("trainer_a", "trainer_b", "trainer_c")
    }
    one_shop = admin_client.get(changelist, {"duplicates": "no"}).context["cl"]
    assert {p.pk for p in one_shop.result_list} == {
        catalog[k].pk for k in ("black", "coat", "scarf")
    }


def test_reconcile_finds_groups_out_of_step_and_repairs_them(qdrant, config, catalog):
    """A check lost (its queue row deleted by hand) after a trainer was deleted: its links
    and its copies' group still hold it. reconcile_vectors says so, --fix regroups."""
    check_queued_duplicates(client=qdrant, config=config)
    Product.objects.filter(pk=catalog["trainer_a"].pk).delete()
    sync_pending(client=qdrant, config=config, embedder=get_embedder())
    DuplicateCheck.objects.all().delete()
    DuplicateGroup.objects.create(product_id=catalog["coat"].pk, group_id=catalog["coat"].pk)

    out = io.StringIO()
    with pytest.raises(CommandError, match="differ in"):
        call_command("reconcile_vectors", stdout=out)
    assert "Duplicate groups: 2 products out of step with their links" in out.getvalue()
    assert str(catalog["trainer_a"].pk) in out.getvalue()  # gone, still linked
    assert str(catalog["coat"].pk) in out.getvalue()  # grouped, with no link

    out = io.StringIO()
    call_command("reconcile_vectors", "--fix", stdout=out)
    assert groups() == {frozenset({catalog["trainer_b"].pk, catalog["trainer_c"].pk})}
    out = io.StringIO()
    call_command("reconcile_vectors", stdout=out)
    assert "Duplicate groups" not in out.getvalue()


def test_sync_vectors_checks_what_it_wrote_or_leaves_a_whole_catalog_to_a_rebuild(
    qdrant, config, make_product, monkeypatch
):
    from vectors.management.commands import sync_vectors

    collection_ensure(client=qdrant, config=config)
    for shop in ("shop-a", "shop-b"):
        make_product(store_id=shop, **TRAINER)
    out = io.StringIO()
    call_command("sync_vectors", stdout=out)
    assert "Checked 2 products for duplicates: 1 link, 2 regrouped." in out.getvalue()
    assert len(groups()) == 1

    monkeypatch.setattr(sync_vectors, "CHECKS_INLINE_MAX", 2)
    for shop in ("shop-c", "shop-d", "shop-e"):
        make_product(store_id=shop, **TRAINER)
    out = io.StringIO()
    call_command("sync_vectors", stdout=out)
    assert (
        "3 products to check for duplicates: run manage.py group_duplicates --rebuild "
        "(or group_duplicates) when convenient." in out.getvalue()
    )
    assert DuplicateCheck.objects.count() == 3


def test_a_chain_too_long_for_one_product_is_left_ungrouped(qdrant, config, catalog, monkeypatch):
    """Three copies reach MAX_GROUP here: a threshold too low for a catalog would chain it
    all into one group and collapse every search, so such a chain stays ungrouped, by the
    checks and by a rebuild alike, and the report says so."""
    from vectors import duplicates

    monkeypatch.setattr(duplicates, "MAX_GROUP", 3)
    report = check_queued_duplicates(client=qdrant, config=config)
    assert report.capped == 1 and not groups()
    assert "1 chain of 3 or more products left ungrouped" in report.summary()
    rebuilt = rebuild_duplicates(client=qdrant, config=config)
    assert rebuilt.capped == 1 and not groups()
    results = similar_products(catalog["black"].pk, limit=3)
    assert [r.title for r in results].count(TRAINER["title"]) == 3


def test_claiming_checks_does_not_sort_the_whole_queue():
    """A reindex queues every product: each batch's claim must read the oldest checks off an
    index, not sort a million rows to find them."""
    from vectors.duplicates import CHECK_BATCH, CLAIM

    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO vectors_duplicatecheck (product_id, queued_at) "
            "SELECT uuid_generate_v4(), now() - n * interval '1 second' "
            "FROM generate_series(1, 50000) AS n"
        )
        cursor.execute("ANALYZE vectors_duplicatecheck")
        cursor.execute("EXPLAIN " + CLAIM, [CHECK_BATCH])
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "duplicatecheck_queue_order" in plan, plan
    assert "Sort" not in plan, plan
