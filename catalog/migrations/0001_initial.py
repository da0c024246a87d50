"""The product table, on top of the uuid-ossp extension.

Reversing this migration drops the table and its trigger function but leaves the
uuid-ossp extension installed: the extension is database-wide, other schemas and
tables may use uuid_generate_v4() too, and `CREATE EXTENSION IF NOT EXISTS` makes
re-applying harmless. Drop it by hand if nothing else needs it.
"""

import uuid

import django.core.validators
import django.db.models.functions.datetime
from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True

    dependencies = []

    operations = [
        migrations.RunSQL(
            sql='CREATE EXTENSION IF NOT EXISTS "uuid-ossp"',
            reverse_sql=migrations.RunSQL.noop,
        ),
        migrations.CreateModel(
            name="Product",
            fields=[
                (
                    "id",
                    models.UUIDField(
                        db_default=models.Func(
                            function="uuid_generate_v4", output_field=models.UUIDField()
                        ),
                        default=uuid.uuid4,
                        editable=False,
                        primary_key=True,
                        serialize=False,
                    ),
                ),
                (
                    "external_id",
                    models.CharField(
                        help_text="The product's id in its store.",
                        max_length=255,
                        verbose_name="external id",
                    ),
                ),
                (
                    "store_id",
                    models.CharField(
                        help_text="The source store.", max_length=100, verbose_name="store"
                    ),
                ),
                ("title", models.CharField(max_length=500)),
                ("description", models.TextField(blank=True, db_default="", default="")),
                (
                    "price",
                    models.DecimalField(
                        decimal_places=2,
                        max_digits=10,
                        validators=[django.core.validators.MinValueValidator(0)],
                    ),
                ),
                (
                    "currency",
                    models.CharField(
                        db_default="USD",
                        default="USD",
                        max_length=3,
                        validators=[
                            django.core.validators.RegexValidator(
                                code="invalid_currency",
                                message="Enter a three-letter upper-case ISO 4217 currency code, such as USD.",
                                regex="^[A-Z]{3}\\Z",
                            )
                        ],
                    ),
                ),
                (
                    "image_url",
                    models.URLField(
                        blank=True,
                        db_default="",
                        default="",
                        help_text="The original product image; empty when the store has none.",
                        max_length=2048,
                        validators=[
                            django.core.validators.URLValidator(
                                message="Enter a valid http:// or https:// URL.",
                                schemes=["http", "https"],
                            )
                        ],
                        verbose_name="image URL",
                    ),
                ),
                (
                    "product_url",
                    models.URLField(
                        help_text="Affiliate link to the product page.",
                        max_length=2048,
                        validators=[
                            django.core.validators.URLValidator(
                                message="Enter a valid http:// or https:// URL.",
                                schemes=["http", "https"],
                            )
                        ],
                        verbose_name="product URL",
                    ),
                ),
                (
                    "created_at",
                    models.DateTimeField(
                        auto_now_add=True,
                        db_default=django.db.models.functions.datetime.Now(),
                        verbose_name="created",
                    ),
                ),
                (
                    "updated_at",
                    models.DateTimeField(
                        auto_now=True,
                        db_default=django.db.models.functions.datetime.Now(),
                        verbose_name="updated",
                    ),
                ),
            ],
            options={
                "ordering": ["-created_at", "-id"],
                "indexes": [
                    models.Index(fields=["external_id"], name="catalog_prod_external_id_idx"),
                    models.Index(fields=["store_id"], name="catalog_prod_store_id_idx"),
                    models.Index(fields=["created_at"], name="catalog_prod_created_at_idx"),
                ],
                "constraints": [
                    models.UniqueConstraint(
                        fields=("store_id", "external_id"),
                        name="catalog_product_store_external_uniq",
                    ),
                    models.CheckConstraint(
                        condition=models.Q(("price__gte", 0)),
                        name="catalog_product_price_non_negative",
                    ),
                    models.CheckConstraint(
                        condition=models.Q(("currency__regex", "^[A-Z]{3}$")),
                        name="catalog_product_currency_iso",
                    ),
                    models.CheckConstraint(
                        condition=models.Q(("title__regex", "\\S")),
                        name="catalog_product_title_not_blank",
                    ),
                    models.CheckConstraint(
                        condition=models.Q(("external_id__regex", "\\S")),
                        name="catalog_product_external_id_not_blank",
                    ),
                    models.CheckConstraint(
                        condition=models.Q(("store_id__regex", "\\S")),
                        name="catalog_product_store_id_not_blank",
                    ),
                    models.CheckConstraint(
                        condition=models.Q(
                            ("image_url", ""), ("image_url__iregex", "^https?://"), _connector="OR"
                        ),
                        name="catalog_product_image_url_http",
                    ),
                    models.CheckConstraint(
                        condition=models.Q(("product_url__iregex", "^https?://")),
                        name="catalog_product_product_url_http",
                    ),
                ],
            },
        ),
        migrations.RunSQL(
            # Django's auto_now only covers save(); this keeps updated_at true for writes that
            # bypass it (queryset.update(), raw SQL, other services). A writer that sets
            # updated_at itself keeps its value, and a no-op UPDATE changes nothing.
            sql="""
                CREATE FUNCTION catalog_product_touch_updated_at() RETURNS trigger
                LANGUAGE plpgsql AS $$
                BEGIN
                    IF NEW.updated_at IS NOT DISTINCT FROM OLD.updated_at
                       AND NEW IS DISTINCT FROM OLD THEN
                        NEW.updated_at := statement_timestamp();
                    END IF;
                    RETURN NEW;
                END;
                $$;
                CREATE TRIGGER catalog_product_touch_updated_at
                    BEFORE UPDATE ON catalog_product
                    FOR EACH ROW EXECUTE FUNCTION catalog_product_touch_updated_at();
            """,
            reverse_sql="""
                DROP TRIGGER IF EXISTS catalog_product_touch_updated_at ON catalog_product;
                DROP FUNCTION IF EXISTS catalog_product_touch_updated_at();
            """,
        ),
    ]
