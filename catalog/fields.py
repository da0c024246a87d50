"""Model fields with the catalog's own rules."""

from django import forms
from django.db import models

from catalog.validators import validate_http_url


class HttpUrlField(models.URLField):
    """A URL column checked by the catalog's one URL rule (catalog/validators.py).

    Django's URLField adds its URLValidator to the model and to the form, and its form field
    rewrites the value (urlsplit and back). Neither may happen here: a URL a shop published
    and the import accepted must be savable in the admin unchanged.
    """

    default_validators = [validate_http_url]

    def formfield(self, **kwargs):
        return super().formfield(
            **{"form_class": forms.CharField, "widget": forms.URLInput, **kwargs}
        )
