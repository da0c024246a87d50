"""What keeps the product changelist fast at a million rows.

- `FastPaginator`: counts exactly only up to a bound (a LIMIT-ed count, cheap whatever the
  table's size) and beyond it shows PostgreSQL's planner estimate, as an `Estimate` that
  prints "about N"; deep pages
  first find their 50 ids through the index alone, then fetch just those rows.
- `StoreFilter` and `known_product_count`: stores, and exact counts for the whole catalog or
  one store, from the small catalog_store table that triggers keep (catalog.Store).
- `DistinctValuesFilter`: filter choices by a loose index scan (a recursive query that jumps
  from one distinct value to the next in the index), not a DISTINCT over every product.
- `FastChangeList`: the rows' links, with the list's filters, without a URL reverse or
  resolve a row; a column sort's ties broken in the sort's own direction by the default
  ordering's fields, so that one index serves each sortable column both ways; columns left
  out of `sortable_by` cannot be sorted by a hand-made URL either; a page never holds more
  rows than a page can, even when a count it trusted is wrong.
"""

from __future__ import annotations

import json
from urllib.parse import quote as url_quote

from django.contrib import admin
from django.contrib.admin.utils import quote as admin_quote
from django.contrib.admin.views.main import ERROR_FLAG, ORDER_VAR, PAGE_VAR, ChangeList
from django.core.paginator import Page, Paginator
from django.db import connection
from django.db.models import Sum
from django.urls import reverse
from django.utils.functional import cached_property
from django.utils.http import RFC3986_SUBDELIMS

from catalog.models import Store

# Up to this many matches, the count is exact.
EXACT_COUNT_LIMIT = 10_000
# Planner estimates above this multiple of the limit are trusted without counting at all.
CLEARLY_LARGE = 5
# From this offset on, a page is fetched by id (the OFFSET walks the index, not the rows).
DEFERRED_JOIN_OFFSET = 1_000


def planner_estimate(queryset) -> int:
    sql, params = queryset.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
        plan = cursor.fetchone()[0]
    if isinstance(plan, str):
        plan = json.loads(plan)
    return int(plan[0]["Plan"]["Plan Rows"])


class Estimate(int):
    """A count that is PostgreSQL's estimate: a number everywhere (pages, comparisons,
    plurals), "about N" wherever a template prints it, so Django's own pagination and search
    templates say so without copies of them."""

    def __str__(self) -> str:
        return f"about {int(self)}"


