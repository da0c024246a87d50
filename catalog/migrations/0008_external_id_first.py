"""The unique (store, external id) index, led by external_id: the same uniqueness, and the
index now also serves `Product.objects.filter(external_id=...)` across stores (which scanned
the table), without a second index for every import to maintain. The import's lookups
(`store_id = ... AND external_id = ANY(...)`) use it as before. Rebuilt in the migration's
transaction (a short exclusive lock; seconds at a million products)."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("catalog", "0007_change_leases"),
    ]

    operations = [
        migrations.RemoveConstraint(
            model_name="product",
            name="catalog_product_store_external_uniq",
        ),
        migrations.AddConstraint(
            model_name="product",
            constraint=models.UniqueConstraint(
                fields=("external_id", "store_id"), name="catalog_product_store_external_uniq"
            ),
        ),
    ]
