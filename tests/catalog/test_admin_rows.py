"""The changelist's rows from a column plan are Django's own markup, byte for byte."""

import re
import types

import pytest
from django.contrib import admin as django_admin
from django.contrib.admin.views.main import ChangeList
from django.test import RequestFactory
from django.urls import NoReverseMatch, reverse

from catalog.admin import rows as admin_rows
from catalog.models import Product

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:catalog_product_changelist")
RESULTS_TABLE = re.compile(r'<table id="result_list">.*?</table>', re.DOTALL)


@pytest.fixture
def varied_products(make_product):
    make_product(title='Shirt <b>"quoted"</b> & co', price="0.00", currency="KWD")
    make_product(title="Scarf", image_url="", store_id="shop-b", price="1234567.89")
    make_product(title="  Coat  ", currency="JPY")
    Product.objects.filter(title="Scarf").update(created_at="2024-01-01T00:00:00Z")  # midnight


def results_table(admin_client, params) -> str:
    content = admin_client.get(CHANGELIST, params).content.decode()
    (table,) = RESULTS_TABLE.findall(content)
    return table


@pytest.mark.parametrize(
    "params",
    [{}, {"store_id": "shop-b"}, {"q": "s", "o": "-4.2"}, {"currency": "KWD", "p": "1"}],
)
def test_planned_rows_are_django_s_markup(admin_client, varied_products, monkeypatch, params):
    ours = results_table(admin_client, params)
    monkeypatch.setattr(admin_rows, "plan_columns", lambda cl: None)
    django_s = results_table(admin_client, params)
    assert ours == django_s
    assert "<tbody>" in ours and ours.count("<tr>") > 1


def test_row_links_are_the_urls_django_reverses(admin_client, varied_products):
    cl = admin_client.get(CHANGELIST, {"store_id": "shop-a"}).context["cl"]
    odd_pks = ["a/b c%_?#é:@~", "plain", "_x_", 17, "..", "with\nnewline"]
    for pk in odd_pks:
        row = types.SimpleNamespace(id=pk)
        expected = ChangeList.url_for_result(cl, row)
        assert cl.url_for_result(row) == f"{expected}?{cl._row_link_query}"
    with pytest.raises(NoReverseMatch):
        ChangeList.url_for_result(cl, types.SimpleNamespace(id=""))
    with pytest.raises(NoReverseMatch):
        cl.url_for_result(types.SimpleNamespace(id=""))


def changelist_for(model_admin, admin_user):
    request = RequestFactory().get(CHANGELIST)
    request.user = admin_user
    cl = model_admin.get_changelist_instance(request)
    cl.formset = None  # changelist_view sets it: None without list_editable
    return cl


def test_columns_it_cannot_plan_fall_back_to_django(admin_user, make_product):
    from catalog.admin import ProductAdmin

    make_product()

    class WithACallable(ProductAdmin):
        list_display = [*ProductAdmin.list_display, lambda product: product.title.upper()]

    cl = changelist_for(WithACallable(Product, django_admin.site), admin_user)
    assert admin_rows.plan_columns(cl) is None
    context = admin_rows.result_list(cl)
    assert "LINEN SHIRT" in str(list(context["results"][0]))


def test_the_plan_links_the_title_in_a_th_as_django_does(admin_user, make_product):
    from catalog.admin import ProductAdmin

    make_product()
    cl = changelist_for(ProductAdmin(Product, django_admin.site), admin_user)
    columns = admin_rows.plan_columns(cl)
    assert [(c.field_name, c.tag, c.link) for c in columns] == [
        ("action_checkbox", "td", False),
        ("thumbnail", "td", False),
        ("title", "th", True),
        ("store_id", "td", False),
        ("price_with_currency", "td", False),
        ("created_at", "td", False),
    ]
