import pytest
from django.urls import reverse

from catalog.models import Product

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:catalog_product_changelist")


def change_url(product: Product) -> str:
    return reverse("admin:catalog_product_change", args=[product.pk])


def listed_ids(response) -> set:
    return {product.pk for product in response.context["cl"].result_list}


def test_changelist_shows_title_store_price_with_currency_and_thumbnail(admin_client, make_product):
    make_product(title="Silk scarf", store_id="shop-b", price="19.50", currency="GBP")
    response = admin_client.get(CHANGELIST)
    assert response.status_code == 200
    content = response.content.decode()
    assert "Silk scarf" in content
    assert "shop-b" in content
    assert "19.50 GBP" in content
    assert 'loading="lazy"' in content
    assert 'referrerpolicy="no-referrer"' in content


def test_prices_show_their_currency_s_minor_units(admin_client, make_product):
    make_product(title="Tabi socks", price="1500.00", currency="JPY")
    make_product(title="Wool cap", price="12.35", currency="KWD")
    content = admin_client.get(CHANGELIST).content.decode()
    assert "1500 JPY" in content
    assert "1500.00" not in content
    assert "12.350 KWD" in content


def test_exchange_rates_are_listed_and_not_editable(admin_client):
    from catalog.ingest.rates import load_exchange_rates
    from tests.helpers import INGEST_FIXTURES as FIXTURES

    load_exchange_rates(str(FIXTURES / "ecb_eurofxref_daily_2024-06-28.xml"))
    listing = admin_client.get(reverse("admin:catalog_exchangerate_changelist"))
    assert listing.status_code == 200
    assert "European Central Bank" in listing.content.decode()
    assert admin_client.get(reverse("admin:catalog_exchangerate_add")).status_code == 403


def test_search_matches_title_words(admin_client, make_product):
    scarf = make_product(title="Silk scarf")
    make_product(title="Denim jacket")
    response = admin_client.get(CHANGELIST, {"q": "scarf"})
    assert listed_ids(response) == {scarf.pk}


def test_search_matches_an_exact_external_id(admin_client, make_product):
    wanted = make_product(external_id="WC-1001")
    make_product(external_id="WC-10011")
    response = admin_client.get(CHANGELIST, {"q": "WC-1001"})
    assert listed_ids(response) == {wanted.pk}


def test_filter_by_store(admin_client, make_product):
    in_b = make_product(store_id="shop-b")
    make_product(store_id="shop-a")
    response = admin_client.get(CHANGELIST, {"store_id": "shop-b"})
    assert listed_ids(response) == {in_b.pk}


def test_filter_by_currency(admin_client, make_product):
    in_gbp = make_product(currency="GBP")
    make_product(currency="EUR")
    response = admin_client.get(CHANGELIST, {"currency": "GBP"})
    assert listed_ids(response) == {in_gbp.pk}


def test_change_page_shows_read_only_id_and_timestamps(admin_client, make_product):
    product = make_product()
    response = admin_client.get(change_url(product))
    assert response.status_code == 200
    form_fields = response.context["adminform"].form.fields
    for read_only in ("id", "created_at", "updated_at"):
        assert read_only not in form_fields
    content = response.content.decode()
    assert str(product.pk) in content
    assert 'rel="noopener noreferrer nofollow"' in content


def test_change_page_saves_an_edit(admin_client, make_product):
    product = make_product()
    data = {
        "store_id": product.store_id,
        "external_id": product.external_id,
        "title": "Linen shirt, white",
        "description": "",
        "price": "39.90",
        "currency": "EUR",
        "image_url": product.image_url,
        "product_url": product.product_url,
    }
    response = admin_client.post(change_url(product), data)
    assert response.status_code == 302
    product.refresh_from_db()
    assert (product.title, str(product.price)) == ("Linen shirt, white", "39.90")


def test_change_page_rejects_a_javascript_url(admin_client, make_product):
    product = make_product()
    data = {
        "store_id": product.store_id,
        "external_id": product.external_id,
        "title": product.title,
        "description": "",
        "price": "39.90",
        "currency": "EUR",
        "image_url": "",
        "product_url": "javascript:alert(1)",
    }
    response = admin_client.post(change_url(product), data)
    assert response.status_code == 200
    assert "product_url" in response.context["adminform"].form.errors
    product.refresh_from_db()
    assert product.product_url.startswith("https://")


HOSTILE_TITLE = '<script>alert("title")</script>'
HOSTILE_URL = 'https://evil.example/a.jpg"><script>alert("url")</script>'


def test_hostile_title_and_urls_are_escaped(admin_client, make_product):
    product = make_product(title=HOSTILE_TITLE, image_url=HOSTILE_URL, product_url=HOSTILE_URL)
    for url in (CHANGELIST, change_url(product)):
        content = admin_client.get(url).content.decode()
        assert "<script>alert(" not in content
        assert "&lt;script&gt;alert(" in content
        assert '"><script>' not in content
        assert "&quot;&gt;&lt;script&gt;" in content


def test_products_without_an_image_show_no_img_tag(admin_client, make_product):
    product = make_product(image_url="")
    content = admin_client.get(change_url(product)).content.decode()
    assert "<img " not in content.split('id="content"')[1]


def test_the_fast_action_checkbox_is_django_s_own_markup(make_product):
    from django.contrib import admin as django_admin

    from catalog.admin import ProductAdmin

    product = make_product(title='Shirt <b>"quoted"</b> & co')
    ours = ProductAdmin(Product, django_admin.site).action_checkbox(product)
    django_s = django_admin.ModelAdmin(Product, django_admin.site).action_checkbox(product)
    assert ours == django_s
