"""The Django internals the product admin relies on, pinned: this test fails when a Django
upgrade changes any of them, so that someone re-checks the code listed against each (the
README's architecture section lists them too) before updating the fingerprint here.

The behaviour is tested elsewhere (test_admin_rows.py renders the changelist both ways and
compares the markup byte for byte); this test catches a change before it shows."""

import hashlib
import inspect
from pathlib import Path

import django.contrib.admin
import pytest
from django.contrib.admin import utils
from django.contrib.admin.templatetags import admin_list
from django.contrib.admin.views.main import ChangeList

# What we depend on -> (its fingerprint in Django 5.2, what to re-check when it changes).
PINNED = {
    "admin_list.items_for_result": (
        admin_list.items_for_result,
        "162476ae39ac0ac3",
        "catalog/admin/rows.py follows it cell by cell",
    ),
    "admin_list.result_list": (
        admin_list.result_list,
        "42f01b684881f973",
        "catalog/admin/rows.py repeats its header lines",
    ),
    "admin_list._coerce_field_name": (
        admin_list._coerce_field_name,
        "1f06f8e4a5f9031e",
        "catalog/admin/rows.py imports it (private)",
    ),
    "utils._get_non_gfk_field": (
        utils._get_non_gfk_field,
        "81d76581746ed5c5",
        "catalog/admin/rows.py imports it (private)",
    ),
    "ChangeList.__init__": (
        ChangeList.__init__,
        "4673eaecad2cb032",
        "catalog/admin/paging.py FastChangeList moves preserved_filters to its row links",
    ),
    "ChangeList.url_for_result": (
        ChangeList.url_for_result,
        "2e11d4e1b41268c2",
        "catalog/admin/paging.py FastChangeList builds the same links without reverse()",
    ),
}
TEMPLATE = Path(django.contrib.admin.__file__).parent / "templates" / "admin" / "change_list.html"
TEMPLATE_PIN = "20b8d0e45467ccd3"  # catalog's change_list.html overrides its result_list block


def fingerprint(text: str | bytes) -> str:
    data = text.encode() if isinstance(text, str) else text
    return hashlib.sha256(data).hexdigest()[:16]


@pytest.mark.parametrize("name", sorted(PINNED))
def test_the_django_code_we_follow_is_unchanged(name):
    code, pinned, what = PINNED[name]
    assert fingerprint(inspect.getsource(code)) == pinned, (
        f"Django's {name} changed: re-check {what}, then update its fingerprint here."
    )


def test_the_template_block_we_override_is_unchanged():
    assert fingerprint(TEMPLATE.read_bytes()) == TEMPLATE_PIN, (
        "Django's admin/change_list.html changed: re-check catalog/templates/admin/catalog/"
        "product/change_list.html (it overrides the result_list block), then update the pin."
    )
