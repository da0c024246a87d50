"""The product admin, with what the vector index knows: a status column, a "similar
products" panel, a re-sync action and a search page (words or a photo: admin_search.py).
Added here, so that catalog never imports vectors.

Search and sync are imported where they are used: admin autodiscovery imports this module in
every process (every manage.py command), and they bring qdrant_client, about half a second
of start-up that commands which never touch Qdrant should not pay."""

from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import ImproperlyConfigured
from django.db.models import Exists, OuterRef
from django.db.models.expressions import RawSQL
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from catalog.admin import ProductAdmin, image_tag
from catalog.admin.paging import FastChangeList
from catalog.models import Product
from catalog.money import price_text
from catalog.validators import is_http_url
from config.text import counted
from vectors.embedders import needs_image
from vectors.exceptions import ProductNotIndexed, VectorStoreError
from vectors.models import DuplicateGroup

PANEL_SIZE = 8

# NULL: nothing waiting (the sync delivered the product); 0: waiting; > 0: failed and retrying;
# -1: set aside after repeated failures. The database function (vectors/change_log.py) asks the GIN
# index on product_ids, and each log row it finds holds at most ProductChange.MAX_IDS ids to
# re-check: the same cost per product whatever is pending.
PENDING_ATTEMPTS = RawSQL("vectors_product_sync_status(catalog_product.id)", [])


class ChangeListWithPoints(FastChangeList):
    """The product list, asking Qdrant once per page which of its rows have a point: a
    product with nothing queued is "indexed" only if it does (a new or restored store, a
    lost point), never on the change log's word alone."""

    def get_results(self, request):
        super().get_results(request)
        mark_points(self.result_list)


def mark_points(products) -> None:
    """Set `has_point` on the products with nothing queued: True or False from one Qdrant
    call for the page, None when Qdrant cannot say."""
    from vectors.client import get_qdrant_client
    from vectors.conf import qdrant_config

    settled = [p for p in products if getattr(p, "pending_attempts", None) is None]
    if not settled:
        return
    try:
        config = qdrant_config()
        points = get_qdrant_client().retrieve(
            config.collection, [str(p.pk) for p in settled], with_payload=False
        )
    except (VectorStoreError, ImproperlyConfigured):
        return  # has_point stays unset: "unknown"; the page itself still works
    found = {str(point.id) for point in points}
    for product in settled:
        product.has_point = str(product.pk) in found


# The one registration of the product admin: catalog/admin/ defines ProductAdmin (and does
# not register it, so that catalog never imports vectors); this adds the vector index's view.
class DuplicatesFilter(admin.SimpleListFilter):
    """Products sold by other shops too (in a group of duplicates, vectors/duplicates.py)."""

    title = "duplicates"
    parameter_name = "duplicates"

    def lookups(self, request, model_admin):
        return [("yes", "In other shops too"), ("no", "In one shop only")]

    def queryset(self, request, queryset):
        grouped = Exists(DuplicateGroup.objects.filter(product_id=OuterRef("pk")))
        if self.value() == "yes":
            return queryset.filter(grouped)
        if self.value() == "no":
            return queryset.exclude(grouped)
        return queryset


@admin.register(Product)
class ProductWithVectorsAdmin(ProductAdmin):
    list_display = [*ProductAdmin.list_display, "vector_status"]
    list_filter = [*ProductAdmin.list_filter, DuplicatesFilter]
    readonly_fields = [*ProductAdmin.readonly_fields, "duplicates_panel", "similar_products_panel"]
    fieldsets = [
        *ProductAdmin.fieldsets,
        ("Same product in other shops", {"fields": ["duplicates_panel"]}),
        ("Similar products", {"fields": ["similar_products_panel"]}),
    ]
    actions = ["resync_vectors"]
    change_list_template = "admin/catalog/product/change_list_with_search.html"

    def get_urls(self):
        from django.urls import path

        from vectors.admin_search import search_view

        search = path(
            "search/",
            self.admin_site.admin_view(search_view, cacheable=False),
            {"model_admin": self},
            name="catalog_product_search",
        )
        return [search, *super().get_urls()]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(pending_attempts=PENDING_ATTEMPTS)

    def get_changelist(self, request, **kwargs):
        return ChangeListWithPoints

    @admin.display(description="vector")
    def vector_status(self, obj: Product) -> str:
        attempts = getattr(obj, "pending_attempts", None)
        if attempts is None:
            # With an image model, a product without an image has no point by design.
            if not obj.image_url and needs_image(settings.VECTORS_EMBEDDER):
                return "no image"
            # Nothing queued: indexed only if Qdrant has the point (ChangeListWithPoints).
            return {True: "indexed", False: "missing (reconcile_vectors --fix)"}.get(
                getattr(obj, "has_point", None), "unknown (Qdrant unavailable)"
            )
        if attempts < 0:
            return "failed (set aside)"
        return "pending" if attempts == 0 else f"retrying ({attempts} failed)"

    @admin.display(description="offers")
    def duplicates_panel(self, obj: Product) -> str:
        if obj.pk is None:
            return "—"
        from vectors.search import same_product_elsewhere

        others = same_product_elsewhere(obj.pk)
        if not others:
            return "No other shop sells it (as far as its image tells)."
        return format_html(
            "<table><thead><tr><th>store</th><th>price</th><th>product</th><th>link</th>"
            "</tr></thead><tbody>{}</tbody></table>",
            format_html_join(
                "",
                '<tr><td>{}</td><td>{} {}</td><td><a href="{}">{}</a></td><td>{}</td></tr>',
                (
                    (
                        other.store_id,
                        price_text(other.price, other.currency),
                        other.currency,
                        reverse("admin:catalog_product_change", args=[other.id]),
                        other.title,
                        format_html('<a href="{}" rel="noopener">{}</a>', other.product_url, "shop")
                        if is_http_url(other.product_url)
                        else "—",
                    )
                    for other in others
                ),
            ),
        )

    @admin.display(description="similar products")
    def similar_products_panel(self, obj: Product) -> str:
        if obj.pk is None:
            return "—"
        from vectors.search import similar_products

        try:
            results = similar_products(obj.pk, limit=PANEL_SIZE)
        except ProductNotIndexed:
            return "Not indexed yet: run manage.py sync_vectors."
        except VectorStoreError as exc:
            return f"Unavailable: {exc}"
        if not results:
            return "No similar products."
        return format_html(
            '<ul style="list-style:none;padding:0;display:flex;flex-wrap:wrap;gap:12px">{}</ul>',
            format_html_join(
                "",
                '<li style="width:120px">{}<br><a href="{}">{}</a><br>{} {} · {}</li>',
                (
                    (
                        image_tag(item.image_url, alt=item.title, size=96),
                        reverse("admin:catalog_product_change", args=[item.id]),
                        item.title,
                        price_text(item.price, item.currency),
                        item.currency,
                        f"{item.score:.2f}",
                    )
                    for item in results
                ),
            ),
        )

    @admin.action(description="Re-sync selected products to the vector index")
    def resync_vectors(self, request, queryset):
        from vectors.sync_queue import request_resync

        count = request_resync(product_ids=list(queryset.values_list("pk", flat=True)))
        self.message_user(
            request,
            f"{counted(count, 'product')} queued for the vector sync (manage.py sync_vectors).",
            messages.SUCCESS,
        )
