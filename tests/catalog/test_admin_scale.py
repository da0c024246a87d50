"""The changelist's fast paths give the same results and counts as Django's defaults.

Small data, with the paging thresholds lowered so that the estimate and the deferred join
are exercised (the speed itself is measured by bench/admin.py)."""

import pytest
from django.contrib.admin.views.main import ChangeList
from django.urls import reverse

from catalog import admin
from catalog.admin import paging as admin_paging
from catalog.models import Product

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:catalog_product_changelist")


@pytest.fixture
def products(make_product):
    items = []
    for i in range(30):
        items.append(
            make_product(
                store_id=f"shop-{i % 3}",
                external_id=f"SKU-{i:03d}",
                title=f"{['Linen', 'Wool', 'Silk'][i % 3]} item {i}",
                price=f"{(i * 7) % 30}.00",
                currency=["EUR", "USD"][i % 2],
            )
        )
    return items


def listed(response):
    return [p.pk for p in response.context["cl"].result_list]


def newest_first(queryset):
    return list(queryset.order_by("-created_at", "-id").values_list("pk", flat=True))


def test_first_page_and_exact_count(admin_client, products):
    response = admin_client.get(CHANGELIST)
    cl = response.context["cl"]
    assert cl.result_count == 30 and not cl.paginator.estimated
    assert listed(response) == newest_first(Product.objects.all())
    assert "30 products" in response.content.decode()


def test_store_filter_choices_and_results(admin_client, products):
    response = admin_client.get(CHANGELIST, {"store_id": "shop-1"})
    store_filter = next(
        spec for spec in response.context["cl"].filter_specs if spec.parameter_name == "store_id"
    )
    assert [value for value, _ in store_filter.lookup_choices] == ["shop-0", "shop-1", "shop-2"]
    assert listed(response) == newest_first(Product.objects.filter(store_id="shop-1"))
    assert response.context["cl"].result_count == 10


def test_currency_filter(admin_client, products):
    response = admin_client.get(CHANGELIST, {"currency": "USD"})
    assert listed(response) == newest_first(Product.objects.filter(currency="USD"))


def test_title_search_is_a_case_insensitive_substring_search(admin_client, products):
    response = admin_client.get(CHANGELIST, {"q": "inen ITEM 1"})
    assert set(listed(response)) == set(
        Product.objects.filter(title__icontains="inen", external_id__isnull=False)
        .filter(title__icontains="item")
        .filter(title__icontains="1")
        .values_list("pk", flat=True)
    )
    assert response.context["cl"].result_count == len(listed(response)) > 0


def test_exact_external_id_search_ignores_case(admin_client, products):
    response = admin_client.get(CHANGELIST, {"q": "sku-007"})
    assert listed(response) == [Product.objects.get(external_id="SKU-007").pk]


def test_sort_by_price(admin_client, products):
    response = admin_client.get(CHANGELIST, {"o": "4"})  # checkbox, thumbnail, title, store, price
    prices = [p.price for p in response.context["cl"].result_list]
    assert prices == sorted(prices)


@pytest.mark.parametrize(
    ("param", "expected_order"),
    [
        ("3", ["store_id", "created_at", "id"]),
        ("-3", ["-store_id", "-created_at", "-id"]),
        ("-4", ["-price", "-created_at", "-id"]),
        ("5", ["created_at", "id"]),
    ],
)
def test_column_sorts_break_ties_in_their_own_direction(
    admin_client, products, monkeypatch, param, expected_order
):
    # Ties in the sort's direction are what lets one index serve a column both ways.
    monkeypatch.setattr(admin.ProductAdmin, "list_per_page", 100)
    response = admin_client.get(CHANGELIST, {"o": param})
    expected = list(Product.objects.order_by(*expected_order).values_list("pk", flat=True))
    assert listed(response) == expected


def test_titles_are_not_sortable_even_by_a_hand_made_url(admin_client, products):
    response = admin_client.get(CHANGELIST, {"o": "2"})  # title
    assert listed(response) == newest_first(Product.objects.all())[:50]
    headers = response.content.decode().split('<table id="result_list">')[1].split("</thead>")[0]
    assert '<div class="text"><span>Title</span></div>' in headers
    assert "?o=4" in headers  # price still is


def test_date_filter_lists_recent_products_and_counts_them(admin_client, products):
    from datetime import timedelta

    from django.utils import timezone

    old = [p.pk for p in products[:4]]
    Product.objects.filter(pk__in=old).update(created_at=timezone.now() - timedelta(days=30))
    cl = admin_client.get(CHANGELIST).context["cl"]
    date_filter = next(spec for spec in cl.filter_specs if spec.title == "created")
    past_week = next(c for c in date_filter.choices(cl) if c["display"] == "Past 7 days")

    response = admin_client.get(CHANGELIST + past_week["query_string"])
    cl = response.context["cl"]
    assert listed(response) == newest_first(Product.objects.exclude(pk__in=old))
    assert (cl.result_count, cl.paginator.estimated) == (26, False)


