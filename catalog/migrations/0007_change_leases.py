"""Leases on claimed change-log rows: the vector sync claims rows in a short
transaction and works on them (fetching images, running the model, writing Qdrant) with no
transaction or row lock open. A lease it keeps renewing marks the rows as taken; a worker that
dies lets its lease run out, and another takes the rows over."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("catalog", "0006_bounded_change_log"),
    ]

    operations = [
        migrations.AddField(
            model_name="productchange",
            name="lease",
            field=models.UUIDField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="productchange",
            name="leased_until",
            field=models.DateTimeField(blank=True, null=True),
        ),
    ]
