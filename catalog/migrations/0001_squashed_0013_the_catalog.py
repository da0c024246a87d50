"""The catalog: products, their stores' counts and exchange rates, on top of the uuid-ossp and
pg_trgm extensions.

It replaces the catalog's migrations 0001-0013: a database that applied them is already here,
and Django records it so; a new database gets this one. Those migrations also kept the
vector index's change log, which is now the vectors app's (vectors migration 0006 takes over
an existing log with its rows, or creates it).

Reversing this migration drops the tables and their trigger functions but leaves the
extensions installed: they are database-wide, other schemas and tables may use them, and
`CREATE EXTENSION IF NOT EXISTS` makes re-applying harmless. Drop them by hand if nothing
else needs them.
"""

import uuid

import django.contrib.postgres.indexes
import django.core.validators
import django.db.models.functions.datetime
import django.db.models.functions.text
from django.db import migrations, models

import catalog.fields

# catalog_store: each store's product count, kept exact by statement-level triggers on every
# INSERT, DELETE, UPDATE of store_id and TRUNCATE, in the writer's own transaction.
STORE_COUNT_TRIGGERS = """
CREATE FUNCTION catalog_store_count_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO catalog_store AS s (store_id, product_count)
    SELECT store_id, count(*) FROM new_rows GROUP BY store_id
    ON CONFLICT (store_id) DO UPDATE SET product_count = s.product_count + EXCLUDED.product_count;
    RETURN NULL;
END;
$$;

CREATE FUNCTION catalog_store_count_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE catalog_store s SET product_count = s.product_count - gone.n
    FROM (SELECT store_id, count(*) AS n FROM old_rows GROUP BY store_id) gone
    WHERE s.store_id = gone.store_id;
    DELETE FROM catalog_store WHERE product_count <= 0;
    RETURN NULL;
END;
$$;

CREATE FUNCTION catalog_store_count_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- Only products that moved to another store (or changed id) change the counts.
    INSERT INTO catalog_store AS s (store_id, product_count)
    SELECT store_id, sum(n) FROM (
        SELECT store_id, -count(*) AS n FROM old_rows o
        WHERE NOT EXISTS (SELECT 1 FROM new_rows n WHERE n.id = o.id AND n.store_id = o.store_id)
        GROUP BY store_id
        UNION ALL
        SELECT store_id, count(*) AS n FROM new_rows n
        WHERE NOT EXISTS (SELECT 1 FROM old_rows o WHERE o.id = n.id AND o.store_id = n.store_id)
        GROUP BY store_id
    ) moves
    GROUP BY store_id
    ON CONFLICT (store_id) DO UPDATE SET product_count = s.product_count + EXCLUDED.product_count;
    DELETE FROM catalog_store WHERE product_count <= 0;
    RETURN NULL;
END;
$$;

CREATE FUNCTION catalog_store_count_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM catalog_store;
    RETURN NULL;
END;
$$;

CREATE TRIGGER catalog_store_count_insert AFTER INSERT ON catalog_product
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION catalog_store_count_insert();
CREATE TRIGGER catalog_store_count_delete AFTER DELETE ON catalog_product
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION catalog_store_count_delete();
CREATE TRIGGER catalog_store_count_update AFTER UPDATE ON catalog_product
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION catalog_store_count_update();
CREATE TRIGGER catalog_store_count_truncate AFTER TRUNCATE ON catalog_product
    FOR EACH STATEMENT EXECUTE FUNCTION catalog_store_count_truncate();
"""

DROP_STORE_COUNT_TRIGGERS = """
DROP TRIGGER IF EXISTS catalog_store_count_insert ON catalog_product;
DROP TRIGGER IF EXISTS catalog_store_count_delete ON catalog_product;
DROP TRIGGER IF EXISTS catalog_store_count_update ON catalog_product;
DROP TRIGGER IF EXISTS catalog_store_count_truncate ON catalog_product;
DROP FUNCTION IF EXISTS catalog_store_count_insert();
DROP FUNCTION IF EXISTS catalog_store_count_delete();
DROP FUNCTION IF EXISTS catalog_store_count_update();
DROP FUNCTION IF EXISTS catalog_store_count_truncate();
"""


