import uuid

from django.contrib.postgres.indexes import GinIndex, OpClass
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q
from django.db.models.functions import Now, Upper

from catalog.fields import HttpUrlField
from catalog.validators import validate_currency_code

HTTP_URL_PATTERN = r"^https?://"


class Product(models.Model):
    """One product of one shop, as the shop publishes it.

    The constraints live in PostgreSQL too, so rows written by bulk ingestion, raw SQL or
    other services obey the same rules as rows saved through Django.
    """

    # Python default for the ORM; database default (uuid-ossp) for rows that other tools
    # insert with raw SQL or COPY.
    id = models.UUIDField(
        primary_key=True,
        default=uuid.uuid4,
        db_default=models.Func(function="uuid_generate_v4", output_field=models.UUIDField()),
        editable=False,
    )
    external_id = models.CharField(
        "external id", max_length=255, help_text="The product's id in its store."
    )
    store_id = models.CharField("store", max_length=100, help_text="The source store.")
    title = models.CharField(max_length=500)
    description = models.TextField(blank=True, default="", db_default="")
    price = models.DecimalField(max_digits=10, decimal_places=2, validators=[MinValueValidator(0)])
    currency = models.CharField(
        max_length=3, default="USD", db_default="USD", validators=[validate_currency_code]
    )
    image_url = HttpUrlField(
        "image URL",
        max_length=2048,
        blank=True,
        default="",
        db_default="",
        help_text="The original product image; empty when the store has none.",
    )
    product_url = HttpUrlField(
        "product URL",
        max_length=2048,
        help_text="Affiliate link to the product page.",
    )
    created_at = models.DateTimeField("created", auto_now_add=True, db_default=Now())
    # Also kept current by a database trigger for writes that bypass save() (see 0001).
    updated_at = models.DateTimeField("updated", auto_now=True, db_default=Now())

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            # Admin search: `=external_id` compiles to UPPER(external_id) = UPPER(%s), and
            # `title` to UPPER(title) LIKE UPPER('%term%'): index exactly those expressions.
            models.Index(Upper("external_id"), name="catalog_prod_external_id_idx"),
            GinIndex(
                OpClass(Upper("title"), name="gin_trgm_ops"), name="catalog_prod_title_trgm_idx"
            ),
            # Filtering by store (or currency) newest first, and their filter choices.
            models.Index(fields=["store_id", "created_at", "id"], name="catalog_prod_store_id_idx"),
            models.Index(fields=["currency"], name="catalog_prod_currency_idx"),
            # The default ordering (-created_at, -id), scanned backwards; deep pages read
            # only this index (see catalog/admin/).
            models.Index(fields=["created_at", "id"], name="catalog_prod_created_at_idx"),
            models.Index(fields=["price"], name="catalog_prod_price_idx"),
            # Products without an image (few): counted by /healthz every few seconds.
            models.Index(
                fields=["id"], condition=Q(image_url=""), name="catalog_prod_no_image_idx"
            ),
        ]
        constraints = [
            # external_id first: the same uniqueness, and the index also answers a lookup
            # by external_id across stores.
            models.UniqueConstraint(
                fields=["external_id", "store_id"], name="catalog_product_store_external_uniq"
            ),
            models.CheckConstraint(
                condition=Q(price__gte=0), name="catalog_product_price_non_negative"
            ),
            models.CheckConstraint(
                condition=Q(currency__regex=r"^[A-Z]{3}$"), name="catalog_product_currency_iso"
            ),
            models.CheckConstraint(
                condition=Q(title__regex=r"\S"), name="catalog_product_title_not_blank"
            ),
            models.CheckConstraint(
                condition=Q(external_id__regex=r"\S"), name="catalog_product_external_id_not_blank"
            ),
            models.CheckConstraint(
                condition=Q(store_id__regex=r"\S"), name="catalog_product_store_id_not_blank"
            ),
            models.CheckConstraint(
                condition=Q(image_url="") | Q(image_url__iregex=HTTP_URL_PATTERN),
                name="catalog_product_image_url_http",
            ),
            models.CheckConstraint(
                condition=Q(product_url__iregex=HTTP_URL_PATTERN),
                name="catalog_product_product_url_http",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.title} ({self.store_id}/{self.external_id})"


class Store(models.Model):
    """Each store and how many products it has, kept by database triggers (catalog's first
    migration) on every insert, delete, store change and truncate of catalog_product.

    The admin reads its store filter's choices and its exact counts from this small table
    instead of counting a million products.
    """

    store_id = models.CharField(max_length=100, primary_key=True)
    product_count = models.BigIntegerField()

    class Meta:
        ordering = ["store_id"]

    def __str__(self) -> str:
        return f"{self.store_id} ({self.product_count} products)"


class ExchangeRate(models.Model):
    """One currency's reference rate against the euro on one day, as a central bank
    published it (`manage.py load_exchange_rates`; the European Central Bank's daily file by
    default). With PRICE_CONVERSION on, price filters compare across currencies at the
    newest day's rates (catalog/exchange_rates.py); older days are kept, never guessed away."""

    rate_date = models.DateField("date")
    currency = models.CharField(max_length=3, validators=[validate_currency_code])
    # Units of `currency` per euro: 1.0705 USD, 171.94 JPY, 17487.21 IDR.
    per_euro = models.DecimalField("per euro", max_digits=20, decimal_places=8)
    source = models.CharField(max_length=200, help_text="Who published the rate.")
    loaded_at = models.DateTimeField("loaded", auto_now=True, db_default=Now())

    class Meta:
        ordering = ["-rate_date", "currency"]
        constraints = [
            models.UniqueConstraint(
                fields=["rate_date", "currency"], name="catalog_exchange_rate_day_currency"
            ),
            models.CheckConstraint(
                condition=Q(per_euro__gt=0), name="catalog_exchange_rate_positive"
            ),
        ]

    def __str__(self) -> str:
        return f"1 EUR = {self.per_euro.normalize():f} {self.currency} on {self.rate_date}"
