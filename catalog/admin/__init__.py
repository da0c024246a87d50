"""The product admin, fast at a million products: this package is where all of it lives.

- `ProductAdmin` (here): columns, filters, search, forms. Registered by vectors/admin.py,
  which extends it with the vector status, similar products and a re-sync action.
- `paging.py`: counts and deep pages that do not scan the table (FastPaginator,
  FastChangeList), the store and currency filters.
- `rows.py`: changelist rows rendered from a per-page column plan, Django's markup byte for
  byte (tests/catalog/test_admin_rows.py compares them).
- `templatetags.py` and templates/admin/catalog/product/change_list.html: the one tag and
  block that put rows.py on the page (the tag library is declared in config/settings.py).

What touches Django's private admin internals, to re-check on every Django upgrade, is listed
in the README's architecture section and guarded by tests/catalog/test_admin_rows.py.
"""

from django.contrib import admin
from django.contrib.admin import helpers
from django.utils.html import escape, format_html
from django.utils.safestring import mark_safe
from django.utils.translation import gettext

from catalog.admin.paging import (
    CurrencyFilter,
    FastChangeList,
    FastPaginator,
    StoreFilter,
    known_product_count,
)
from catalog.models import ExchangeRate, Product
from catalog.money import price_text
from catalog.validators import is_http_url

# Images come from the shops' own hosts: no Referer (the admin's URL is nobody's business
# and some shops block hot-linked images by it), lazy so a page only fetches what is seen.
IMG_TAG = (
    '<img src="{}" alt="{}" width="{}" height="{}" loading="lazy" decoding="async" '
    'referrerpolicy="no-referrer" style="object-fit: contain;">'
)


def image_tag(url: str, *, alt: str, size: int) -> str:
    if not is_http_url(url):
        return "—"
    return mark_safe(IMG_TAG.format(escape(url), escape(alt), size, size))  # noqa: S308 - escaped


# Not registered here: vectors/admin.py registers ProductWithVectorsAdmin, this class with
# what the vector index knows (a status column, similar products, a re-sync action), so that
# catalog never imports vectors. Edit the product admin here; the vector additions there.
class ProductAdmin(admin.ModelAdmin):
    list_display = ["thumbnail", "title", "store_id", "price_with_currency", "created_at"]
    list_display_links = ["title"]
    # "Today", "Past 7 days", ...: fixed choices and a range on created_at, which its index
    # serves. (date_hierarchy is left out: it lists the dates present with a DISTINCT over
    # every matching row.)
    list_filter = [StoreFilter, CurrencyFilter, "created_at"]
    # Each sortable column has an index that serves it (catalog/models.py); sorting a million
    # free-text titles would not, and search is how titles are found.
    sortable_by = ["store_id", "price_with_currency", "created_at"]
    search_fields = ["title", "=external_id"]
    readonly_fields = ["id", "image_preview", "product_link", "created_at", "updated_at"]
    fieldsets = [
        (None, {"fields": ["id", "store_id", "external_id", "title", "description"]}),
        ("Price", {"fields": ["price", "currency"]}),
        ("Links", {"fields": ["image_url", "image_preview", "product_url", "product_link"]}),
        ("History", {"fields": ["created_at", "updated_at"]}),
    ]
    list_per_page = 50
    paginator = FastPaginator
    # An exact COUNT(*) over the whole table on every page view is what makes a big
    # changelist slow; the filtered count is still shown.
    show_full_result_count = False
    # Django's "Show counts" link counts every filter choice over the matching rows: minutes
    # at a million products. The store filter shows exact counts of its own (catalog_store).
    show_facets = admin.ShowFacets.NEVER

    def get_changelist(self, request, **kwargs):
        return FastChangeList

    def get_paginator(self, request, queryset, per_page, orphans=0, allow_empty_first_page=True):
        return self.paginator(
            queryset,
            per_page,
            orphans,
            allow_empty_first_page,
            known_count=known_product_count(request),
        )

    def action_checkbox(self, obj: Product) -> str:
        # Django's own markup, built directly: Django renders the checkbox widget's templates
        # once per row, a third of the changelist's rendering time at 50 rows.
        label = gettext("Select this object for an action - {}").format(escape(str(obj)))
        return mark_safe(  # noqa: S308 - pk and title escaped; the label is markup, as in Django
            f'<input type="checkbox" name="{helpers.ACTION_CHECKBOX_NAME}" '
            f'value="{escape(str(obj.pk))}" class="action-select" aria-label="{label}">'
        )

    @admin.display(description="price", ordering="price")
    def price_with_currency(self, obj: Product) -> str:
        return f"{price_text(obj.price, obj.currency)} {obj.currency}"

    @admin.display(description="image")
    def thumbnail(self, obj: Product) -> str:
        return image_tag(obj.image_url, alt="", size=48)

    @admin.display(description="image preview")
    def image_preview(self, obj: Product) -> str:
        return image_tag(obj.image_url, alt=obj.title, size=240)

    @admin.display(description="open product page")
    def product_link(self, obj: Product) -> str:
        if not is_http_url(obj.product_url):
            return "—"
        return format_html(
            '<a href="{}" target="_blank" rel="noopener noreferrer nofollow">{}</a>',
            obj.product_url,
            obj.product_url,
        )


@admin.register(ExchangeRate)
class ExchangeRateAdmin(admin.ModelAdmin):
    """What `load_exchange_rates` stored, to look up; rates come from the bank's file only."""

    list_display = ["rate_date", "currency", "per_euro", "source", "loaded_at"]
    list_filter = ["currency"]
    date_hierarchy = "rate_date"  # a few thousand rows: DISTINCT over dates is cheap here
    search_fields = ["=currency"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