class Migration(migrations.Migration):
    initial = True

    replaces = [
        ("catalog", "0001_initial"),
        ("catalog", "0002_productchange"),
        ("catalog", "0003_change_retries"),
        ("catalog", "0004_admin_indexes"),
        ("catalog", "0005_store_counts"),
        ("catalog", "0006_bounded_change_log"),
        ("catalog", "0007_change_leases"),
        ("catalog", "0008_external_id_first"),
        ("catalog", "0009_change_log_in_statement_order"),
        ("catalog", "0010_change_lease_holder"),
        ("catalog", "0011_product_no_image_index"),
        ("catalog", "0012_currency_in_the_change_log"),
        ("catalog", "0013_exchange_rates"),
    ]

    dependencies = []

    operations = [
        # Reversed last: the change log that the vectors app gives back to catalog when it is
        # reversed (the earlier layout) goes with the products.
        migrations.RunSQL(
            sql=migrations.RunSQL.noop,
            reverse_sql="DROP TABLE IF EXISTS catalog_productchange",
        ),
        migrations.RunSQL(
            sql='CREATE EXTENSION IF NOT EXISTS "uuid-ossp"',
            reverse_sql=migrations.RunSQL.noop,
        ),
        # The admin's substring title search.
        migrations.RunSQL(
            sql="CREATE EXTENSION IF NOT EXISTS pg_trgm",
            reverse_sql=migrations.RunSQL.noop,
        ),
        migrations.CreateModel(
            name="Store",
            fields=[
                ("store_id", models.CharField(max_length=100, primary_key=True, serialize=False)),
                ("product_count", models.BigIntegerField()),
            ],
            options={
                "ordering": ["store_id"],
            },
        ),
        migrations.CreateModel(
            name="ExchangeRate",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("rate_date", models.DateField(verbose_name="date")),
                (
                    "currency",
                    models.CharField(
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
                    "per_euro",
                    models.DecimalField(decimal_places=8, max_digits=20, verbose_name="per euro"),
                ),
                ("source", models.CharField(help_text="Who published the rate.", max_length=200)),
                (
                    "loaded_at",
                    models.DateTimeField(
                        auto_now=True,
                        db_default=django.db.models.functions.datetime.Now(),
                        verbose_name="loaded",
                    ),
                ),
            ],
            options={
                "ordering": ["-rate_date", "currency"],
                "constraints": [
                    models.UniqueConstraint(
                        fields=("rate_date", "currency"), name="catalog_exchange_rate_day_currency"
                    ),
                    models.CheckConstraint(
                        condition=models.Q(("per_euro__gt", 0)),
                        name="catalog_exchange_rate_positive",
                    ),
                ],
            },
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
                    catalog.fields.HttpUrlField(
                        blank=True,
                        db_default="",
                        default="",
                        help_text="The original product image; empty when the store has none.",
                        max_length=2048,
                        verbose_name="image URL",
                    ),
                ),
                (
                    "product_url",
                    catalog.fields.HttpUrlField(
                        help_text="Affiliate link to the product page.",
                        max_length=2048,
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
                    models.Index(
                        django.db.models.functions.text.Upper("external_id"),
                        name="catalog_prod_external_id_idx",
                    ),
                    django.contrib.postgres.indexes.GinIndex(
                        django.contrib.postgres.indexes.OpClass(
                            django.db.models.functions.text.Upper("title"), name="gin_trgm_ops"
                        ),
                        name="catalog_prod_title_trgm_idx",
                    ),
                    models.Index(
                        fields=["store_id", "created_at", "id"], name="catalog_prod_store_id_idx"
                    ),
                    models.Index(fields=["currency"], name="catalog_prod_currency_idx"),
                    models.Index(fields=["created_at", "id"], name="catalog_prod_created_at_idx"),
                    models.Index(fields=["price"], name="catalog_prod_price_idx"),
                    models.Index(
                        condition=models.Q(("image_url", "")),
                        fields=["id"],
                        name="catalog_prod_no_image_idx",
                    ),
                ],
                "constraints": [
                    models.UniqueConstraint(
                        fields=("external_id", "store_id"),
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
        migrations.RunSQL(sql=STORE_COUNT_TRIGGERS, reverse_sql=DROP_STORE_COUNT_TRIGGERS),
    ]
