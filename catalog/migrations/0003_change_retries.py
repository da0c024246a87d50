import django.contrib.postgres.indexes
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("catalog", "0002_productchange"),
    ]

    operations = [
        migrations.AddField(
            model_name="productchange",
            name="attempts",
            field=models.PositiveSmallIntegerField(db_default=0, default=0),
        ),
        migrations.AddField(
            model_name="productchange",
            name="last_error",
            field=models.TextField(blank=True, db_default="", default=""),
        ),
        migrations.AddField(
            model_name="productchange",
            name="not_before",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddIndex(
            model_name="productchange",
            index=django.contrib.postgres.indexes.GinIndex(
                fields=["product_ids"], name="catalog_change_products_gin"
            ),
        ),
    ]
