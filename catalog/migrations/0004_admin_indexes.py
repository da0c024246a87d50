"""Indexes that keep the admin fast at a million products (see catalog/admin/).

pg_trgm serves the admin's substring title search. Like uuid-ossp in 0001, reversing this
migration leaves the extension installed (it is database-wide; re-creating is harmless).
"""

import django.contrib.postgres.indexes
import django.db.models.functions.text
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("catalog", "0003_change_retries"),
    ]

    operations = [
        migrations.RunSQL(
            sql="CREATE EXTENSION IF NOT EXISTS pg_trgm",
            reverse_sql=migrations.RunSQL.noop,
        ),
        migrations.RemoveIndex(
            model_name="product",
            name="catalog_prod_external_id_idx",
        ),
        migrations.RemoveIndex(
            model_name="product",
            name="catalog_prod_store_id_idx",
        ),
        migrations.RemoveIndex(
            model_name="product",
            name="catalog_prod_created_at_idx",
        ),
        migrations.AddIndex(
            model_name="product",
            index=models.Index(
                django.db.models.functions.text.Upper("external_id"),
                name="catalog_prod_external_id_idx",
            ),
        ),
        migrations.AddIndex(
            model_name="product",
            index=django.contrib.postgres.indexes.GinIndex(
                django.contrib.postgres.indexes.OpClass(
                    django.db.models.functions.text.Upper("title"), name="gin_trgm_ops"
                ),
                name="catalog_prod_title_trgm_idx",
            ),
        ),
        migrations.AddIndex(
            model_name="product",
            index=models.Index(
                fields=["store_id", "created_at", "id"], name="catalog_prod_store_id_idx"
            ),
        ),
        migrations.AddIndex(
            model_name="product",
            index=models.Index(fields=["currency"], name="catalog_prod_currency_idx"),
        ),
        migrations.AddIndex(
            model_name="product",
            index=models.Index(fields=["created_at", "id"], name="catalog_prod_created_at_idx"),
        ),
        migrations.AddIndex(
            model_name="product",
            index=models.Index(fields=["price"], name="catalog_prod_price_idx"),
        ),
    ]