class FastPaginator(Paginator):
    estimated = False

    def __init__(self, *args, known_count: int | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.known_count = known_count

    @cached_property
    def count(self) -> int:
        if self.known_count is not None:
            return self.known_count
        # values("pk"): annotations (the vector status) stay out of the count.
        ids = self.object_list.order_by().values("pk")
        estimate = planner_estimate(ids)
        if estimate <= CLEARLY_LARGE * EXACT_COUNT_LIMIT:
            bounded = ids[: EXACT_COUNT_LIMIT + 1].count()
            if bounded <= EXACT_COUNT_LIMIT:
                return bounded
            estimate = max(estimate, bounded)
        # The planner is far past the limit: counting even the first rows would cost more
        # than the page itself (a search matching 100,000 titles, say).
        self.estimated = True
        return Estimate(estimate)

    def page(self, number) -> Page:
        number = self.validate_number(number)
        bottom = (number - 1) * self.per_page
        if bottom < DEFERRED_JOIN_OFFSET:
            return super().page(number)
        top = bottom + self.per_page
        ids = list(self.object_list.values_list("pk", flat=True)[bottom:top])
        rows = {row.pk: row for row in self.object_list.filter(pk__in=ids)}
        return self._get_page([rows[pk] for pk in ids if pk in rows], number, self)


class DistinctValuesFilter(admin.SimpleListFilter):
    """Choices are the column's distinct values, read from an index whose first column it
    is: one index probe per distinct value (a few stores, a few currencies)."""

    column: str

    def lookups(self, request, model_admin):
        table = model_admin.model._meta.db_table
        column = self.column
        with connection.cursor() as cursor:
            cursor.execute(
                f"""WITH RECURSIVE distinct_values AS (
                        (SELECT {column} AS value FROM {table} ORDER BY {column} LIMIT 1)
                        UNION ALL
                        SELECT (SELECT {column} FROM {table} WHERE {column} > d.value
                                ORDER BY {column} LIMIT 1)
                        FROM distinct_values d WHERE d.value IS NOT NULL
                    )
                    SELECT value FROM distinct_values WHERE value IS NOT NULL"""  # noqa: S608
            )
            return [(value, value) for (value,) in cursor.fetchall()]

    def queryset(self, request, queryset):
        if self.value():
            return queryset.filter(**{self.column: self.value()})
        return queryset


class StoreFilter(admin.SimpleListFilter):
    """Stores and their product counts from the small catalog_store table."""

    title = "store"
    parameter_name = "store_id"

    def lookups(self, request, model_admin):
        return [
            (store.store_id, f"{store.store_id} ({store.product_count:,})")
            for store in Store.objects.all()
        ]

    def queryset(self, request, queryset):
        if self.value():
            return queryset.filter(store_id=self.value())
        return queryset


def ties_in_sort_direction(ordering: list, opts) -> list:
    """["store_id", "-pk"] (Django's tie-break, always descending) → ["store_id",
    "created_at", "id"]: ties in the default ordering's fields, in the direction of the first
    sort key, which an index on (column, created_at, id) or on (column) serves both ways."""
    if not ordering or not isinstance(ordering[0], str):
        return ordering
    sign = "-" if ordering[0].startswith("-") else ""
    pk_names = {"pk", opts.pk.name, opts.pk.attname}
    keys = [key for key in ordering if not (isinstance(key, str) and key.lstrip("-") in pk_names)]
    named = {key.lstrip("-") for key in keys if isinstance(key, str)}
    ties = [name.lstrip("-") for name in opts.ordering if isinstance(name, str)]
    if not pk_names & set(ties):
        ties.append("pk")
    return keys + [sign + name for name in ties if name not in named]


# Characters reverse() leaves unquoted in a path (RFC 3986 pchar).
PCHAR_SAFE = RFC3986_SUBDELIMS + "/~:@"

# Query parameters that do not change which products are listed.
NOT_FILTERS = {PAGE_VAR, ORDER_VAR, ERROR_FLAG, "_changelist_filters"}


def known_product_count(request) -> int | None:
    """The exact count for the whole catalog or one store, from catalog_store; None when a
    search or another filter is active (the paginator counts those)."""
    filters = set(request.GET) - NOT_FILTERS
    if not filters:
        return Store.objects.aggregate(total=Sum("product_count"))["total"] or 0
    if filters == {StoreFilter.parameter_name}:
        store = Store.objects.filter(store_id=request.GET[StoreFilter.parameter_name]).first()
        return store.product_count if store else 0
    return None


class CurrencyFilter(DistinctValuesFilter):
    title = "currency"
    parameter_name = column = "currency"


class FastChangeList(ChangeList):
    """Django's ChangeList, made for a big table (see the module's doc)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Only the row links read cl.preserved_filters (the page's other links use the
        # template context's copy); url_for_result adds them instead.
        self._row_link_query, self.preserved_filters = self.preserved_filters, ""

    def get_results(self, request):
        super().get_results(request)
        # Django lists the whole query, unsliced, when the count says it fits on one page (or
        # "show all" was asked and it fits). The count may be catalog_store's, kept by
        # triggers: if it is ever short (a bulk load with triggers disabled), a million rows
        # would be rendered. A page holds at most what a page can.
        most = self.list_max_show_all if self.show_all else self.list_per_page
        if not isinstance(self.result_list, list) and not self.result_list.query.is_sliced:
            self.result_list = self.result_list[:most]

    def get_ordering_field(self, field_name):
        # Django only hides the sort links of the columns left out of sortable_by; a URL
        # with ?o= would still sort by them (by the title: a sort of every row).
        if self.sortable_by is not None and field_name not in self.sortable_by:
            return None
        return super().get_ordering_field(field_name)

    def get_ordering(self, request, queryset):
        return ties_in_sort_direction(super().get_ordering(request, queryset), self.lookup_opts)

    # Row links exactly as Django's, without resolving a URL per row: the change URL is
    # reversed once with a marker for the primary key, and the list's filters are appended
    # once computed (Django's add_preserved_filters resolves every row's URL again).
    @cached_property
    def _change_url_around_pk(self) -> tuple[str, str] | None:
        marker = "pk-marker"  # any text the URL pattern accepts and quoting leaves alone
        url = reverse(
            f"admin:{self.opts.app_label}_{self.opts.model_name}_change",
            args=(marker,),
            current_app=self.model_admin.admin_site.name,
        )
        before, _, after = url.partition(marker)
        if marker in after or not before.startswith("/") or before.startswith("//"):
            return None  # an unusual URL layout: let reverse() do each row
        return before, after

    def url_for_result(self, result) -> str:
        around_pk = self._change_url_around_pk
        # What reverse() does to the argument: the admin's quote(), then URL quoting.
        pk = url_quote(str(admin_quote(getattr(result, self.pk_attname))), safe=PCHAR_SAFE)
        if around_pk is None or not pk:
            url = super().url_for_result(result)  # an empty key: NoReverseMatch, as in Django
        else:
            url = f"{around_pk[0]}{pk}{around_pk[1]}"
        return f"{url}?{self._row_link_query}" if self._row_link_query else url
