"""The catalog's one URL rule on the URL fields (catalog/validators.py); no schema change."""

from django.db import migrations

import catalog.fields


class Migration(migrations.Migration):
    dependencies = [
        ("catalog", "0013_exchange_rates"),
    ]

    operations = [
        migrations.AlterField(
            model_name="product",
            name="image_url",
            field=catalog.fields.HttpUrlField(
                blank=True,
                db_default="",
                default="",
                help_text="The original product image; empty when the store has none.",
                max_length=2048,
                verbose_name="image URL",
            ),
        ),
        migrations.AlterField(
            model_name="product",
            name="product_url",
            field=catalog.fields.HttpUrlField(
                help_text="Affiliate link to the product page.",
                max_length=2048,
                verbose_name="product URL",
            ),
        ),
    ]
