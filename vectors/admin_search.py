"""The admin's search page: staff type words or drop a photo, with optional store and price
filters, and see the products as thumbnails, each linking to its page. Thin: the form
validates, vectors/query.py searches (the same code as the API, its model slots included).

The photo is read into memory only, bounded as the API bounds it; the view is exempt from the
CSRF middleware only so that it can choose the upload handler before the form is parsed, and
checks the token itself right after (Django's documented pattern)."""

from __future__ import annotations

from django import forms
from django.core.exceptions import PermissionDenied
from django.db import OperationalError
from django.template.response import TemplateResponse
from django.views.decorators.csrf import csrf_exempt, csrf_protect

from config.errors import first_line
from vectors.api_image import MAX_IMAGE_BYTES, MAX_MULTIPART_BYTES, InMemoryOnly
from vectors.exceptions import ModelBusy, QueryNotSupported, VectorStoreError

RESULTS = 24
_TOO_LARGE = f"The photo must be at most {MAX_IMAGE_BYTES // 2**20} MB."


class SearchForm(forms.Form):
    q = forms.CharField(label="Words", max_length=1000, required=False)
    image = forms.FileField(label="or a photo", required=False)
    store_id = forms.CharField(label="Store", max_length=100, required=False)
    price_min = forms.DecimalField(
        label="Price from", min_value=0, max_digits=10, decimal_places=2, required=False
    )
    price_max = forms.DecimalField(
        label="to", min_value=0, max_digits=10, decimal_places=2, required=False
    )
    currency = forms.RegexField(label="Currency", regex=r"^[A-Z]{3}$", required=False, max_length=3)

    def clean(self):
        data = super().clean()
        words, photo = (data.get("q") or "").strip(), data.get("image")
        if not words and not photo:
            raise forms.ValidationError("Type words or choose a photo.")
        if words and photo:
            raise forms.ValidationError("Words or a photo, one at a time.")
        if photo is not None and photo.size > MAX_IMAGE_BYTES:
            self.add_error("image", f"The photo must be at most {MAX_IMAGE_BYTES // 2**20} MB.")
        low, high = data.get("price_min"), data.get("price_max")
        if (low is not None or high is not None) and not data.get("currency"):
            self.add_error("currency", "A price range needs its currency.")
        if low is not None and high is not None and low > high:
            self.add_error("price_max", "Must not be below the lowest price.")
        return data


@csrf_exempt
def search_view(request, model_admin):
    if not model_admin.has_view_permission(request):
        raise PermissionDenied
    if request.method == "POST":
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > MAX_MULTIPART_BYTES:
            return _page(request, model_admin, SearchForm(), error=_TOO_LARGE, status=413)
        request.upload_handlers = [InMemoryOnly(request)]
    return csrf_protect(_search)(request, model_admin)


def _search(request, model_admin):
    if request.method != "POST":
        return _page(request, model_admin, SearchForm())
    form = SearchForm(request.POST, request.FILES)
    if not form.is_valid():
        return _page(request, model_admin, form)
    results, error = _run(form)
    return _page(request, model_admin, form, results=results, error=error)


def _run(form: SearchForm):
    """The results, or the one line to show instead."""
    from catalog.exchange_rates import rates_for_range
    from vectors.query import search_by_image, search_by_words
    from vectors.search import SearchFilters

    data = form.cleaned_data
    try:
        filters = SearchFilters(
            limit=RESULTS,
            store_id=data["store_id"] or None,
            price_min=data["price_min"],
            price_max=data["price_max"],
            currency=data["currency"] or None,
            rates=rates_for_range(data["price_min"], data["price_max"]),
        )
        if data["image"] is not None:
            found = search_by_image(data["image"].read(), filters)
        else:
            found = search_by_words(data["q"], filters)
    except ValueError as exc:
        form.add_error("image" if data["image"] is not None else "q", str(exc))
        return None, None
    except QueryNotSupported as exc:
        return None, str(exc)
    except ModelBusy:
        return None, "The model is busy with other searches; try again in a moment."
    except (VectorStoreError, OperationalError) as exc:
        return None, f"Search is unavailable: {first_line(exc)}"
    return found, None


def _cards(found) -> list[dict]:
    from django.urls import reverse

    from catalog.admin import image_tag
    from catalog.money import price_text

    return [
        {
            "link": reverse("admin:catalog_product_change", args=[item.id]),
            "image": image_tag(item.image_url, alt=item.title, size=140),
            "title": item.title,
            "store": item.store_id,
            "price": f"{price_text(item.price, item.currency)} {item.currency}",
            "score": f"{item.score:.3f}",
            # The same product in other shops (its group of duplicates), cheapest first.
            "elsewhere": [
                f"{offer.store_id} {price_text(offer.price, offer.currency)} {offer.currency}"
                for offer in item.offers
                if offer.id != item.id
            ],
            # Copies beyond the cheapest shown (OFFERS_SHOWN).
            "more": item.offers_total - len(item.offers),
        }
        for item in found.results
    ]


def _page(request, model_admin, form, *, results=None, error=None, status=200):
    opts = model_admin.model._meta
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": opts,
        "title": "Search products by words or a photo",
        "form": form,
        "cards": _cards(results) if results is not None else None,
        "truncated": bool(results and results.truncated),
        "error": error,
        "has_view_permission": True,
    }
    return TemplateResponse(request, "admin/catalog/product/search.html", context, status=status)
