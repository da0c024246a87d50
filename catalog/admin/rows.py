"""The changelist's rows, rendered as Django renders them but with the work done per column
instead of per cell.

Django's `items_for_result` looks every column up again for every row (model field lookup,
empty-value display, link rules, `format_html`), and the results template then renders
every cell as its own template variable: at 50 rows and 7 columns that is most of a page's
rendering time. Here each column is resolved once per page into a small plan, each row is
one string, and the markup is Django's own, byte for byte (a test compares the two).

Only the common shapes are planned: model fields that are not relations and ModelAdmin
methods, with no list_editable and no popup. Anything else (a callable in list_display, a
model property, a relation, `__` lookups) falls back to Django's rendering for the page.
It follows Django 5.2's `items_for_result` (and uses two of its private helpers); the
byte-for-byte test is what tells whether a Django upgrade changed the markup.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.contrib.admin.templatetags.admin_list import (
    ResultList,
    _coerce_field_name,
    result_headers,
)
from django.contrib.admin.templatetags.admin_list import result_list as django_result_list
from django.contrib.admin.templatetags.admin_urls import add_preserved_filters
from django.contrib.admin.utils import (
    FieldIsAForeignKeyColumnName,
    _get_non_gfk_field,
    display_for_field,
    display_for_value,
)
from django.core.exceptions import FieldDoesNotExist, ObjectDoesNotExist
from django.db import models
from django.urls import NoReverseMatch
from django.utils.html import conditional_escape
from django.utils.safestring import mark_safe

NOWRAP_FIELDS = (models.DateField, models.TimeField, models.ForeignKey)


@dataclass(frozen=True)
class Column:
    field_name: str
    classes: str  # the cell's class attribute, as Django builds it
    tag: str  # "th" for the first link column, else "td"
    link: bool
    empty_value_display: str
    # The cell's text (escaped later unless already safe) and whether it adds "nowrap".
    render: Callable[[models.Model], tuple[Any, bool]]


def result_list(cl) -> dict:
    """The `result_list` inclusion tag's context, with rows rendered from a column plan when
    every column can be planned, else Django's own."""
    columns = plan_columns(cl)
    if columns is None:
        return django_result_list(cl)
    headers = list(result_headers(cl))
    return {
        "cl": cl,
        "result_hidden_fields": [],
        "result_headers": headers,
        "num_sorted_fields": sum(1 for h in headers if h["sortable"] and h["sorted"]),
        "results": [ResultList(None, [render_row(cl, columns, row)]) for row in cl.result_list],
    }


def plan_columns(cl) -> list[Column] | None:
    if cl.formset is not None or cl.is_popup or cl.list_display_links is None:
        return None
    model_admin = cl.model_admin
    empty_value_display = model_admin.get_empty_value_display()
    columns = []
    first = True
    for index, field_name in enumerate(cl.list_display):
        if not isinstance(field_name, str):
            return None
        # Django's link_in_col: the first column links when no link column is named.
        link = (first and not cl.list_display_links) or field_name in cl.list_display_links
        empty = empty_value_display
        field = _model_field(cl.lookup_opts, field_name)
        if field is not None:  # a model field wins over a ModelAdmin method, as in Django
            render = _field_renderer(field, field_name, empty, link)
        else:
            # Django calls a ModelAdmin attribute of that name (never __str__) with the row.
            method = None if field_name == "__str__" else getattr(model_admin, field_name, None)
            if not callable(method):
                return None
            empty = getattr(method, "empty_value_display", empty_value_display)
            render = _method_renderer(method, empty)
        if render is None:
            return None
        classes = f"field-{_coerce_field_name(field_name, index)}"
        if field_name == "action_checkbox":
            classes = "action-checkbox"
        columns.append(
            Column(
                field_name,
                classes,
                tag="th" if link and first else "td",
                link=link,
                empty_value_display=empty,
                render=render,
            )
        )
        if link:
            first = False
    return columns


def _model_field(opts, field_name: str):
    try:
        return _get_non_gfk_field(opts, field_name)
    except (FieldDoesNotExist, FieldIsAForeignKeyColumnName):
        return None


def _field_renderer(field, field_name: str, empty_value_display, link: bool):
    if field.auto_created or field.remote_field is not None:
        return None
    nowrap = isinstance(field, NOWRAP_FIELDS)

    def render(obj):
        value = getattr(obj, field_name)
        if isinstance(value, str) and value.strip() == "":
            value = ""
        return display_for_field(value, field, empty_value_display, avoid_link=link), nowrap

    return render


def _method_renderer(method, empty_value_display):
    boolean = getattr(method, "boolean", False)

    def render(obj):
        value = method(obj)
        if isinstance(value, str) and value.strip() == "":
            value = ""
        nowrap = isinstance(value, (datetime.date, datetime.time))
        return display_for_value(value, empty_value_display, boolean), nowrap

    return render


def render_row(cl, columns: list[Column], obj) -> str:
    cells = []
    for column in columns:
        try:
            text, nowrap = column.render(obj)
        except ObjectDoesNotExist:
            text, nowrap = column.empty_value_display, False
        text = conditional_escape(text)
        classes = f"{column.classes} nowrap" if nowrap else column.classes
        if column.link:
            try:
                url = cl.url_for_result(obj)
            except NoReverseMatch:
                pass
            else:
                if cl.preserved_filters:
                    url = add_preserved_filters(
                        {"preserved_filters": cl.preserved_filters, "opts": cl.opts}, url
                    )
                text = f'<a href="{conditional_escape(url)}">{text}</a>'
        cells.append(f'<{column.tag} class="{classes}">{text}</{column.tag}>')
    return mark_safe("".join(cells))  # noqa: S308 - every part is escaped above