def test_no_facet_counts_link_and_no_facet_counting(admin_client, products):
    # Facets count every filter choice over the matching rows: minutes at a million.
    content = admin_client.get(CHANGELIST).content.decode()
    assert "Show counts" not in content
    cl = admin_client.get(CHANGELIST, {"_facets": "True"}).context["cl"]
    assert not cl.add_facets


def test_deep_pages_fetched_by_id_match_offset_pages(admin_client, products, monkeypatch):
    monkeypatch.setattr(admin_paging, "DEFERRED_JOIN_OFFSET", 0)
    monkeypatch.setattr(admin.ProductAdmin, "list_per_page", 7)
    expected = newest_first(Product.objects.all())
    pages = [listed(admin_client.get(CHANGELIST, {"p": str(n)})) for n in range(1, 6)]
    assert [pk for page in pages for pk in page] == expected


def test_large_search_counts_are_estimates_and_say_so(admin_client, products, monkeypatch):
    monkeypatch.setattr(admin_paging, "EXACT_COUNT_LIMIT", 5)
    response = admin_client.get(CHANGELIST, {"q": "wool"})
    cl = response.context["cl"]
    assert cl.paginator.estimated
    assert cl.result_count >= 6  # at least what was counted exactly before estimating
    count = int(cl.result_count)
    page = response.content.decode()
    assert f"about {count} products" in page  # Django's own pagination template
    search_box = page.split('id="changelist-search"')[1][:2000]
    assert f"about {count} results" in search_box  # and its own search form


def test_catalog_and_store_counts_are_exact_at_any_size(admin_client, products, monkeypatch):
    monkeypatch.setattr(admin_paging, "EXACT_COUNT_LIMIT", 5)  # they never count rows
    whole = admin_client.get(CHANGELIST, {"o": "4", "p": "2"}).context["cl"]
    assert (whole.result_count, whole.paginator.estimated) == (30, False)
    store = admin_client.get(CHANGELIST, {"store_id": "shop-2"}).context["cl"]
    assert (store.result_count, store.paginator.estimated) == (10, False)
    unknown = admin_client.get(CHANGELIST, {"store_id": "no-such-shop"}).context["cl"]
    assert unknown.result_count == 0


def test_store_choices_show_their_counts(admin_client, products):
    response = admin_client.get(CHANGELIST)
    store_filter = next(
        spec for spec in response.context["cl"].filter_specs if spec.parameter_name == "store_id"
    )
    assert store_filter.lookup_choices == [
        ("shop-0", "shop-0 (10)"),
        ("shop-1", "shop-1 (10)"),
        ("shop-2", "shop-2 (10)"),
    ]


def test_filtered_counts_stay_exact_when_small(admin_client, products, monkeypatch):
    monkeypatch.setattr(admin_paging, "EXACT_COUNT_LIMIT", 15)
    response = admin_client.get(CHANGELIST, {"store_id": "shop-2"})
    assert (response.context["cl"].result_count, response.context["cl"].paginator.estimated) == (
        10,
        False,
    )


def test_row_links_keep_the_filters_exactly_as_django_does(admin_client, products, monkeypatch):
    import re

    params = {"store_id": "shop-1", "o": "4", "q": "item"}
    ours = admin_client.get(CHANGELIST, params).content.decode()
    monkeypatch.setattr(
        admin.ProductAdmin, "get_changelist", lambda self, request, **kwargs: ChangeList
    )
    django_s = admin_client.get(CHANGELIST, params).content.decode()
    row_links = re.compile(r'<th class="field-title"><a href="([^"]+)"')
    assert row_links.findall(ours) == row_links.findall(django_s)
    assert "_changelist_filters=" in row_links.findall(ours)[0]


def test_a_short_store_count_never_lists_more_than_a_page(admin_client, products, monkeypatch):
    # catalog_store's counts come from triggers; a bulk load that disabled them leaves them
    # short. Django then lists the whole query as "one page": a million rows rendered.
    from django.db import connection

    monkeypatch.setattr(admin.ProductAdmin, "list_per_page", 10)
    with connection.cursor() as cursor:
        cursor.execute("UPDATE catalog_store SET product_count = 0")
    response = admin_client.get(CHANGELIST)
    assert response.context["cl"].result_count == 0  # the count as catalog_store says it
    assert listed(response) == newest_first(Product.objects.all())[:10]
    shown_all = admin_client.get(CHANGELIST, {"all": ""})
    assert len(listed(shown_all)) == 30  # "show all": at most list_max_show_all (200)
